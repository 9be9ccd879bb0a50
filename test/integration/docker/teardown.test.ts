/**
 * A docker run interrupted or killed leaves nothing once torn down or reaped: containers,
 * network, private engine (with its namespace, cgroups and data root), node directories, state.
 */
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type TestContext } from 'vitest';
import { containersFile } from '../../../src/cluster/docker/containers.ts';
import { type DockerAvailability, dockerAvailability } from '../../../src/cluster/docker/engine.ts';
import { newRunId, reapRuns } from '../../../src/cluster/providers.ts';
import { start } from '../../../src/sys/exec.ts';
import { dockerLeftoversOf } from './leftovers.ts';

const NODE = process.execPath;
const PROVIDERS = new URL('../../../src/cluster/providers.ts', import.meta.url).pathname;
const CLI = new URL('../../../src/cli.ts', import.meta.url).pathname;

let available: DockerAvailability = { available: false, reason: 'not checked' };
let dir = '';
const runs: string[] = [];

beforeAll(async () => {
  available = await dockerAvailability();
  dir = await mkdtemp(join(tmpdir(), 'dpc-docker-teardown-'));
});

afterAll(async () => {
  // Whatever a failed test left of its own runs.
  for (const id of runs) await reapRuns(id);
  await rm(dir, { recursive: true, force: true });
});

function need(ctx: TestContext): void {
  if (!available.available) ctx.skip(`docker provider unavailable on this host: ${available.reason}`);
}

async function until(what: string, check: () => boolean, ms = 240_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('docker provider teardown', () => {
  it('Ctrl-C during `dpconform run --provider docker` leaves nothing behind', async (ctx) => {
    need(ctx);
    const log = join(dir, 'run.log');
    const p = start(
      [NODE, CLI, 'run', '--provider', 'docker', '--nodes', '2', '--suite', 'source-ip', '--report-dir', dir],
      { logFile: log },
    );
    await until('the run id', () =>
      /run ([0-9a-f]{6})/.test(existsSync(log) ? readFileSync(log, 'utf8') : ''),
    );
    const runId = /run ([0-9a-f]{6})/.exec(readFileSync(log, 'utf8'))![1]!;
    runs.push(runId);
    // Interrupted in the middle of its bring-up, once its containers are there.
    let ended = false;
    void p.exited.then(() => {
      ended = true;
    });
    await until('the run’s containers', () => {
      if (ended) throw new Error(`the run ended before it was interrupted:\n${readFileSync(log, 'utf8')}`);
      return existsSync(containersFile(runId));
    });
    expect((await dockerLeftoversOf(runId)).length).toBeGreaterThan(0);
    const exit = await p.stop('SIGINT', 120_000);
    expect(exit.exitCode, readFileSync(log, 'utf8')).toBe(130);
    expect(await dockerLeftoversOf(runId)).toEqual([]);
  });

  it('the reaper removes what a killed docker run left: containers, network, engine and all', async (ctx) => {
    need(ctx);
    const runId = newRunId();
    runs.push(runId);
    const script = `
      import { startCluster } from ${JSON.stringify(PROVIDERS)};
      await startCluster('docker', { runId: ${JSON.stringify(runId)}, nodes: 1, clients: 1, dataplane: 'iptables' });
      console.log('UP');
      setInterval(() => {}, 1000);
    `;
    const p = start([NODE, '--input-type=module', '-e', script]);
    await until('the cluster', () => p.output().includes('UP'));
    // No teardown of its own: the process is gone at once, as after kill -9.
    await p.stop('SIGKILL', 5000);
    const left = await dockerLeftoversOf(runId);
    expect(left.filter((l) => l.startsWith('container ')).length).toBe(2);
    expect(left.filter((l) => l.startsWith('process ')).length).toBeGreaterThan(0);
    const report = await reapRuns(runId);
    expect(report.runs).toContain(runId);
    expect(report.removed).toEqual(
      expect.arrayContaining([
        '2 containers',
        '1 docker network',
        '1 private Docker engine',
        '1 bpffs directory',
        '1 cgroup',
      ]),
    );
    expect(await dockerLeftoversOf(runId)).toEqual([]);
  });
});
