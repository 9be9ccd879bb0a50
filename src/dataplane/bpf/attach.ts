/**
 * Attaching the tc programs (clsact, direct action, pinned objects) inside a node's namespace,
 * and the connect-time load balancer to the node's cgroup.
 */
import { mkdir, rmdir, stat } from 'node:fs/promises';
import { run, runJson } from '../../sys/exec.ts';
import { PROG } from './layout.ts';
import { type NodePins, progPin } from './maps.ts';

/** Which pinned program goes on which hook of one interface. */
export interface TcAttachment {
  iface: string;
  ingress?: string;
  egress?: string;
}

/** The `tc -batch` lines for a set of attachments (idempotent: replace, fixed pref and handle). */
export function tcAttachLines(list: readonly TcAttachment[]): string[] {
  const lines: string[] = [];
  for (const a of list) {
    if (/\s/.test(a.iface)) throw new Error(`interface name with whitespace: ${a.iface}`);
    lines.push(`qdisc replace dev ${a.iface} clsact`);
    for (const hook of ['ingress', 'egress'] as const) {
      const pin = a[hook];
      if (pin)
        lines.push(`filter replace dev ${a.iface} ${hook} pref 1 handle 1 bpf da object-pinned ${pin}`);
    }
  }
  return lines;
}

/**
 * Attaches programs to interfaces of a namespace in one tc process. If the batch fails (a veth
 * can vanish between listing and attaching), each interface is retried alone; the ones that
 * still fail are returned, so that the caller does not count them as attached.
 */
export async function attachTc(netns: string, list: readonly TcAttachment[]): Promise<string[]> {
  if (list.length === 0) return [];
  const batch = await run(['tc', '-batch', '-'], {
    netns,
    input: `${tcAttachLines(list).join('\n')}\n`,
    reject: false,
  });
  if (batch.exitCode === 0) return [];
  const failed: string[] = [];
  for (const a of list) {
    const one = await run(['tc', '-batch', '-'], {
      netns,
      input: `${tcAttachLines([a]).join('\n')}\n`,
      reject: false,
    });
    if (one.exitCode !== 0) failed.push(a.iface);
  }
  return failed;
}

/** Removes the clsact qdisc (and with it our filters) from interfaces that still exist. */
export async function detachTc(netns: string, ifaces: readonly string[]): Promise<void> {
  for (const iface of ifaces) {
    await run(['tc', 'qdisc', 'del', 'dev', iface, 'clsact'], { netns, reject: false });
  }
}

/** The names of the BPF programs attached to one hook of an interface. */
export async function tcPrograms(
  netns: string,
  iface: string,
  hook: 'ingress' | 'egress',
): Promise<string[]> {
  const rows = await runJson<{ options?: { prog?: { name?: string } } }[]>(
    ['tc', '-j', 'filter', 'show', 'dev', iface, hook],
    { netns, reject: false },
  );
  return rows.flatMap((r) => (r.options?.prog?.name ? [r.options.prog.name] : []));
}

/** Data interfaces: names matching the pattern, never our own or the workloads' devices. */
export function isDataIface(name: string, pattern: RegExp): boolean {
  if (name === 'lo' || name === 'vx' || name.startsWith('cali')) return false;
  return pattern.test(name);
}

/** Workload veths (host side): every `cali*` interface. */
export function isWorkloadIface(name: string): boolean {
  return name.startsWith('cali');
}

/** The cgroup hooks of connect-time load balancing, with their programs. */
export const CTLB_HOOKS: readonly [string, string][] = [
  ['connect4', PROG.connect4],
  ['sendmsg4', PROG.sendmsg4],
  ['recvmsg4', PROG.recvmsg4],
  ['getpeername4', PROG.getpeername4],
];

/** Creates the cgroup directory if missing; true when this call created it. */
export async function ensureCgroup(path: string): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch {
    await mkdir(path, { recursive: true });
    return true;
  }
}

/** Removes a cgroup directory we created (fails harmlessly while processes are still in it). */
export async function removeCgroup(path: string): Promise<void> {
  await rmdir(path).catch(() => undefined);
}

/** Attaches the connect-time load balancer to a cgroup. */
export async function attachCtlb(cgroup: string, pins: NodePins): Promise<void> {
  for (const [hook, prog] of CTLB_HOOKS) {
    await run(['bpftool', 'cgroup', 'attach', cgroup, hook, 'pinned', progPin(pins, prog)]);
  }
}

/** Detaches the connect-time load balancer from a cgroup (what is not attached is skipped). */
export async function detachCtlb(cgroup: string, pins: NodePins): Promise<void> {
  for (const [hook, prog] of CTLB_HOOKS) {
    await run(['bpftool', 'cgroup', 'detach', cgroup, hook, 'pinned', progPin(pins, prog)], {
      reject: false,
    });
  }
}

/** Names of the programs attached to a cgroup (for checks that nothing is left). */
export async function cgroupPrograms(cgroup: string): Promise<string[]> {
  const rows = await runJson<{ name?: string }[]>(['bpftool', '-j', 'cgroup', 'show', cgroup], {
    reject: false,
  });
  return rows.flatMap((r) => (r.name ? [r.name] : []));
}
