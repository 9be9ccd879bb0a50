/**
 * Network-namespace primitives for the netns provider, batched so that a bring-up costs a few
 * processes per node rather than one per setting.
 */
import { readdir } from 'node:fs/promises';
import { run } from '../../sys/exec.ts';
import { stopProcesses } from '../../sys/process.ts';

/**
 * Prefixes an argv so that it runs in a named network namespace. nsenter switches only the
 * network namespace; `ip netns exec` would also remount /sys, which hides bpffs pins.
 */
export function enterNetns(netns: string, argv: readonly string[]): string[] {
  return ['nsenter', `--net=/run/netns/${netns}`, '--', ...argv];
}

/** Runs many `ip` commands in one process, inside `netns` (or the root namespace when undefined). */
export async function ipBatch(netns: string | undefined, lines: readonly string[]): Promise<void> {
  if (lines.length === 0) return;
  const argv = netns ? ['ip', '-n', netns, '-batch', '-'] : ['ip', '-batch', '-'];
  await run(argv, { input: `${lines.join('\n')}\n` });
}

/** Creates named network namespaces (one process for all of them). */
export async function createNetns(names: readonly string[]): Promise<void> {
  // `netns add` only touches /run/netns, not the root namespace's interfaces or addresses.
  await ipBatch(
    undefined,
    names.map((n) => `netns add ${n}`),
  );
}

/** Lists named network namespaces. */
export async function listNetns(): Promise<string[]> {
  try {
    return (await readdir('/run/netns')).sort();
  } catch {
    return [];
  }
}

/** Pids of every process whose network namespace is `name`. */
export async function netnsPids(name: string): Promise<number[]> {
  const r = await run(['ip', 'netns', 'pids', name], { reject: false, timeoutMs: 10_000 });
  return r.stdout
    .split(/\s+/)
    .filter((s) => /^\d+$/.test(s))
    .map(Number);
}

/** Kills every process living in the namespaces, then deletes the namespaces (and so their links). */
export async function deleteNetns(names: readonly string[]): Promise<void> {
  const existing = new Set(await listNetns());
  const present = names.filter((n) => existing.has(n));
  if (present.length === 0) return;
  const pids = (await Promise.all(present.map(netnsPids))).flat();
  await stopProcesses(pids);
  // -force keeps going past a namespace that vanished meanwhile.
  await run(['ip', '-force', '-batch', '-'], {
    input: `${present.map((n) => `netns del ${n}`).join('\n')}\n`,
    reject: false,
  });
}

/** Sets sysctls inside a namespace in one process (`/proc/sys/net` follows the caller's netns). */
export async function sysctl(
  netns: string,
  settings: Readonly<Record<string, string | number>>,
): Promise<void> {
  const pairs = Object.entries(settings).map(([k, v]) => `${k}=${v}`);
  if (pairs.length === 0) return;
  await run(enterNetns(netns, ['sysctl', '-q', '-w', ...pairs]));
}
