/**
 * `dpconform` as a user runs it, for the CLI's integration tests: a real process in a process
 * group of its own (as a terminal starts it), its output, and what a run left on the machine.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stateDir } from '../../../src/cluster/state.ts';
import { run, type Started, start } from '../../../src/sys/exec.ts';
import { leftoversOf } from '../cluster/leftovers.ts';

const CLI = new URL('../../../src/cli.ts', import.meta.url).pathname;

/** A `dpconform` process started in a process group of its own, writing to a log file. */
export interface CliProcess {
  proc: Started;
  log(): Promise<string>;
  /** Waits until the output matches, or throws with the output so far. */
  waitFor(pattern: RegExp, withinMs?: number): Promise<RegExpExecArray>;
}

/** Starts `dpconform ARGS...` detached, as a terminal would (so a group signal reaches it alone). */
export function startCli(args: readonly string[], logFile: string): CliProcess {
  const proc = start([process.execPath, CLI, ...args], { detached: true, logFile });
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  return {
    proc,
    log,
    async waitFor(pattern, withinMs = 60_000) {
      const deadline = Date.now() + withinMs;
      let exited = false;
      void proc.exited.then(() => {
        exited = true;
      });
      for (;;) {
        const m = pattern.exec(await log());
        if (m) return m;
        if (exited || Date.now() > deadline)
          throw new Error(`dpconform ${args.join(' ')}: no ${pattern} in:\n${await log()}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
  };
}

/** Runs `dpconform ARGS...` to the end. */
export async function cli(
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const r = await run([process.execPath, CLI, ...args], { reject: false, timeoutMs: 5 * 60_000 });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Runs `dpconform ARGS...` as another user (uid and gid), to the end. */
export async function cliAs(
  uid: number,
  args: readonly string[],
): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const argv = [
    'setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    process.execPath,
    CLI,
    ...args,
  ];
  const r = await run(argv, { reject: false, timeoutMs: 60_000 });
  return { exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr };
}

/** Pids of processes whose command line names the run (its state directory or its namespaces). */
export async function processesOf(runId: string): Promise<number[]> {
  const labels = [`${stateDir(runId)}/`, `dpc-${runId}`];
  const pids: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (labels.some((l) => cmd.includes(l))) pids.push(Number(e));
  }
  return pids;
}

/** Everything of a run on the machine: namespaces, pins, cgroups, state, processes, its report directory. */
export async function everythingOf(runId: string, reportsRoot?: string): Promise<string[]> {
  const out = await leftoversOf(runId);
  for (const pid of await processesOf(runId)) out.push(`process ${pid}`);
  if (reportsRoot && existsSync(join(reportsRoot, runId))) out.push(join(reportsRoot, runId));
  return out;
}

/** Waits until the run's processes are gone (a killed run's suites' runner follows it), up to a bound. */
export async function settled(runId: string, withinMs = 5000): Promise<void> {
  const deadline = Date.now() + withinMs;
  while ((await processesOf(runId)).length > 0 && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 100));
}
