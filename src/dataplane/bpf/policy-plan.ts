/**
 * Pure control plane for NetworkPolicy in the eBPF dataplane: from the compiled policy (the same
 * form the iptables chains are written from) to the `dpc_pol_ep` and `dpc_pol_rules` entries of
 * one node.
 *
 * The rules map is an LPM trie, so a lookup finds only the longest matching peer prefix. For the
 * answer to be the union of every rule, each prefix's value carries the port ranges of every rule
 * prefix that covers it; ipBlock `except` holes are carved out beforehand, so a hole address
 * matches only rules that really admit it.
 */
import { type Cidr4, cidrCovers, formatCidr4, parseCidr4 } from '../../k8s/ip.ts';
import { subtractCidrs } from '../../policy/cidr.ts';
import type { AllowRule, Direction, PodPolicy } from '../../policy/types.ts';
import {
  encodePolicyEndpoint,
  encodePolicyRuleKey,
  encodePolicyRuleValue,
  encodeU32,
  type PolicyPortRange,
} from './encoding.ts';
import { FIXED_MAP_SIZE, MAP, POLICY_PORTS } from './layout.ts';
import { keyId, type PlannedEntry } from './plan.ts';

/** What one node's policy maps should hold. */
export interface PolicyPlan {
  /** `dpc_pol_ep`, keyed by the hex of the encoded key. */
  endpoints: Map<string, PlannedEntry>;
  /** `dpc_pol_rules`, keyed by the hex of the encoded key. */
  rules: Map<string, PlannedEntry>;
  /** One line per thing that could not be programmed as compiled. */
  errors: string[];
}

/** Capacities of the policy maps. */
export interface PolicyLimits {
  endpoints: number;
  rules: number;
  portsPerPrefix: number;
}

/** The fixed sizes the object is built with. */
export const POLICY_LIMITS: PolicyLimits = {
  endpoints: FIXED_MAP_SIZE.policyEndpoints,
  rules: FIXED_MAP_SIZE.policyRules,
  portsPerPrefix: POLICY_PORTS,
};

const EVERYTHING: PolicyPortRange = { protocol: 'any', lo: 0, hi: 65535 };

/** The peer prefixes one rule admits: every address, or its ipBlocks minus holes plus its pods. */
export function peerCidrsOf(rule: AllowRule): string[] {
  if (!rule.peers) return ['0.0.0.0/0'];
  return [
    ...rule.peers.cidrs.flatMap((c) => subtractCidrs(c.cidr, c.except)),
    ...rule.peers.podIps.map((ip) => `${ip}/32`),
  ];
}

/** The port ranges one rule admits. */
export function portRangesOf(rule: AllowRule): PolicyPortRange[] {
  if (!rule.ports) return [EVERYTHING];
  return rule.ports.map((p) =>
    p.port === undefined
      ? { protocol: p.protocol, lo: 0, hi: 65535 }
      : { protocol: p.protocol, lo: p.port, hi: p.endPort ?? p.port },
  );
}

/** The smallest equivalent list: `any` swallows everything, overlapping or adjacent ranges join. */
export function mergeRanges(ranges: readonly PolicyPortRange[]): PolicyPortRange[] {
  if (ranges.some((r) => r.protocol === 'any')) return [EVERYTHING];
  const out: PolicyPortRange[] = [];
  const sorted = [...ranges].sort(
    (a, b) => a.protocol.localeCompare(b.protocol) || a.lo - b.lo || a.hi - b.hi,
  );
  for (const r of sorted) {
    const last = out.at(-1);
    if (last && last.protocol === r.protocol && r.lo <= last.hi + 1) last.hi = Math.max(last.hi, r.hi);
    else out.push({ ...r });
  }
  return out;
}

/**
 * Every peer prefix of a direction's rules with the union of the port ranges that apply to an
 * address whose longest matching prefix it is (its own and those of every covering prefix).
 */
export function foldRules(rules: readonly AllowRule[]): Map<string, PolicyPortRange[]> {
  const pieces: { cidr: Cidr4; ranges: PolicyPortRange[] }[] = [];
  for (const rule of rules) {
    const ranges = portRangesOf(rule);
    for (const text of peerCidrsOf(rule)) {
      const c = parseCidr4(text);
      if (c) pieces.push({ cidr: { network: c.network, prefix: c.prefix }, ranges });
    }
  }
  const out = new Map<string, PolicyPortRange[]>();
  for (const { cidr } of pieces) {
    const name = formatCidr4(cidr);
    if (out.has(name)) continue;
    const covering = pieces.filter((p) => cidrCovers(p.cidr, cidr)).flatMap((p) => p.ranges);
    out.set(name, mergeRanges(covering));
  }
  return out;
}

function owner(pod: PodPolicy): string {
  return `${pod.namespace}/${pod.name}`;
}

/**
 * Plans the policy maps of node `nodeName` for its pods whose host veth is in `ifindexes`.
 * Limits are met by refusing, never by admitting more: a prefix with more port ranges than fit
 * keeps the first ones, a pod-direction whose rules do not fit keeps its isolation with no rules
 * (deny all), and only a pod beyond the endpoints map's size is left unisolated. Each is reported.
 */
export function planPolicy(
  compiled: readonly PodPolicy[],
  nodeName: string,
  ifindexes: ReadonlyMap<string, number>,
  limits: PolicyLimits = POLICY_LIMITS,
): PolicyPlan {
  const plan: PolicyPlan = { endpoints: new Map(), rules: new Map(), errors: [] };
  for (const pod of compiled) {
    if (pod.nodeName !== nodeName || (!pod.ingress.isolated && !pod.egress.isolated)) continue;
    const ifindex = ifindexes.get(pod.hostIface);
    if (ifindex === undefined) continue; // The veth is not there yet: the next sync programs it.
    if (plan.endpoints.size >= limits.endpoints) {
      plan.errors.push(
        `policy: ${MAP.policyEndpoints} on node ${nodeName} holds ${limits.endpoints} endpoints; pod ${owner(pod)} is not isolated`,
      );
      continue;
    }
    const key = encodeU32(ifindex);
    plan.endpoints.set(keyId(key), {
      key,
      value: encodePolicyEndpoint({ ingress: pod.ingress.isolated, egress: pod.egress.isolated }),
      owner: owner(pod),
    });
    for (const direction of ['ingress', 'egress'] as const satisfies readonly Direction[]) {
      if (!pod[direction].isolated) continue;
      addDirection(plan, pod, direction, ifindex, nodeName, limits);
    }
  }
  return plan;
}

function addDirection(
  plan: PolicyPlan,
  pod: PodPolicy,
  direction: Direction,
  ifindex: number,
  nodeName: string,
  limits: PolicyLimits,
): void {
  const entries: PlannedEntry[] = [];
  for (const [cidr, ranges] of foldRules(pod[direction].rules)) {
    let kept = ranges;
    if (ranges.length > limits.portsPerPrefix) {
      kept = ranges.slice(0, limits.portsPerPrefix);
      plan.errors.push(
        `policy: pod ${owner(pod)} ${direction} from/to ${cidr} needs ${ranges.length} port ranges, ${limits.portsPerPrefix} fit; the rest are denied`,
      );
    }
    entries.push({
      key: encodePolicyRuleKey({ ifindex, direction, cidr }),
      value: encodePolicyRuleValue(kept),
      owner: owner(pod),
    });
  }
  if (plan.rules.size + entries.length > limits.rules) {
    plan.errors.push(
      `policy: ${MAP.policyRules} on node ${nodeName} is full; pod ${owner(pod)} denies all ${direction} traffic`,
    );
    return;
  }
  for (const e of entries) plan.rules.set(keyId(e.key), e);
}
