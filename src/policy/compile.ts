/**
 * Compiles Kubernetes NetworkPolicies into per-pod allow lists with Kubernetes' semantics: a pod
 * selected by a policy of a type is default-deny in that direction, the rules of every policy
 * selecting it add up, an absent or empty peer list admits everyone, an absent or empty port
 * list admits every port, namespaceSelector with podSelector in one peer is an AND, and named
 * ports are resolved on the pod that listens (the selected pod for ingress, each destination
 * pod for egress). Pure.
 */
import type { V1NetworkPolicyPeer, V1NetworkPolicyPort } from '@kubernetes/client-node';
import { cidrContains, parseCidr4, parseIpv4 } from '../k8s/ip.ts';
import { selectorMatches } from '../k8s/label-selector.ts';
import type { ClusterModel, NetworkPolicyState, PodState, Protocol } from '../k8s/model.ts';
import { calicoDirection } from './calico-pods.ts';
import type {
  AllowRule,
  CidrPeer,
  Direction,
  DirectionPolicy,
  PodPolicy,
  PolicyInputs,
  PortMatch,
} from './types.ts';

/** The label the API server puts on every namespace, so policies can select one by name. */
export const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** The inputs as carried by the realised model (no policies when the model has none). */
export function policyInputsFromModel(model: ClusterModel): PolicyInputs {
  return {
    policies: model.policies ?? [],
    pods: model.pods,
    namespaces: model.namespaces ?? [],
    calicoPolicies: model.calicoPolicies ?? [],
    hostEndpoints: model.hostEndpoints ?? [],
  };
}

/**
 * A rule as stored: the objects are kept as written, so the peers are under `from`/`to`
 * (client-node's model renames `from` to `_from`, which a parsed manifest never has).
 */
interface WrittenRule {
  from?: V1NetworkPolicyPeer[];
  to?: V1NetworkPolicyPeer[];
  ports?: V1NetworkPolicyPort[];
}

interface Context {
  pods: readonly PodState[];
  nsLabels: ReadonlyMap<string, Readonly<Record<string, string>>>;
}

/** Peers of one rule as the compiler works with them: CIDRs and the pods they select. */
interface ResolvedPeers {
  cidrs: CidrPeer[];
  pods: PodState[];
}

function ipOrder(a: string, b: string): number {
  return (parseIpv4(a) ?? 0) - (parseIpv4(b) ?? 0);
}

function uniqueIps(ips: Iterable<string>): string[] {
  return [...new Set(ips)].sort(ipOrder);
}

function inCidrPeer(peer: CidrPeer, ip: string): boolean {
  const addr = parseIpv4(ip);
  const cidr = parseCidr4(peer.cidr);
  if (addr === undefined || !cidr) return false;
  if (!cidrContains(cidr, addr)) return false;
  return !peer.except.some((e) => {
    const ex = parseCidr4(e);
    return ex !== undefined && cidrContains(ex, addr);
  });
}

/** Pods one peer entry selects (empty for an ipBlock). */
function podsOfPeer(policy: NetworkPolicyState, peer: V1NetworkPolicyPeer, ctx: Context): PodState[] {
  if (peer.ipBlock) return [];
  return ctx.pods.filter((pod) => {
    const nsOk = peer.namespaceSelector
      ? selectorMatches(peer.namespaceSelector, ctx.nsLabels.get(pod.namespace) ?? {})
      : pod.namespace === policy.namespace;
    return nsOk && (!peer.podSelector || selectorMatches(peer.podSelector, pod.labels));
  });
}

/** Undefined when the rule admits every peer. */
function resolvePeers(
  policy: NetworkPolicyState,
  peers: readonly V1NetworkPolicyPeer[] | undefined,
  ctx: Context,
): ResolvedPeers | undefined {
  if (!peers || peers.length === 0) return undefined;
  const out: ResolvedPeers = { cidrs: [], pods: [] };
  for (const peer of peers) {
    if (peer.ipBlock) out.cidrs.push({ cidr: peer.ipBlock.cidr, except: [...(peer.ipBlock.except ?? [])] });
    else out.pods.push(...podsOfPeer(policy, peer, ctx));
  }
  return out;
}

function protocolOf(port: V1NetworkPolicyPort): Protocol {
  return port.protocol === 'UDP' ? 'UDP' : 'TCP';
}

/** A named port as the pod declares it, or undefined when the pod has no such port. */
function namedPortOn(pod: PodState, name: string, protocol: Protocol): number | undefined {
  return pod.ports.find((p) => p.name === name && p.protocol === protocol)?.containerPort;
}

function numericPort(port: V1NetworkPolicyPort): PortMatch {
  const protocol = protocolOf(port);
  if (port.port === undefined) return { protocol };
  const start = Number(port.port);
  const end = port.endPort;
  return end !== undefined && end !== start
    ? { protocol, port: start, endPort: end }
    : { protocol, port: start };
}

function isNamed(port: V1NetworkPolicyPort): port is V1NetworkPolicyPort & { port: string } {
  return typeof port.port === 'string' && !/^[0-9]+$/.test(port.port);
}

/** Every pod a peer set admits, for resolving egress named ports on destinations. */
function candidatePods(peers: ResolvedPeers | undefined, ctx: Context): PodState[] {
  if (!peers) return [...ctx.pods];
  const chosen = new Set(peers.pods);
  for (const pod of ctx.pods) if (peers.cidrs.some((c) => inCidrPeer(c, pod.ip))) chosen.add(pod);
  return [...chosen];
}

function toAllowRule(
  peers: ResolvedPeers | undefined,
  ports: PortMatch[] | undefined,
  origin: string,
): AllowRule {
  const rule: AllowRule = { origin };
  if (peers) rule.peers = { cidrs: peers.cidrs, podIps: uniqueIps(peers.pods.map((p) => p.ip)) };
  if (ports) rule.ports = ports;
  return rule;
}

/** A rule whose peers or ports came out empty admits nothing and is left out. */
function admitsSomething(rule: AllowRule): boolean {
  const peersOk = !rule.peers || rule.peers.cidrs.length > 0 || rule.peers.podIps.length > 0;
  return peersOk && (!rule.ports || rule.ports.length > 0);
}

function compileRule(
  target: PodState,
  policy: NetworkPolicyState,
  direction: Direction,
  rule: WrittenRule,
  origin: string,
  ctx: Context,
): AllowRule[] {
  const rawPeers = direction === 'ingress' ? rule.from : rule.to;
  const peers = resolvePeers(policy, rawPeers, ctx);
  const rawPorts = rule.ports ?? [];
  if (rawPorts.length === 0) return [toAllowRule(peers, undefined, origin)];
  const ports: PortMatch[] = [];
  const out: AllowRule[] = [];
  // Egress named ports: destination IP and resolved number go together, one rule per number.
  const byNumber = new Map<string, { port: PortMatch; ips: Set<string> }>();
  for (const raw of rawPorts) {
    if (!isNamed(raw)) {
      ports.push(numericPort(raw));
      continue;
    }
    const protocol = protocolOf(raw);
    if (direction === 'ingress') {
      const number = namedPortOn(target, raw.port, protocol);
      if (number !== undefined) ports.push({ protocol, port: number });
      continue;
    }
    for (const pod of candidatePods(peers, ctx)) {
      const number = namedPortOn(pod, raw.port, protocol);
      if (number === undefined) continue;
      const key = `${protocol}/${number}`;
      const entry = byNumber.get(key) ?? { port: { protocol, port: number }, ips: new Set<string>() };
      entry.ips.add(pod.ip);
      byNumber.set(key, entry);
    }
  }
  out.push(toAllowRule(peers, ports, origin));
  for (const { port, ips } of byNumber.values()) {
    out.push({ origin, peers: { cidrs: [], podIps: uniqueIps(ips) }, ports: [port] });
  }
  return out;
}

/**
 * policyTypes as the API server defaults them: Ingress, plus Egress when there is at least one
 * egress rule (an empty `egress: []` does not count).
 */
export function policyTypesOf(policy: NetworkPolicyState): ('Ingress' | 'Egress')[] {
  const written = policy.spec.policyTypes;
  if (written && written.length > 0) return written as ('Ingress' | 'Egress')[];
  return (policy.spec.egress ?? []).length > 0 ? ['Ingress', 'Egress'] : ['Ingress'];
}

function compileDirection(
  target: PodState,
  selecting: readonly NetworkPolicyState[],
  direction: Direction,
  ctx: Context,
): DirectionPolicy {
  const type = direction === 'ingress' ? 'Ingress' : 'Egress';
  const policies = selecting.filter((p) => policyTypesOf(p).includes(type));
  const rules: AllowRule[] = [];
  for (const policy of policies) {
    const written: WrittenRule[] =
      ((direction === 'ingress' ? policy.spec.ingress : policy.spec.egress) as WrittenRule[] | undefined) ??
      [];
    for (const [i, rule] of written.entries()) {
      const origin = `${policy.namespace}/${policy.name} ${direction}[${i}]`;
      rules.push(...compileRule(target, policy, direction, rule, origin, ctx).filter(admitsSomething));
    }
  }
  return {
    isolated: policies.length > 0,
    policies: policies.map((p) => `${p.namespace}/${p.name}`).sort(),
    rules,
  };
}

/** Labels of every namespace, with the name label the API server adds. */
function namespaceLabels(inputs: PolicyInputs): Map<string, Record<string, string>> {
  const out = new Map<string, Record<string, string>>();
  for (const ns of inputs.namespaces) out.set(ns.name, { ...ns.labels, [NAMESPACE_NAME_LABEL]: ns.name });
  // A pod's namespace always exists in a real cluster even if the caller left it out.
  for (const pod of inputs.pods) {
    if (!out.has(pod.namespace)) out.set(pod.namespace, { [NAMESPACE_NAME_LABEL]: pod.namespace });
  }
  return out;
}

/** The compiled policy of every pod (isolated or not), by namespace then name. */
export function compilePolicy(inputs: PolicyInputs): PodPolicy[] {
  const ctx: Context = { pods: inputs.pods, nsLabels: namespaceLabels(inputs) };
  const pods = [...inputs.pods].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
  return pods.map((pod) => {
    const selecting = inputs.policies.filter(
      (p) => p.namespace === pod.namespace && selectorMatches(p.spec.podSelector ?? {}, pod.labels),
    );
    // Calico policy folds the Kubernetes result in at its place in Calico's order.
    const calico = inputs.calicoPolicies ?? [];
    const eps = {
      pods: inputs.pods,
      namespaces: inputs.namespaces,
      hostEndpoints: inputs.hostEndpoints ?? [],
    };
    const direction = (d: Direction): DirectionPolicy => {
      const kubernetes = compileDirection(pod, selecting, d, ctx);
      return calico.length > 0 ? calicoDirection(pod, d, kubernetes, calico, eps) : kubernetes;
    };
    return {
      namespace: pod.namespace,
      name: pod.name,
      ip: pod.ip,
      nodeName: pod.nodeName,
      hostIface: pod.hostIface,
      ingress: direction('ingress'),
      egress: direction('egress'),
    };
  });
}

/**
 * True when the compiled policy lets a new connection from `src` to `dst` (pod or outside
 * address) on this protocol and port: `src`'s egress and `dst`'s ingress must both admit it.
 * The reference the dataplanes are tested against.
 */
export function allows(
  compiled: readonly PodPolicy[],
  src: string,
  dst: string,
  protocol: Protocol,
  port: number,
): boolean {
  const byIp = new Map(compiled.map((p) => [p.ip, p]));
  const from = byIp.get(src);
  const to = byIp.get(dst);
  return (
    (!from || directionAdmits(from.egress, dst, protocol, port)) &&
    (!to || directionAdmits(to.ingress, src, protocol, port))
  );
}

function directionAdmits(policy: DirectionPolicy, peer: string, protocol: Protocol, port: number): boolean {
  if (!policy.isolated) return true;
  return policy.rules.some((r) => ruleAdmits(r, peer, protocol, port));
}

/** True when one allow rule admits this peer address, protocol and port. */
export function ruleAdmits(rule: AllowRule, peer: string, protocol: Protocol, port: number): boolean {
  const peerOk =
    !rule.peers || rule.peers.podIps.includes(peer) || rule.peers.cidrs.some((c) => inCidrPeer(c, peer));
  const portOk =
    !rule.ports ||
    rule.ports.some(
      (p) =>
        p.protocol === protocol &&
        (p.port === undefined || (port >= p.port && port <= (p.endPort ?? p.port))),
    );
  return peerOk && portOk;
}
