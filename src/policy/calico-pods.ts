/**
 * Calico policy on pods, folded into the shared compiled form. The policies selecting a pod are
 * taken in Calico's order, with the pod's Kubernetes NetworkPolicies as one block at order 1000
 * (where Calico puts them); Allow and Pass admit (Pass leaves the tier for the namespace's
 * profile, which allows), Deny refuses, Log goes on, and what nothing matched is refused. The
 * result is an allow list, so both dataplanes enforce it with the machinery they have for
 * Kubernetes policy. Pure.
 */
import type { CalicoPolicyState, CalicoRule } from '../k8s/calico-model.ts';
import { calicoPolicyLabel } from '../k8s/calico-model.ts';
import { cidrContains, formatCidr4, parseCidr4, parseIpv4 } from '../k8s/ip.ts';
import type { PodState } from '../k8s/model.ts';
import { ALL_PORTS, admittedBoxes, type Box, type BoxProtocol, boxesOf, type OrderedBoxes } from './boxes.ts';
import { type CalicoEndpoints, entityCidrs, entityPorts, inCalicoOrder, selectsPod } from './calico.ts';
import { subtractCidrs } from './cidr.ts';
import type { AllowRule, Direction, DirectionPolicy, PortMatch } from './types.ts';

/** Where Calico orders Kubernetes NetworkPolicies. */
export const KUBERNETES_POLICY_ORDER = 1000;

const EVERY_PROTOCOL: readonly BoxProtocol[] = ['TCP', 'UDP', 'OTHER'];

function protocolsOf(rule: CalicoRule): BoxProtocol[] {
  const named = (n: number): BoxProtocol => (n === 6 ? 'TCP' : n === 17 ? 'UDP' : 'OTHER');
  let out = rule.protocol === undefined ? [...EVERY_PROTOCOL] : [named(rule.protocol)];
  // notProtocol of a protocol other than TCP or UDP still leaves the rest of OTHER: keep it.
  if (rule.notProtocol === 6 || rule.notProtocol === 17)
    out = out.filter((p) => p !== named(rule.notProtocol!));
  return out;
}

function inCidrs(ip: string, cidrs: readonly string[]): boolean {
  const addr = parseIpv4(ip);
  return (
    addr !== undefined &&
    cidrs.some((c) => {
      const cidr = parseCidr4(c);
      return cidr !== undefined && cidrContains(cidr, addr);
    })
  );
}

/** The boxes one Calico rule matches for traffic of `pod` in `direction`. */
function ruleBoxes(
  policy: CalicoPolicyState,
  rule: CalicoRule,
  pod: PodState,
  direction: Direction,
  eps: CalicoEndpoints,
): Box[] {
  const local = direction === 'ingress' ? rule.destination : rule.source;
  const peer = direction === 'ingress' ? rule.source : rule.destination;
  const localCidrs = entityCidrs(policy, local, eps);
  if (localCidrs && !inCidrs(pod.ip, localCidrs)) return [];
  const peers = entityCidrs(policy, peer, eps) ?? ['0.0.0.0/0'];
  return boxesOf(peers, protocolsOf(rule), entityPorts(rule.destination) ?? [ALL_PORTS]);
}

/** A Kubernetes allow rule as boxes. */
function allowRuleBoxes(rule: AllowRule): Box[] {
  const peers = rule.peers
    ? [
        ...rule.peers.cidrs.flatMap((c) => subtractCidrs(c.cidr, c.except)),
        ...rule.peers.podIps.map((ip) => `${ip}/32`),
      ]
    : ['0.0.0.0/0'];
  if (!rule.ports) return boxesOf(peers, EVERY_PROTOCOL, [ALL_PORTS]);
  return rule.ports.flatMap((p) =>
    boxesOf(
      peers,
      [p.protocol],
      [p.port === undefined ? ALL_PORTS : { lo: p.port, hi: p.endPort ?? p.port }],
    ),
  );
}

function mergeRanges(ranges: { lo: number; hi: number }[]): { lo: number; hi: number }[] {
  const out: { lo: number; hi: number }[] = [];
  for (const r of [...ranges].sort((a, b) => a.lo - b.lo)) {
    const last = out.at(-1);
    if (last && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ ...r });
  }
  return out;
}

const isAll = (ranges: { lo: number; hi: number }[]) =>
  ranges.length === 1 && ranges[0]!.lo === 0 && ranges[0]!.hi === 65535;

/**
 * Admitted boxes as allow rules, one per peer CIDR. Protocols other than TCP and UDP can only
 * be admitted together with every TCP and UDP port (an allow rule has no way to say "ICMP only").
 */
export function boxesToRules(boxes: readonly Box[]): AllowRule[] {
  const byPeer = new Map<string, Box[]>();
  for (const b of boxes) {
    const key = formatCidr4(b.peer);
    byPeer.set(key, [...(byPeer.get(key) ?? []), b]);
  }
  const rules: AllowRule[] = [];
  for (const [cidr, group] of byPeer) {
    const tcp = mergeRanges(group.filter((b) => b.protocol === 'TCP'));
    const udp = mergeRanges(group.filter((b) => b.protocol === 'UDP'));
    const other = group.some((b) => b.protocol === 'OTHER');
    const origin = [...new Set(group.map((b) => b.origin ?? 'calico policy'))].join(', ');
    const peers = { cidrs: [{ cidr, except: [] }], podIps: [] };
    if (other && isAll(tcp) && isAll(udp)) {
      rules.push({ origin, peers });
      continue;
    }
    const ports: PortMatch[] = [];
    for (const [protocol, ranges] of [
      ['TCP', tcp],
      ['UDP', udp],
    ] as const) {
      if (isAll(ranges)) ports.push({ protocol });
      else
        for (const r of ranges)
          ports.push(r.lo === r.hi ? { protocol, port: r.lo } : { protocol, port: r.lo, endPort: r.hi });
    }
    if (ports.length > 0) rules.push({ origin, peers, ports });
  }
  return rules;
}

/**
 * One direction of a pod under Calico policy. `kubernetes` is what the pod's Kubernetes
 * NetworkPolicies alone compile to; it is returned unchanged when no Calico policy selects the
 * pod in this direction.
 */
export function calicoDirection(
  pod: PodState,
  direction: Direction,
  kubernetes: DirectionPolicy,
  policies: readonly CalicoPolicyState[],
  eps: CalicoEndpoints,
): DirectionPolicy {
  const type = direction === 'ingress' ? 'Ingress' : 'Egress';
  const selecting = inCalicoOrder(
    policies.filter((p) => !p.preDNAT && p.types.includes(type) && selectsPod(p, pod, eps.namespaces)),
  );
  if (selecting.length === 0) return kubernetes;
  const ordered: OrderedBoxes[] = [];
  const kubernetesBlock = (): OrderedBoxes[] =>
    kubernetes.isolated
      ? kubernetes.rules.map((r) => ({
          admits: true,
          boxes: allowRuleBoxes(r).map((b) => ({ ...b, origin: r.origin })),
        }))
      : [];
  let kubernetesDone = false;
  for (const policy of selecting) {
    if (!kubernetesDone && (policy.order ?? Number.POSITIVE_INFINITY) > KUBERNETES_POLICY_ORDER) {
      ordered.push(...kubernetesBlock());
      kubernetesDone = true;
    }
    const rules = direction === 'ingress' ? policy.ingress : policy.egress;
    for (const [i, rule] of rules.entries()) {
      if (rule.action === 'Log') continue;
      const origin = `${calicoPolicyLabel(policy)} ${direction}[${i}] ${rule.action}`;
      ordered.push({
        admits: rule.action !== 'Deny',
        boxes: ruleBoxes(policy, rule, pod, direction, eps).map((b) => ({ ...b, origin })),
      });
    }
  }
  if (!kubernetesDone) ordered.push(...kubernetesBlock());
  return {
    isolated: true,
    policies: [...kubernetes.policies, ...selecting.map(calicoPolicyLabel)],
    rules: boxesToRules(admittedBoxes(ordered)),
  };
}
