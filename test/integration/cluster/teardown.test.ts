import { mkdirSync, readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCgroupDir } from '../../../src/cluster/netns/address-plan.ts';
import { createNetns, listNetns } from '../../../src/cluster/netns/ip.ts';
import { reapRuns, startCluster } from '../../../src/cluster/providers.ts';
import { newRunId } from '../../../src/cluster/run-id.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import { start } from '../../../src/sys/exec.ts';
import { leftoversOf } from './leftovers.ts';

const NODE = process.execPath;

/** Command lines of the processes that name the run's state directory (its agents). */
async function agentsOf(runId: string): Promise<string[]> {
  const found: string[] = [];
  for (const e of readdirSync('/proc').filter((x) => /^\d+$/.test(x))) {
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (cmd.includes(`${stateDir(runId)}/agents/`)) found.push(cmd.replaceAll('\0', ' '));
  }
  return found;
}

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

  it('Ctrl-C while this process changes the cluster waits for the change, then removes everything', async () => {
    // A change that makes many pods outlasts a teardown: one that did not wait for it would pull
    // the places from under it (the change fails) or have pods, agents and state made behind it.
    const pods = [
      'apiVersion: apps/v1',
      'kind: Deployment',
      'metadata: {name: many}',
      'spec:',
      '  replicas: 48',
      '  selector: {matchLabels: {app: many}}',
      '  template:',
      '    metadata: {labels: {app: many}}',
      '    spec: {containers: [{name: echo, image: agnhost}]}',
      '',
    ].join('\n');
    const script = `
      import { startCluster } from ${JSON.stringify(new URL('../../../src/cluster/providers.ts', import.meta.url).pathname)};
      const c = await startCluster('netns', { nodes: 2, dataplane: 'iptables' });
      console.log('UP ' + c.runId);
      c.apply(${JSON.stringify(pods)}).then(
        () => console.log('APPLIED'),
        (e) => console.log('APPLY FAILED ' + e.message),
      );
      setInterval(() => {}, 1000);
    `;
    const p = start([NODE, '--input-type=module', '-e', script]);
    const deadline = Date.now() + 60_000;
    while (!/UP [0-9a-f]{6}/.test(p.output()) && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 20));
    const runId = /UP ([0-9a-f]{6})/.exec(p.output())?.[1];
    expect(runId, p.output()).toBeDefined();
    // Interrupt as the change begins: nearly all of it is still to come.
    const exit = await p.stop('SIGINT', 60_000);
    expect(exit.exitCode, exit.stderr).toBe(130);
    expect(exit.stderr).toContain(`tearing down run ${runId}`);
    expect(p.output()).toMatch(/^UP [0-9a-f]{6}\nAPPLIED\n$/);
    expect(await leftoversOf(runId!)).toEqual([]);
    expect(await agentsOf(runId!)).toEqual([]);
  });

  it('down --all (the reaper) removes what a killed run left behind', async () => {
    const runId = newRunId();
    await createNetns([`dpc-${runId}-fabric`, `dpc-${runId}-worker`]);
    mkdirSync(`/sys/fs/bpf/dpc-${runId}/node`, { recursive: true });
    mkdirSync(`${runCgroupDir(runId)}/dpc-worker`, { recursive: true });
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
