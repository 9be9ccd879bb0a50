/**
 * What Calico policy selects: which endpoints (pods and host endpoints) a GlobalNetworkPolicy or
 * Calico NetworkPolicy applies to, the order policies are evaluated in, and the addresses a
 * rule's source or destination stands for, as positive CIDR lists. Pure.
 */
import type { CalicoEntity, CalicoPolicyState, HostEndpointState, PortRange } from '../k8s/calico-model.ts';
import { type CalicoSelector, calicoSelects, parseCalicoSelector } from '../k8s/calico-selector.ts';
import { cidrContains, parseCidr4, parseIpv4 } from '../k8s/ip.ts';
import type { NamespaceState, PodState } from '../k8s/model.ts';
import { ALL_PORTS, subtractRanges } from './boxes.ts';
import { subtractCidrs } from './cidr.ts';

/** The label the API server puts on every namespace, so policies can select one by name. */
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

/** Everything a rule's selectors can pick among. */
export interface CalicoEndpoints {
  pods: readonly PodState[];
  namespaces: readonly NamespaceState[];
  hostEndpoints: readonly HostEndpointState[];
}

const parsed = new Map<string, CalicoSelector>();

/** A selector from the model (validated when it was applied), parsed once. */
export function selectorOf(text: string): CalicoSelector {
  let sel = parsed.get(text);
  if (!sel) {
    sel = parseCalicoSelector(text);
    parsed.set(text, sel);
  }
  return sel;
}

/** A pod's labels as Calico's workload endpoint carries them. */
export function workloadLabels(pod: Pick<PodState, 'labels' | 'namespace'>): Record<string, string> {
  return {
    ...pod.labels,
    'projectcalico.org/namespace': pod.namespace,
    'projectcalico.org/orchestrator': 'k8s',
  };
}

/** A namespace's labels as namespaceSelectors see them. */
export function namespaceLabelsOf(
  namespaces: readonly NamespaceState[],
  name: string,
): Record<string, string> {
  const ns = namespaces.find((n) => n.name === name);
  return { ...ns?.labels, [NAMESPACE_NAME_LABEL]: name, 'projectcalico.org/name': name };
}

/** True when the policy applies to the pod. */
export function selectsPod(
  policy: CalicoPolicyState,
  pod: PodState,
  namespaces: readonly NamespaceState[],
): boolean {
  if (policy.namespace !== undefined && policy.namespace !== pod.namespace) return false;
  if (!calicoSelects(selectorOf(policy.selector), workloadLabels(pod))) return false;
  return (
    policy.namespaceSelector === undefined ||
    calicoSelects(selectorOf(policy.namespaceSelector), namespaceLabelsOf(namespaces, pod.namespace))
  );
}

/** True when the policy applies to the host endpoint (only global policies can). */
export function selectsHostEndpoint(policy: CalicoPolicyState, hep: HostEndpointState): boolean {
  if (policy.namespace !== undefined) return false;
  if (!calicoSelects(selectorOf(policy.selector), hep.labels)) return false;
  return (
    policy.namespaceSelector === undefined || calicoSelects(selectorOf(policy.namespaceSelector), {}, true)
  );
}

/** Policies in Calico's evaluation order: by `order` (none last), then by name. */
export function inCalicoOrder<T extends Pick<CalicoPolicyState, 'order' | 'name'>>(
  policies: readonly T[],
): T[] {
  const rank = (p: T) => p.order ?? Number.POSITIVE_INFINITY;
  return [...policies].sort((a, b) => rank(a) - rank(b) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** Addresses of the endpoints a selector (with an optional namespaceSelector) picks. */
function selectedAddresses(
  policy: CalicoPolicyState,
  selector: string | undefined,
  namespaceSelector: string | undefined,
  eps: CalicoEndpoints,
): string[] {
  const sel = selectorOf(selector ?? 'all()');
  const ns = namespaceSelector === undefined ? undefined : selectorOf(namespaceSelector);
  const ips: string[] = [];
  for (const pod of eps.pods) {
    if (!pod.ip) continue;
    const inScope = ns
      ? calicoSelects(ns, namespaceLabelsOf(eps.namespaces, pod.namespace))
      : policy.namespace === undefined || policy.namespace === pod.namespace;
    if (inScope && calicoSelects(sel, workloadLabels(pod))) ips.push(pod.ip);
  }
  const hostsInScope = ns ? calicoSelects(ns, {}, true) : policy.namespace === undefined;
  if (hostsInScope) {
    for (const hep of eps.hostEndpoints) if (calicoSelects(sel, hep.labels)) ips.push(...hep.expectedIPs);
  }
  return [...new Set(ips)];
}

function inAny(ip: string, cidrs: readonly string[]): boolean {
  const addr = parseIpv4(ip);
  return (
    addr !== undefined &&
    cidrs.some((c) => {
      const cidr = parseCidr4(c);
      return cidr !== undefined && cidrContains(cidr, addr);
    })
  );
}

/**
 * The addresses one side of a rule matches, as positive CIDRs: nets and selected endpoints
 * together (both must hold), minus notNets and the endpoints notSelector picks. Undefined when
 * the side says nothing about addresses; an empty list matches nothing.
 */
export function entityCidrs(
  policy: CalicoPolicyState,
  entity: CalicoEntity,
  eps: CalicoEndpoints,
): string[] | undefined {
  const selected =
    entity.selector !== undefined || entity.namespaceSelector !== undefined
      ? selectedAddresses(policy, entity.selector, entity.namespaceSelector, eps)
      : undefined;
  let positive: string[] | undefined;
  if (entity.nets && selected)
    positive = selected.filter((ip) => inAny(ip, entity.nets!)).map((ip) => `${ip}/32`);
  else if (entity.nets) positive = [...entity.nets];
  else if (selected) positive = selected.map((ip) => `${ip}/32`);
  const holes = [
    ...(entity.notNets ?? []),
    ...(entity.notSelector !== undefined
      ? selectedAddresses(policy, entity.notSelector, entity.namespaceSelector, eps).map((ip) => `${ip}/32`)
      : []),
  ];
  if (holes.length === 0) return positive;
  return [...new Set((positive ?? ['0.0.0.0/0']).flatMap((c) => subtractCidrs(c, holes)))];
}

/** The destination port ranges a rule side matches; undefined for every port. */
export function entityPorts(entity: CalicoEntity): PortRange[] | undefined {
  if (!entity.ports && !entity.notPorts) return undefined;
  return subtractRanges(entity.ports ?? [ALL_PORTS], entity.notPorts ?? []);
}
