/**
 * Host endpoint "dropped by policy" as each dataplane counts it: the eBPF dataplane per data
 * interface and hook (its counters map and `calico_bpf_dataplane_policy_drops`), the iptables
 * dataplane per host endpoint and stage (the packet counters of its drop rules).
 */
import { type Cluster, METRIC, REASON_POLICY } from '../../src/cluster/types.ts';

/** Where one node's host endpoint drops are counted, in either mode. */
export interface HostDropPlace {
  node: string;
  /** eBPF: the interface and tc hook. */
  iface: string;
  hook: 'ingress' | 'egress';
  /** iptables: the endpoint and the stage that drops. */
  endpoint: string;
  stage: string;
}

/** The key a place's drops are read under. */
export function hostDropKey(c: Cluster, at: HostDropPlace): string {
  return c.bpf() ? `${at.node} ${at.iface} ${at.hook}` : `${at.node} ${at.endpoint} ${at.stage}`;
}

/** Every node's host endpoint (and, in eBPF mode, every interface's) policy drops. */
export async function readHostDrops(c: Cluster): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  const add = (k: string, n: number) => out.set(k, (out.get(k) ?? 0) + n);
  const bpf = c.bpf();
  await Promise.all(
    c.topology().nodes.map(async (node) => {
      if (bpf) {
        for (const r of await bpf.counters(node.name))
          if (r.reason === REASON_POLICY) add(`${node.name} ${r.iface} ${r.hook}`, Number(r.packets));
        return;
      }
      for (const r of await c.iptablesHostPolicyDrops(node.name))
        add(`${node.name} ${r.endpoint} ${r.stage}`, r.packets);
    }),
  );
  return out;
}

/** `calico_bpf_dataplane_policy_drops` of one node's interface and hook (0 in iptables mode, which serves none). */
export async function scrapeHostDrops(c: Cluster, at: HostDropPlace): Promise<number> {
  if (!c.bpf()) return 0;
  const scrape = await c.metrics(at.node);
  const name = METRIC.policyDrops.name;
  return scrape.samples
    .filter(
      (s) =>
        (s.name === name || s.name === `${name}_total`) &&
        s.labels.iface === at.iface &&
        s.labels.hook === at.hook,
    )
    .reduce((sum, s) => sum + s.value, 0);
}

/** Increase per key from `before` to `after` (keys that did not move are left out). */
export function moved(before: Map<string, number>, after: Map<string, number>): Map<string, number> {
  const out = new Map<string, number>();
  for (const [k, v] of after) if (v !== (before.get(k) ?? 0)) out.set(k, v - (before.get(k) ?? 0));
  return out;
}

/** `node iface hook +7`, one per line; `none` when nothing moved. */
export function describeMoves(d: Map<string, number>): string {
  return d.size === 0 ? 'none' : [...d].map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join('\n');
}
