/**
 * Processes the harness started and must see gone: one idea of "alive", one way to stop a pid,
 * one pid-file reader. Every module that signals a pid goes through here.
 */
import { readFile } from 'node:fs/promises';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** True while the pid names a process (EPERM: it exists, it just isn't ours to signal). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Sends a signal; false when the process was already gone. */
export function signalProcess(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Waits up to `withinMs` for the pid to be gone; true when it is. */
export async function waitGone(pid: number, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (processAlive(pid)) {
    if (performance.now() > deadline) return false;
    await sleep(10);
  }
  return true;
}

/**
 * Stops processes: SIGTERM, a grace period, then SIGKILL for the survivors, waiting until they
 * are really gone (a pid file or a port is only free once its owner has exited).
 */
export async function stopProcesses(pids: readonly number[], graceMs = 1500): Promise<void> {
  const live = pids.filter((p) => Number.isInteger(p) && p > 0 && processAlive(p));
  for (const pid of live) signalProcess(pid, 'SIGTERM');
  const deadline = performance.now() + graceMs;
  while (live.some(processAlive) && performance.now() < deadline) await sleep(20);
  const stubborn = live.filter(processAlive);
  for (const pid of stubborn) signalProcess(pid, 'SIGKILL');
  await Promise.all(stubborn.map((pid) => waitGone(pid, 2000)));
}

/** The pid a pid file holds, or undefined when there is none (or it is not a pid). */
export async function readPidFile(path: string): Promise<number | undefined> {
  const text = await readFile(path, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/** The argv a live process was started with (empty when it is gone). */
export async function processArgv(pid: number): Promise<string[]> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').filter((w) => w !== '');
}
