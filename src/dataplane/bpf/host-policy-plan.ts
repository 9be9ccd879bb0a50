/**
 * Pure control plane for host endpoint policy in the eBPF dataplane: from the compiled policy
 * (the form the iptables chains are written from too) to the entries of `cali_v4_hep` (one per
 * data interface and stage), `cali_v4_hep_rul` (the ordered rules) and `cali_v4_hep_net` (the
 * CIDR sets rules point at). Mirrors bpf/lib/host-policy.h.
 *
 * A stage's rules are keyed by a version derived from their content and the stage entry names
 * the version in force, so a change writes the new rules beside the old ones and switches in one
 * write (a list whose 16-bit version equals the one in force is written in place); sets are
 * keyed by their content, so a set in use never changes under a rule.
 */
import { createHash } from 'node:crypto';
import type { PortRange } from '../../k8s/calico-model.ts';
import { formatCidr4, parseCidr4 } from '../../k8s/ip.ts';
import {
  endpointFor,
  HOST_STAGES,
  type HostEndpointPolicy,
  type HostRule,
  type HostStage,
} from '../../policy/host.ts';
import type { BatchOp } from './bpftool.ts';
import type { MapDiff } from './diff.ts';
import { FIXED_MAP_SIZE, MAP } from './layout.ts';
import { keyId, type PlannedEntry } from './plan.ts';

/** Map names (bpf/lib/host-policy.h). */
export const HEP_MAP = { endpoints: MAP.hostEndpoints, rules: MAP.hostRules, nets: MAP.hostNets } as const;

/** Capacities and per-entry limits, as the header defines them. */
export const HEP_LIMITS = {
  endpoints: FIXED_MAP_SIZE.hostEndpoints,
  rules: FIXED_MAP_SIZE.hostRules,
  nets: FIXED_MAP_SIZE.hostNets,
  rulesPerStage: 64,
  portsPerRule: 8,
} as const;

/** Stage codes. */
export const HEP_STAGE: Record<HostStage, number> = {
  preDnat: 0,
  ingress: 1,
  egress: 2,
  forwardIngress: 3,
  forwardEgress: 4,
};

/** Rule actions and stage defaults. */
export const HEP_ACTION = { allow: 1, deny: 2 } as const;
const NOT_PROTO = 0x1;

/** Byte sizes, as `_Static_assert`ed in the header. */
export const HEP_SIZE = { key: 8, val: 8, ruleKey: 12, rule: 16 + 4 * 8, netKey: 12, netVal: 4 } as const;

/** What one node's host endpoint maps should hold. */
export interface HostPolicyMapPlan {
  endpoints: Map<string, PlannedEntry>;
  rules: Map<string, PlannedEntry>;
  nets: Map<string, PlannedEntry>;
  /** `eth0 -> dpc-worker-auto-hep`: which endpoint owns each data interface. */
  bound: Map<string, string>;
  errors: string[];
}

/** `cali_v4_hep` key. */
export function encodeHepKey(ifindex: number, stage: HostStage): Uint8Array {
  const b = new Uint8Array(HEP_SIZE.key);
  const d = new DataView(b.buffer);
  d.setUint32(0, ifindex, true);
  d.setUint32(4, HEP_STAGE[stage], true);
  return b;
}

/** `cali_v4_hep` value. */
export function encodeHepValue(count: number, version: number, otherwise: 'allow' | 'deny'): Uint8Array {
  const b = new Uint8Array(HEP_SIZE.val);
  const d = new DataView(b.buffer);
  d.setUint32(0, count, true);
  d.setUint16(4, version, true);
  d.setUint8(6, HEP_ACTION[otherwise]);
  return b;
}

/** `cali_v4_hep_rul` key. */
export function encodeHepRuleKey(
  ifindex: number,
  stage: HostStage,
  version: number,
  index: number,
): Uint8Array {
  const b = new Uint8Array(HEP_SIZE.ruleKey);
  const d = new DataView(b.buffer);
  d.setUint32(0, ifindex, true);
  d.setUint16(4, HEP_STAGE[stage], true);
  d.setUint16(6, version, true);
  d.setUint32(8, index, true);
  return b;
}

/** One rule as the map holds it: sets already resolved to ids, ports at most eight. */
export interface EncodedRule {
  action: 'allow' | 'deny';
  proto: number;
  notProto: boolean;
  srcSet: number;
  dstSet: number;
  ports: PortRange[];
}

/** `cali_v4_hep_rul` value. */
export function encodeHepRule(r: EncodedRule): Uint8Array {
  if (r.ports.length > HEP_LIMITS.portsPerRule)
    throw new Error(`a rule holds ${HEP_LIMITS.portsPerRule} port ranges`);
  const b = new Uint8Array(HEP_SIZE.rule);
  const d = new DataView(b.buffer);
  d.setUint8(0, HEP_ACTION[r.action]);
  d.setUint8(1, r.proto);
  d.setUint8(2, r.notProto ? NOT_PROTO : 0);
  d.setUint8(3, r.ports.length);
  d.setUint32(4, r.srcSet, true);
  d.setUint32(8, r.dstSet, true);
  for (const [i, p] of r.ports.entries()) {
    d.setUint16(16 + 4 * i, p.lo, true);
    d.setUint16(18 + 4 * i, p.hi, true);
  }
  return b;
}

/** `cali_v4_hep_net` key: prefixlen 32 + the CIDR's, the set id, the network address. */
export function encodeHepNetKey(set: number, cidr: string): Uint8Array {
  const c = parseCidr4(cidr);
  if (!c) throw new Error(`not an IPv4 CIDR: ${cidr}`);
  const b = new Uint8Array(HEP_SIZE.netKey);
  const d = new DataView(b.buffer);
  d.setUint32(0, 32 + c.prefix, true);
  d.setUint32(4, set, true);
  d.setUint32(8, c.network, false);
  return b;
}

function u32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n, true);
  return b;
}

/** A set's id: a hash of its CIDRs (never 0, which means "any address"). */
export function setId(cidrs: readonly string[]): number {
  const digest = createHash('sha256')
    .update([...cidrs].sort().join(','))
    .digest();
  return digest.readUInt32LE(0) || 1;
}

function normalise(cidrs: readonly string[]): string[] {
  return [...new Set(cidrs.map((c) => formatCidr4(parseCidr4(c)!)))].sort();
}

/** A compiled rule as map rules: protocols folded, port lists split by eight. */
export function encodeRules(rule: HostRule, sets: (cidrs: readonly string[]) => number): EncodedRule[] {
  if (rule.protocol !== undefined && rule.notProtocol === rule.protocol) return [];
  const proto = rule.protocol ?? rule.notProtocol ?? 0;
  const base = {
    action: rule.action,
    proto,
    notProto: rule.protocol === undefined && rule.notProtocol !== undefined,
    srcSet: rule.src ? sets(rule.src) : 0,
    dstSet: rule.dst ? sets(rule.dst) : 0,
  };
  const ports = rule.ports ?? [];
  if (ports.length === 0) return [{ ...base, ports: [] }];
  const out: EncodedRule[] = [];
  for (let i = 0; i < ports.length; i += HEP_LIMITS.portsPerRule)
    out.push({ ...base, ports: ports.slice(i, i + HEP_LIMITS.portsPerRule) });
  return out;
}

/** The version a stage's rules are written under: a 16-bit hash of their bytes. */
export function rulesVersion(rules: readonly Uint8Array[]): number {
  const h = createHash('sha256');
  for (const r of rules) h.update(r);
  return h.digest().readUInt16LE(0);
}

/**
 * Plans node `nodeName`'s host endpoint maps for its data interfaces (`dataIfaces`: name ->
 * ifindex). An interface is owned by the endpoint written for it, else by the node's `*` one.
 * Over-long stages keep their first rules and are reported.
 */
export function planHostPolicy(
  endpoints: readonly HostEndpointPolicy[],
  nodeName: string,
  dataIfaces: ReadonlyMap<string, number>,
): HostPolicyMapPlan {
  const plan: HostPolicyMapPlan = {
    endpoints: new Map(),
    rules: new Map(),
    nets: new Map(),
    bound: new Map(),
    errors: [],
  };
  const sets = (cidrs: readonly string[]): number => {
    const list = normalise(cidrs);
    const id = setId(list);
    for (const cidr of list) {
      const key = encodeHepNetKey(id, cidr);
      plan.nets.set(keyId(key), { key, value: u32(1), owner: `set ${id}` });
    }
    return id;
  };
  for (const [iface, ifindex] of [...dataIfaces].sort()) {
    const ep = endpointFor(endpoints, nodeName, iface);
    if (!ep) continue;
    plan.bound.set(iface, ep.name);
    for (const stage of HOST_STAGES) {
      const policy = ep.stages[stage];
      let encoded = policy.rules.flatMap((r) => encodeRules(r, sets)).map(encodeHepRule);
      if (encoded.length > HEP_LIMITS.rulesPerStage) {
        plan.errors.push(
          `host endpoint ${ep.name} on ${nodeName} ${iface}: ${stage} needs ${encoded.length} rules, ${HEP_LIMITS.rulesPerStage} fit; the rest are not enforced`,
        );
        encoded = encoded.slice(0, HEP_LIMITS.rulesPerStage);
      }
      const version = rulesVersion(encoded);
      const owner = `${ep.name} ${iface} ${stage}`;
      for (const [i, value] of encoded.entries()) {
        const key = encodeHepRuleKey(ifindex, stage, version, i);
        plan.rules.set(keyId(key), { key, value, owner });
      }
      const key = encodeHepKey(ifindex, stage);
      plan.endpoints.set(keyId(key), {
        key,
        value: encodeHepValue(encoded.length, version, policy.otherwise),
        owner,
      });
    }
  }
  if (plan.nets.size > HEP_LIMITS.nets) plan.errors.push(`${HEP_MAP.nets} on node ${nodeName} is full`);
  if (plan.rules.size > HEP_LIMITS.rules) plan.errors.push(`${HEP_MAP.rules} on node ${nodeName} is full`);
  return plan;
}

/**
 * The batch that brings the maps to the plan without a moment in which a stage points at rules
 * or sets that are not there: new sets, new rules, the stage entries that switch to them, then
 * what is no longer referenced.
 */
export function orderHostPolicyOps(endpoints: MapDiff, rules: MapDiff, nets: MapDiff): BatchOp[] {
  return [
    ...nets.upserts,
    ...rules.upserts,
    ...endpoints.upserts,
    ...endpoints.deletes,
    ...rules.deletes,
    ...nets.deletes,
  ];
}
