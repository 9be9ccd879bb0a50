/**
 * A pass is what its label says: before the suites run, the dataplane mode and the service mode
 * are read from the nodes themselves (the programs attached to their data interfaces, the
 * kube-proxy chains, each node's loaded configuration record), never from the run's own
 * bookkeeping, and a pass whose nodes disagree with its label is not run.
 */
import { type Cluster, PROG } from '../cluster/types.ts';
import { CFG_FLAG } from '../dataplane/bpf/layout.ts';
import { nodePins, readConfig } from '../dataplane/bpf/maps.ts';
import type { ObservedMode, PassMode } from '../report/model.ts';

/** What one node holds, as read from it. */
export interface NodeMode {
  node: string;
  /** Our ingress and egress programs are on a data interface. */
  bpfAttached: boolean;
  /** kube-proxy's service chain is in the nat table. */
  kubeServices: boolean;
  /** The DSR flag of the node's configuration record; undefined when there is no record. */
  dsr: boolean | undefined;
}

/** The mode of the cluster from what each node holds. Pure. */
export function modeOf(nodes: readonly NodeMode[]): ObservedMode {
  const detail = nodes.map(
    (n) =>
      `${n.node}: ${n.bpfAttached ? `${PROG.hostIngress}/${PROG.hostEgress} attached` : 'no tc programs of ours'}, ${n.kubeServices ? 'KUBE-SERVICES present' : 'no KUBE-SERVICES'}, config record ${n.dsr === undefined ? 'absent' : n.dsr ? 'DSR' : 'Tunnel'}`,
  );
  const bpf = nodes.filter((n) => n.bpfAttached).length;
  const iptables = nodes.filter((n) => !n.bpfAttached && n.kubeServices).length;
  const dataplane =
    nodes.length > 0 && bpf === nodes.length
      ? 'bpf'
      : nodes.length > 0 && iptables === nodes.length
        ? 'iptables'
        : bpf === 0 && iptables === 0
          ? 'none'
          : 'mixed';
  if (dataplane !== 'bpf') return { dataplane, detail };
  const flags = new Set(nodes.map((n) => n.dsr));
  const serviceMode = flags.has(undefined)
    ? 'unknown'
    : flags.size > 1
      ? 'mixed'
      : flags.has(true)
        ? 'DSR'
        : 'Tunnel';
  return { dataplane, serviceMode, detail };
}

/** Why the nodes are not in the pass's mode, one line each; none when they are. Pure. */
export function modeProblems(label: PassMode, seen: ObservedMode): string[] {
  const out: string[] = [];
  if (seen.dataplane !== label.dataplane) {
    out.push(
      `the pass is labelled ${label.dataplane} but the nodes run ${seen.dataplane === 'bpf' ? 'the eBPF dataplane' : seen.dataplane === 'iptables' ? 'the iptables dataplane' : seen.dataplane === 'none' ? 'neither dataplane' : 'a mix of dataplanes'}: ${seen.detail.join('; ')}`,
    );
  } else if (label.dataplane === 'bpf' && seen.serviceMode !== label.serviceMode) {
    out.push(
      `the pass is labelled ${label.serviceMode} but the nodes' configuration says ${seen.serviceMode}: ${seen.detail.join('; ')}`,
    );
  }
  return out;
}

/** Reads each node's programs, chains and configuration record. */
export async function observeMode(c: Cluster): Promise<ObservedMode> {
  const footprint = await c.footprint();
  const nodes = await Promise.all(
    c.topology().nodes.map(async (info): Promise<NodeMode> => {
      const fp = footprint.nodes[info.name];
      const filters = fp?.tcFilters ?? [];
      const bpfAttached =
        filters.some((f) => f.endsWith(`/ingress ${PROG.hostIngress}`)) &&
        filters.some((f) => f.endsWith(`/egress ${PROG.hostEgress}`));
      const place = c.node(info.name);
      const record = bpfAttached
        ? await readConfig(place, nodePins(place.bpffsDir)).catch(() => undefined)
        : undefined;
      return {
        node: info.name,
        bpfAttached,
        kubeServices: (fp?.chains ?? []).includes('nat KUBE-SERVICES'),
        dsr: record === undefined ? undefined : (record.flags & CFG_FLAG.dsr) !== 0,
      };
    }),
  );
  return modeOf(nodes);
}
