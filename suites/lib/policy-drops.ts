/**
 * "dropped by policy" as each dataplane counts it, read the same way before and after traffic:
 * the eBPF dataplane's counters map per (interface, hook) and its Prometheus metric, and the
 * iptables dataplane's per-pod drop rules.
 */
import { type Cluster, METRIC, type PodInfo, REASON_POLICY } from '../../src/cluster/types.ts';
import type { Direction } from '../../src/policy/types.ts';

/** Policy drops per place (`node iface hook` or `node pod direction`), summed. */
export type DropCounts = Map<string, number>;

/**
 * The tc hook of a pod's host veth that sees a policy direction of the pod: traffic to the pod
 * leaves the node through the veth (tc egress), traffic from it enters the node there (tc ingress).
 */
export function hookFor(direction: Direction): 'ingress' | 'egress' {
  return direction === 'ingress' ? 'egress' : 'ingress';
}

/** The key a pod's drops are filed under in {@link readDrops}, in either mode. */
export function dropKey(c: Cluster, pod: PodInfo, direction: Direction): string {
  return c.bpf()
    ? `${pod.nodeName} ${pod.hostIface} ${hookFor(direction)}`
    : `${pod.nodeName} ${pod.namespace}/${pod.name} ${direction}`;
}

/** Every node's policy drops: eBPF by interface and hook, iptables by pod and direction. */
export async function readDrops(c: Cluster): Promise<DropCounts> {
  const out: DropCounts = new Map();
  const add = (key: string, n: number): void => {
    out.set(key, (out.get(key) ?? 0) + n);
  };
  const bpf = c.bpf();
  await Promise.all(
    c.topology().nodes.map(async (node) => {
      if (bpf) {
        for (const r of await bpf.counters(node.name)) {
          if (r.reason === REASON_POLICY) add(`${node.name} ${r.iface} ${r.hook}`, Number(r.packets));
        }
        return;
      }
      for (const r of await c.iptablesPolicyDrops(node.name))
        add(`${node.name} ${r.pod} ${r.direction}`, r.packets);
    }),
  );
  return out;
}

/** Per-key increase from `before` to `after` (keys that did not move are left out). */
export function dropDeltas(before: DropCounts, after: DropCounts): DropCounts {
  const out: DropCounts = new Map();
  for (const [k, v] of after) {
    const d = v - (before.get(k) ?? 0);
    if (d !== 0) out.set(k, d);
  }
  return out;
}

/** `node iface hook +7`, one per line; `none` when nothing moved. */
export function describeDeltas(d: DropCounts): string {
  if (d.size === 0) return 'none';
  return [...d].map(([k, v]) => `${k} ${v > 0 ? '+' : ''}${v}`).join('\n');
}

/** `calico_bpf_dataplane_policy_drops` of one node's interface and hook, as its endpoint serves it. */
export async function scrapePolicyDrops(
  c: Cluster,
  nodeName: string,
  iface: string,
  hook: 'ingress' | 'egress',
): Promise<number> {
  const scrape = await c.metrics(nodeName);
  const name = METRIC.policyDrops.name;
  return scrape.samples
    .filter(
      (s) =>
        (s.name === name || s.name === `${name}_total`) && s.labels.iface === iface && s.labels.hook === hook,
    )
    .reduce((sum, s) => sum + s.value, 0);
}
