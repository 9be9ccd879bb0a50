/**
 * The netns provider's names and addresses: kind's address plan (nodes on 172.18.0.0/16, pods
 * from 10.244.<node>.0/24, services from 10.96.0.0/12) and one name prefix per run.
 */
import { findCgroup2Mount } from '../../sys/mounts.ts';

/** Every namespace, pin and cgroup of any run starts with this. */
export const NAME_PREFIX = 'dpc';

/** The fabric ("kind network") prefix length. */
export const FABRIC_PREFIX_LEN = 16;

/** The gateway address pods use as their default route (Calico style, answered by proxy ARP). */
export const POD_GATEWAY = '169.254.1.1';

/** Most nodes one run may have (the node's last octet must fit on 172.18.0.x). */
export const MAX_NODES = 200;

/** Most external clients one run may have. */
export const MAX_CLIENTS = 50;

/** The prefix of every namespace of one run: `dpc-<runId>-`. */
export function runPrefix(runId: string): string {
  return `${NAME_PREFIX}-${runId}-`;
}

/** Node names follow kind's: `dpc-control-plane`, `dpc-worker`, `dpc-worker2`, ... */
export function nodeName(index: number): string {
  if (index === 0) return `${NAME_PREFIX}-control-plane`;
  return index === 1 ? `${NAME_PREFIX}-worker` : `${NAME_PREFIX}-worker${index}`;
}

/** Client names: `client`, `client2`, ... */
export function clientName(index: number): string {
  return index === 0 ? 'client' : `client${index + 1}`;
}

/** A node's InternalIP: 172.18.0.2, .3, ... as kind hands them out. */
export function nodeIp(index: number): string {
  if (index < 0 || index >= MAX_NODES) throw new RangeError(`node index ${index} out of range`);
  return `172.18.0.${2 + index}`;
}

/** A node's pod CIDR. */
export function nodePodCidr(index: number): string {
  return `10.244.${index}.0/24`;
}

/** An external client's address on the fabric: 172.18.1.1, .2, ... (outside the nodes' range). */
export function clientIp(index: number): string {
  if (index < 0 || index >= MAX_CLIENTS) throw new RangeError(`client index ${index} out of range`);
  return `172.18.1.${1 + index}`;
}

/** The fabric namespace's name. */
export function fabricNetns(runId: string): string {
  return `${runPrefix(runId)}fabric`;
}

/** A node's namespace: the run prefix plus the node name without the cluster prefix. */
export function nodeNetns(runId: string, name: string): string {
  return `${runPrefix(runId)}${name.replace(/^dpc-/, '')}`;
}

/** A client's namespace. */
export function clientNetns(runId: string, name: string): string {
  return `${runPrefix(runId)}${name}`;
}

/** A pod's namespace, keyed by its host-side veth name (unique per pod, and short). */
export function podNetns(runId: string, hostIface: string): string {
  return `${runPrefix(runId)}p-${hostIface}`;
}

/** The fabric-side veth of node `index`. */
export function fabricNodePort(index: number): string {
  return `n${index}`;
}

/** The fabric-side veth of client `index`. */
export function fabricClientPort(index: number): string {
  return `c${index}`;
}

/** The bridge in the fabric namespace. */
export const FABRIC_BRIDGE = 'br0';

/** Where this provider pins every run's programs and maps (one directory per run). */
export const BPFFS_ROOT = '/sys/fs/bpf';

/**
 * The cgroup v2 hierarchy the nodes' cgroups are made in: wherever this machine mounts it (never
 * a path assumed, which on a host with only cgroup v2 would create a stray cgroup instead).
 */
export function cgroupRoot(): string {
  const root = findCgroup2Mount();
  if (root === undefined) {
    throw new Error(
      'no cgroup v2 hierarchy is mounted (none in /proc/self/mountinfo): mount one, e.g. `mount -t cgroup2 none /sys/fs/cgroup`',
    );
  }
  return root;
}

/** The run's bpffs directory (one child per node). */
export function runBpffsDir(runId: string): string {
  return `${BPFFS_ROOT}/${NAME_PREFIX}-${runId}`;
}

/** The run's cgroup v2 directory (one child per node). */
export function runCgroupDir(runId: string): string {
  return `${cgroupRoot()}/${NAME_PREFIX}-${runId}`;
}

/** Extracts the run id from one of our namespace names, or undefined. */
export function runIdOfNetns(name: string): string | undefined {
  const m = /^dpc-([0-9a-f]{6})-/.exec(name);
  return m?.[1];
}
