import { mkdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { createNetns, listNetns } from '../../../src/cluster/netns/ip.ts';
import { reapRuns, startCluster } from '../../../src/cluster/providers.ts';
import { newRunId } from '../../../src/cluster/run-id.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import { start } from '../../../src/sys/exec.ts';
import { leftoversOf } from './leftovers.ts';

const NODE = process.execPath;

describe('teardown', () => {
  it('`await using` removes everything the run made', async () => {
    let runId = '';
    {
      await using c = await startCluster('netns', { nodes: 2, dataplane: 'iptables' });
      runId = c.runId;
      await c.apply(new URL('../../../fixtures/workloads/echo.yaml', import.meta.url).pathname);
      expect((await leftoversOf(runId)).length).toBeGreaterThan(5);
    }
    expect(await leftoversOf(runId)).toEqual([]);
  });

  it('a bring-up that fails halfway leaves nothing of the run behind', async () => {
    const runId = newRunId();
    // A namespace the run will want already exists: the bring-up fails at its first step.
    await createNetns([`dpc-${runId}-worker`]);
    await expect(startCluster('netns', { runId, nodes: 2, dataplane: 'iptables' })).rejects.toThrow(
      /create network namespaces/,
    );
    expect(await leftoversOf(runId)).toEqual([]);
  });

  it('Ctrl-C during a run tears the cluster down', async () => {
    const script = `
      import { startCluster } from ${JSON.stringify(new URL('../../../src/cluster/providers.ts', import.meta.url).pathname)};
      const c = await startCluster('netns', { nodes: 2, dataplane: 'iptables' });
      console.log('UP ' + c.runId);
      setInterval(() => {}, 1000);
    `;
    const p = start([NODE, '--input-type=module', '-e', script]);
    const deadline = Date.now() + 30_000;
    while (!/UP [0-9a-f]{6}/.test(p.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 50));
    const runId = /UP ([0-9a-f]{6})/.exec(p.output())?.[1];
    expect(runId, p.output()).toBeDefined();
    expect((await leftoversOf(runId!)).length).toBeGreaterThan(0);
    const exit = await p.stop('SIGINT', 20_000);
    expect(exit.exitCode).toBe(130);
    expect(await leftoversOf(runId!)).toEqual([]);
  });

  it('down --all (the reaper) removes what a killed run left behind', async () => {
    const runId = newRunId();
    await createNetns([`dpc-${runId}-fabric`, `dpc-${runId}-worker`]);
    mkdirSync(`/sys/fs/bpf/dpc-${runId}/node`, { recursive: true });
    mkdirSync(`/sys/fs/cgroup/unified/dpc-${runId}/dpc-worker`, { recursive: true });
    mkdirSync(`${stateDir(runId)}/agents`, { recursive: true });
    const report = await reapRuns(runId);
    expect(report.runs).toEqual([runId]);
    expect(report.removed).toEqual([
      '2 network namespaces',
      '1 bpffs directory',
      '1 cgroup',
      '1 state directory',
    ]);
    expect(await leftoversOf(runId)).toEqual([]);
    expect((await listNetns()).some((n) => n.includes(runId))).toBe(false);
  });
});
