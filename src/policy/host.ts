/**
 * Host endpoint policy compiled per node, interface and stage, with Calico's semantics:
 *
 * - `preDnat`: ingress, before service NAT, every packet arriving on the interface; Deny drops,
 *   Allow and Pass end the stage, and what no rule matches goes on (no default deny).
 * - `ingress` / `egress`: traffic to and from the host itself; a policy selecting the endpoint
 *   makes it default deny, and with no policy the endpoint's profile decides
 *   (`projectcalico-default-allow`: allow; none: deny). Pass goes to the profile.
 * - `forwardIngress` / `forwardEgress`: traffic forwarded through the interface, judged by
 *   `applyOnForward` policies only; with none it is allowed.
 *
 * Failsafe ports come first in the stages that see traffic to or from the host, so no policy
 * closes them. Rules are ordered and positive (negations already subtracted), the shared form
 * both dataplanes program. Pure.
 */
import type { CalicoPolicyState, CalicoRule, PortRange } from '../k8s/calico-model.ts';
import { calicoPolicyLabel, DEFAULT_ALLOW_PROFILE } from '../k8s/calico-model.ts';
import { DEFAULT_FELIX_SETTINGS, type ProtoPort } from '../k8s/felix-settings.ts';
import type { ClusterModel, NodeState } from '../k8s/model.ts';
import {
  type CalicoEndpoints,
  entityCidrs,
  entityPorts,
  inCalicoOrder,
  selectsHostEndpoint,
} from './calico.ts';

/** The stages a packet on a host endpoint's interface is judged in. */
export const HOST_STAGES = ['preDnat', 'ingress', 'egress', 'forwardIngress', 'forwardEgress'] as const;

/** One of {@link HOST_STAGES}. */
export type HostStage = (typeof HOST_STAGES)[number];

/** IANA protocol numbers the dataplanes match on. */
export const PROTO = { TCP: 6, UDP: 17, SCTP: 132 } as const;

/** One ordered rule: every field present must match; absent fields match anything. */
export interface HostRule {
  /** allow: the stage lets the packet on; deny: it is dropped. */
  action: 'allow' | 'deny';
  protocol?: number;
  notProtocol?: number;
  /** Source CIDRs (never empty). */
  src?: string[];
  /** Destination CIDRs (never empty): after DNAT, except in the preDnat stage. */
  dst?: string[];
  /** Destination ports (never empty). */
  ports?: PortRange[];
  /** `GlobalNetworkPolicy deny-ssh ingress[0] Deny`, `failsafe tcp:22`. */
  origin: string;
}

/** One stage of one endpoint. */
export interface HostStagePolicy {
  /** Policies in force, in evaluation order. */
  policies: string[];
  rules: HostRule[];
  /** What a packet no rule matched gets: allowed, dropped, or (preDnat) passed on. */
  otherwise: 'allow' | 'deny';
}

/** The compiled policy of one host endpoint. */
export interface HostEndpointPolicy {
  name: string;
  nodeName: string;
  /** An interface name, or `*` for every data interface of the node. */
  iface: string;
  stages: Record<HostStage, HostStagePolicy>;
}

/** What the host endpoint compiler reads. */
export interface HostPolicyInputs extends CalicoEndpoints {
  nodes: readonly Pick<NodeState, 'name' | 'ip'>[];
  policies: readonly CalicoPolicyState[];
  failsafeInbound: readonly ProtoPort[];
  failsafeOutbound: readonly ProtoPort[];
}

/** The outcome: one entry per host endpoint bound to an interface, and what could not be bound. */
export interface HostPolicyPlan {
  endpoints: HostEndpointPolicy[];
  errors: string[];
}

function failsafeRules(list: readonly ProtoPort[], direction: 'in' | 'out'): HostRule[] {
  return list.map((fs) => {
    const rule: HostRule = {
      action: 'allow',
      protocol: PROTO[fs.protocol],
      ports: [{ lo: fs.port, hi: fs.port }],
      origin: `failsafe ${direction === 'in' ? 'inbound' : 'outbound'} ${fs.protocol.toLowerCase()}:${fs.port}`,
    };
    if (fs.net) {
      if (direction === 'in') rule.src = [fs.net];
      else rule.dst = [fs.net];
    }
    return rule;
  });
}

/** A Calico rule as a positive host rule; undefined when it can match nothing. */
function hostRule(
  policy: CalicoPolicyState,
  rule: CalicoRule,
  action: 'allow' | 'deny',
  origin: string,
  eps: CalicoEndpoints,
): HostRule | undefined {
  const out: HostRule = { action, origin };
  if (rule.protocol !== undefined) out.protocol = rule.protocol;
  if (rule.notProtocol !== undefined) out.notProtocol = rule.notProtocol;
  const src = entityCidrs(policy, rule.source, eps);
  const dst = entityCidrs(policy, rule.destination, eps);
  const ports = entityPorts(rule.destination);
  if (src?.length === 0 || dst?.length === 0 || ports?.length === 0) return undefined;
  if (src) out.src = src;
  if (dst) out.dst = dst;
  if (ports) out.ports = ports;
  return out;
}

interface StageSpec {
  stage: HostStage;
  type: 'Ingress' | 'Egress';
  pick: (p: CalicoPolicyState) => boolean;
  /** The action of Pass, and of a packet no rule matched when no policy applies. */
  profile: 'allow' | 'deny';
  /** What a packet no rule matched gets when some policy applies. */
  endOfTier: 'allow' | 'deny';
  failsafe: HostRule[];
}

function compileStage(
  spec: StageSpec,
  policies: readonly CalicoPolicyState[],
  eps: CalicoEndpoints,
): HostStagePolicy {
  const selected = inCalicoOrder(policies.filter((p) => p.types.includes(spec.type) && spec.pick(p)));
  const rules: HostRule[] = [...spec.failsafe];
  for (const policy of selected) {
    const written = spec.type === 'Ingress' ? policy.ingress : policy.egress;
    for (const [i, rule] of written.entries()) {
      if (rule.action === 'Log') continue;
      const action = rule.action === 'Deny' ? 'deny' : rule.action === 'Allow' ? 'allow' : spec.profile;
      const origin = `${calicoPolicyLabel(policy)} ${spec.type.toLowerCase()}[${i}] ${rule.action}`;
      const compiled = hostRule(policy, rule, action, origin, eps);
      if (compiled) rules.push(compiled);
    }
  }
  return {
    policies: selected.map(calicoPolicyLabel),
    rules,
    otherwise: selected.length > 0 ? spec.endOfTier : spec.profile,
  };
}

/** Compiles every host endpoint's policy; endpoints of unknown nodes or without an interface are reported. */
export function compileHostPolicy(inputs: HostPolicyInputs): HostPolicyPlan {
  const plan: HostPolicyPlan = { endpoints: [], errors: [] };
  for (const hep of [...inputs.hostEndpoints].sort((a, b) => a.name.localeCompare(b.name))) {
    const node = inputs.nodes.find((n) => n.name === hep.node);
    if (!node) {
      plan.errors.push(`HostEndpoint ${hep.name}: node ${hep.node} is not in the cluster; not enforced`);
      continue;
    }
    // Without an interface name the endpoint is the node's address: its data interfaces.
    const iface = hep.interfaceName ?? '*';
    if (hep.interfaceName === undefined && !hep.expectedIPs.includes(node.ip)) {
      plan.errors.push(
        `HostEndpoint ${hep.name}: no interface of node ${hep.node} holds any of ${hep.expectedIPs.join(', ')}; not enforced`,
      );
      continue;
    }
    const policies = inputs.policies.filter((p) => selectsHostEndpoint(p, hep));
    const profile = hep.profiles.includes(DEFAULT_ALLOW_PROFILE) ? 'allow' : 'deny';
    const fsIn = failsafeRules(inputs.failsafeInbound, 'in');
    const fsOut = failsafeRules(inputs.failsafeOutbound, 'out');
    const normal = (p: CalicoPolicyState) => !p.preDNAT;
    const forward = (p: CalicoPolicyState) => !p.preDNAT && p.applyOnForward;
    const specs: StageSpec[] = [
      {
        stage: 'preDnat',
        type: 'Ingress',
        pick: (p) => p.preDNAT,
        profile: 'allow',
        endOfTier: 'allow',
        failsafe: fsIn,
      },
      { stage: 'ingress', type: 'Ingress', pick: normal, profile, endOfTier: 'deny', failsafe: fsIn },
      { stage: 'egress', type: 'Egress', pick: normal, profile, endOfTier: 'deny', failsafe: fsOut },
      {
        stage: 'forwardIngress',
        type: 'Ingress',
        pick: forward,
        profile: 'allow',
        endOfTier: 'deny',
        failsafe: [],
      },
      {
        stage: 'forwardEgress',
        type: 'Egress',
        pick: forward,
        profile: 'allow',
        endOfTier: 'deny',
        failsafe: [],
      },
    ];
    const stages = Object.fromEntries(
      specs.map((s) => [s.stage, compileStage(s, policies, inputs)]),
    ) as Record<HostStage, HostStagePolicy>;
    plan.endpoints.push({ name: hep.name, nodeName: hep.node, iface, stages });
  }
  // An endpoint written for one interface takes it over from the node's `*` endpoint.
  plan.endpoints.sort(
    (a, b) => Number(a.iface === '*') - Number(b.iface === '*') || a.name.localeCompare(b.name),
  );
  return plan;
}

/**
 * The endpoint that owns interface `iface` of node `nodeName`: one written for that interface,
 * else the node's `*` endpoint (the first by name when there are several).
 */
export function endpointFor(
  endpoints: readonly HostEndpointPolicy[],
  nodeName: string,
  iface: string,
): HostEndpointPolicy | undefined {
  const mine = endpoints.filter((e) => e.nodeName === nodeName);
  return mine.find((e) => e.iface === iface) ?? mine.find((e) => e.iface === '*');
}

/** True when the packet (protocol, addresses, destination port) matches the rule. */
export function hostRuleMatches(
  rule: HostRule,
  protocol: number,
  src: number,
  dst: number,
  port: number,
  contains: (cidr: string, addr: number) => boolean,
): boolean {
  if (rule.protocol !== undefined && rule.protocol !== protocol) return false;
  if (rule.notProtocol !== undefined && rule.notProtocol === protocol) return false;
  if (rule.src && !rule.src.some((c) => contains(c, src))) return false;
  if (rule.dst && !rule.dst.some((c) => contains(c, dst))) return false;
  if (rule.ports && !rule.ports.some((r) => port >= r.lo && port <= r.hi)) return false;
  return true;
}

/** The verdict of one stage for a packet, the reference the dataplanes are tested against. */
export function stageVerdict(
  stage: HostStagePolicy,
  protocol: number,
  src: number,
  dst: number,
  port: number,
  contains: (cidr: string, addr: number) => boolean,
): 'allow' | 'deny' {
  const hit = stage.rules.find((r) => hostRuleMatches(r, protocol, src, dst, port, contains));
  return hit ? hit.action : stage.otherwise;
}

/** The host endpoint compiler's inputs, from a realised model (Calico's failsafe ports when it names none). */
export function hostPolicyInputsFromModel(model: ClusterModel): HostPolicyInputs {
  return {
    nodes: model.nodes,
    pods: model.pods,
    namespaces: model.namespaces ?? [],
    hostEndpoints: model.hostEndpoints ?? [],
    policies: model.calicoPolicies ?? [],
    failsafeInbound: model.failsafe?.inbound ?? DEFAULT_FELIX_SETTINGS.failsafeInboundHostPorts,
    failsafeOutbound: model.failsafe?.outbound ?? DEFAULT_FELIX_SETTINGS.failsafeOutboundHostPorts,
  };
}
