/**
 * Who owns a run, read back from its owner record and this machine's process table: a live
 * owner keeps its cluster from other commands, a dead one (killed, a reused pid, a reboot) leaves
 * it abandoned, a kept cluster belongs to nobody.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The state directory is read when the module loads: point it at a scratch one first.
const root = mkdtempSync(join(tmpdir(), 'dpc-owner-'));
process.env.DPCONFORM_STATE_DIR = root;
const state = await import('../../../src/cluster/state.ts');
const { requireFreeToChange } = await import('../../../src/cli/attach.ts');
const { parseCommand, EXIT } = await import('../../../src/cli/command.ts');
const { apply } = await import('../../../src/cli/commands/cluster.ts');

afterAll(() => rmSync(root, { recursive: true, force: true }));

const me = await state.ownerHere('dpconform run');

beforeAll(async () => {
  await state.writeOwner('aaaaa1', me);
  // The same pid, started at another time: the pid was reused.
  await state.writeOwner('aaaaa2', { ...me, startTicks: me.startTicks + 1 });
  // Recorded in another boot.
  await state.writeOwner('aaaaa3', { ...me, bootId: 'not-this-boot' });
  await state.writeOwner('aaaaa4', { ...me, command: 'dpconform up', pid: 2 ** 22 + 7, kept: true });
  await state.writeOwner('aaaaa5', { ...me, kept: true });
  await state.writeOwner('aaaaa6', { ...me, pid: 2 ** 22 + 7 });
  // A run made without an owner record.
  const { mkdir } = await import('node:fs/promises');
  await mkdir(state.stateDir('aaaaa7'), { recursive: true });
});

describe('run owners', () => {
  it('this process, recorded now, is alive; a reused pid, another boot or no process is gone', async () => {
    expect(me.pid).toBe(process.pid);
    expect(me.startTicks).toBeGreaterThan(0);
    expect(me.bootId).toMatch(/^[0-9a-f-]{36}$/);
    const states = Object.fromEntries((await state.runStatuses()).map((s) => [s.runId, s.state]));
    expect(states).toEqual({
      aaaaa1: 'alive',
      aaaaa2: 'gone',
      aaaaa3: 'gone',
      aaaaa4: 'kept',
      aaaaa5: 'alive',
      aaaaa6: 'gone',
      aaaaa7: 'unknown',
    });
  });

  it('describes each run with its owner', async () => {
    const text = (await state.runStatuses()).map(state.describeRun);
    expect(text).toContain(`aaaaa1 (dpconform run, pid ${process.pid}, running)`);
    expect(text).toContain('aaaaa4 (kept, made by dpconform up)');
    expect(text).toContain(`aaaaa6 (dpconform run, pid ${2 ** 22 + 7}, gone)`);
    expect(text).toContain('aaaaa7 (owner unknown)');
  });

  it('without --run and several clusters up, says which exist', async () => {
    await expect(state.resolveRun(undefined)).rejects.toThrow(
      /7 clusters are up: aaaaa1 \(dpconform run, pid \d+, running\), .*aaaaa7 \(owner unknown\); choose one with --run ID/,
    );
  });
});

describe('a cluster at work under its owner refuses changes', () => {
  const args = (...argv: string[]) => parseCommand(apply, ['-f', 'x.yaml', ...argv]);

  it('refuses a change while the owner runs, naming it and the way round', async () => {
    const err = await requireFreeToChange('aaaaa1', args(), 'apply').catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: EXIT.failed });
    expect((err as Error).message).toBe(
      `run aaaaa1 belongs to dpconform run (pid ${process.pid}), which is still running: apply is refused so as not to disturb it; wait for it to end, or use --run aaaaa1 --force`,
    );
    // --force alone is not enough: the run must be named.
    await expect(requireFreeToChange('aaaaa1', args('--force'), 'apply')).rejects.toThrow(/refused/);
    await expect(requireFreeToChange('aaaaa1', args('--run', 'aaaaa1', '--force'), 'apply')).resolves.toBe(
      undefined,
    );
  });

  it('lets changes through on kept, abandoned and unrecorded runs', async () => {
    for (const id of ['aaaaa2', 'aaaaa4', 'aaaaa5', 'aaaaa6', 'aaaaa7'])
      await expect(requireFreeToChange(id, args(), 'apply')).resolves.toBe(undefined);
  });
});

describe('processes of a run', () => {
  it('finds Node programs naming the run directory on their command line, and nothing else', async () => {
    const { start } = await import('../../../src/sys/exec.ts');
    const marker = join(state.stateDir('aaaaa1'), 'agents', 'x.sock');
    const ours = start([process.execPath, '-e', 'setInterval(() => {}, 1000)', marker]);
    const other = start(['sleep', '30', marker]);
    try {
      const deadline = Date.now() + 5000;
      let found: number[] = [];
      while (Date.now() < deadline && !found.includes(ours.pid)) {
        found = await state.runProcesses('aaaaa1');
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(found).toEqual([ours.pid]);
      expect(await state.runProcesses('aaaaa2')).toEqual([]);
    } finally {
      await ours.stop('SIGKILL');
      await other.stop('SIGKILL');
    }
  });
});
