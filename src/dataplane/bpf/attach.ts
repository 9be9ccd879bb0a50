/**
 * Attaching the tc programs (clsact, direct action, pinned objects) to a node's interfaces, and
 * the connect-time load balancer to the node's cgroup. Every command runs inside the node, where
 * its interfaces are and where its pins are visible.
 */
import type { NodePlace, Place } from '../../node/place.ts';
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
 * Attaches programs to interfaces of a place in one tc process. If the batch fails (a veth can
 * vanish between listing and attaching), each interface is retried alone; the ones that still
 * fail are returned, so that the caller does not count them as attached.
 */
export async function attachTc(place: Place, list: readonly TcAttachment[]): Promise<string[]> {
  if (list.length === 0) return [];
  const batch = await place.exec(['tc', '-batch', '-'], {
    input: `${tcAttachLines(list).join('\n')}\n`,
    reject: false,
  });
  if (batch.exitCode === 0) return [];
  const failed: string[] = [];
  for (const a of list) {
    const one = await place.exec(['tc', '-batch', '-'], {
      input: `${tcAttachLines([a]).join('\n')}\n`,
      reject: false,
    });
    if (one.exitCode !== 0) failed.push(a.iface);
  }
  return failed;
}

/** Removes the clsact qdisc (and with it our filters) from interfaces that still exist. */
export async function detachTc(place: Place, ifaces: readonly string[]): Promise<void> {
  for (const iface of ifaces) {
    await place.exec(['tc', 'qdisc', 'del', 'dev', iface, 'clsact'], { reject: false });
  }
}

/** The names of the BPF programs attached to one hook of an interface of a place. */
export async function tcPrograms(place: Place, iface: string, hook: 'ingress' | 'egress'): Promise<string[]> {
  const rows = await place.execJson<{ options?: { prog?: { name?: string } } }[]>(
    ['tc', '-j', 'filter', 'show', 'dev', iface, hook],
    { reject: false },
  );
  // A missing interface prints an error and no JSON: nothing attached there.
  return (Array.isArray(rows) ? rows : []).flatMap((r) =>
    r.options?.prog?.name ? [r.options.prog.name] : [],
  );
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

/**
 * Attaches the connect-time load balancer to the node's cgroup. The provider made the cgroup;
 * the dataplane only attaches to it.
 */
export async function attachCtlb(node: NodePlace, pins: NodePins): Promise<void> {
  for (const [hook, prog] of CTLB_HOOKS) {
    await node.exec(['bpftool', 'cgroup', 'attach', node.cgroupDir, hook, 'pinned', progPin(pins, prog)]);
  }
}

/** Detaches the connect-time load balancer from the node's cgroup (what is not attached is skipped). */
export async function detachCtlb(node: NodePlace, pins: NodePins): Promise<void> {
  for (const [hook, prog] of CTLB_HOOKS) {
    await node.exec(['bpftool', 'cgroup', 'detach', node.cgroupDir, hook, 'pinned', progPin(pins, prog)], {
      reject: false,
    });
  }
}

/** Names of the programs attached to a cgroup, as seen from a place (for checks that nothing is left). */
export async function cgroupPrograms(place: Place, cgroup: string): Promise<string[]> {
  const rows = await place.execJson<{ name?: string }[]>(['bpftool', '-j', 'cgroup', 'show', cgroup], {
    reject: false,
  });
  return (Array.isArray(rows) ? rows : []).flatMap((r) => (r.name ? [r.name] : []));
}
