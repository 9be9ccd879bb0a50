/**
 * Service allocations: ClusterIPs, NodePorts and LoadBalancer VIPs, stable across reconciles.
 * Each allocation is made in three passes so that the outcome does not depend on the order
 * Services were written in: first everything the previous model already gave out, then what
 * Services ask for explicitly, then free values for the rest (lowest first).
 *
 * A ClusterIP or NodePort conflict is what kube-apiserver would refuse, so that Service is
 * left out of the model. A VIP that cannot be given leaves the Service pending (in the model
 * without a VIP), as a load-balancer controller would.
 */

import { cidrContains, cidrLast, formatIpv4, mustCidr4, mustIpv4, parseIpv4 } from './ip.ts';
import { describeValue, objectLabel } from './manifest.ts';
import { DEFAULT_AFFINITY_TIMEOUT_SECONDS, type ServicePortState, type ServiceState } from './model.ts';
import {
  LB_POOL,
  LB_POOL_FIRST,
  LB_POOL_LAST,
  NODE_PORT_MAX,
  NODE_PORT_MIN,
  RESERVED_SERVICE_IPS,
  SERVICE_CIDR,
  SERVICE_IP_FIRST,
} from './ranges.ts';
import type { ServiceResource } from './resource.ts';

/** What allocation decided. */
export interface AllocationResult {
  /** Realised Services, by namespace then name. */
  services: ServiceState[];
  /** One line per refused Service, pending VIP or ignored request. */
  errors: string[];
}

function svcKey(s: { namespace: string; name: string }): string {
  return `${s.namespace}/${s.name}`;
}

function problem(s: ServiceResource, field: string, message: string): string {
  return `${s.source.file}: ${objectLabel('Service', s.namespace, s.name)}: ${field}: ${message}`;
}

/** Who holds which value, for one kind of allocation. */
class Owners<T> {
  readonly #owner = new Map<T, string>();

  ownerOf(value: T): string | undefined {
    return this.#owner.get(value);
  }

  /** Claims the value for `owner`; false when someone else holds it. */
  claim(value: T, owner: string): boolean {
    const current = this.#owner.get(value);
    if (current !== undefined && current !== owner) return false;
    this.#owner.set(value, owner);
    return true;
  }
}

/** One Service port as written, with the defaults applied. */
interface PortSpec {
  index: number;
  name?: string;
  protocol: 'TCP' | 'UDP';
  port: number;
  targetPort: number | string;
  nodePort?: number;
}

function portsOf(s: ServiceResource): PortSpec[] {
  return (s.object.spec?.ports ?? []).map((p, index) => {
    const spec: PortSpec = {
      index,
      protocol: (p.protocol ?? 'TCP') as 'TCP' | 'UDP',
      port: p.port,
      targetPort: p.targetPort ?? p.port,
    };
    if (p.name) spec.name = p.name;
    if (p.nodePort !== undefined) spec.nodePort = p.nodePort;
    return spec;
  });
}

function typeOf(s: ServiceResource): ServiceState['type'] {
  return (s.object.spec?.type ?? 'ClusterIP') as ServiceState['type'];
}

function usesNodePorts(type: ServiceState['type']): boolean {
  return type === 'NodePort' || type === 'LoadBalancer';
}

/** The previous port a port corresponds to: same name, or (unnamed) same port and protocol. */
function previousPort(prev: ServiceState | undefined, port: PortSpec): ServicePortState | undefined {
  if (!prev) return undefined;
  return prev.ports.find((p) =>
    port.name ? p.name === port.name : !p.name && p.port === port.port && p.protocol === port.protocol,
  );
}

/** Allocations of one attempt; `refused` names Services that must be left out. */
interface Attempt {
  clusterIPs: Map<string, string>;
  nodePorts: Map<string, Map<number, number>>;
  vips: Map<string, string>;
  refused: Map<string, string>;
  notes: string[];
}

function allocateClusterIps(
  services: readonly ServiceResource[],
  prev: Map<string, ServiceState>,
  a: Attempt,
): void {
  const cidr = mustCidr4(SERVICE_CIDR);
  const reserved = new Set(RESERVED_SERVICE_IPS.map(mustIpv4));
  const owners = new Owners<number>();
  const usable = (ip: number | undefined): ip is number =>
    ip !== undefined && cidrContains(cidr, ip) && !reserved.has(ip) && ip !== cidrLast(cidr);
  for (const s of services) {
    const p = prev.get(svcKey(s));
    const ip = p ? parseIpv4(p.clusterIP) : undefined;
    if (!usable(ip) || !owners.claim(ip, svcKey(s))) continue;
    a.clusterIPs.set(svcKey(s), p!.clusterIP);
    const asked = s.object.spec?.clusterIP;
    if (asked && asked !== p!.clusterIP) {
      a.notes.push(
        problem(
          s,
          'spec.clusterIP',
          `field is immutable: keeps ${p!.clusterIP}, ignoring ${describeValue(asked)}`,
        ),
      );
    }
  }
  for (const s of services) {
    const asked = s.object.spec?.clusterIP;
    if (a.clusterIPs.has(svcKey(s)) || !asked) continue;
    const ip = mustIpv4(asked);
    if (!owners.claim(ip, svcKey(s))) {
      a.refused.set(
        svcKey(s),
        problem(s, 'spec.clusterIP', `${asked} is already allocated to Service ${owners.ownerOf(ip)}`),
      );
      continue;
    }
    a.clusterIPs.set(svcKey(s), asked);
  }
  let next = mustIpv4(SERVICE_IP_FIRST);
  for (const s of services) {
    if (a.clusterIPs.has(svcKey(s)) || a.refused.has(svcKey(s))) continue;
    while (next <= cidrLast(cidr) && (!usable(next) || owners.ownerOf(next) !== undefined)) next++;
    if (next > cidrLast(cidr)) {
      a.refused.set(svcKey(s), problem(s, 'spec.clusterIP', `no free address left in ${SERVICE_CIDR}`));
      continue;
    }
    owners.claim(next, svcKey(s));
    a.clusterIPs.set(svcKey(s), formatIpv4(next));
  }
}

function allocateNodePorts(
  services: readonly ServiceResource[],
  prev: Map<string, ServiceState>,
  a: Attempt,
): void {
  const owners = new Owners<number>();
  const wanting = services.filter((s) => usesNodePorts(typeOf(s)));
  const result = (s: ServiceResource) => {
    const m = a.nodePorts.get(svcKey(s)) ?? new Map<number, number>();
    a.nodePorts.set(svcKey(s), m);
    return m;
  };
  for (const s of wanting) {
    const p = prev.get(svcKey(s));
    if (!p || !usesNodePorts(p.type)) continue;
    for (const port of portsOf(s)) {
      const old = previousPort(p, port)?.nodePort;
      if (old === undefined || (port.nodePort !== undefined && port.nodePort !== old)) continue;
      if (owners.claim(old, svcKey(s))) result(s).set(port.index, old);
    }
  }
  for (const s of wanting) {
    for (const port of portsOf(s)) {
      if (port.nodePort === undefined || result(s).has(port.index)) continue;
      if (!owners.claim(port.nodePort, svcKey(s))) {
        const field = `spec.ports[${port.index}].nodePort`;
        const holder = owners.ownerOf(port.nodePort);
        a.refused.set(
          svcKey(s),
          problem(s, field, `${port.nodePort} is already allocated to Service ${holder}`),
        );
        break;
      }
      result(s).set(port.index, port.nodePort);
    }
  }
  let next = NODE_PORT_MIN;
  for (const s of wanting) {
    if (a.refused.has(svcKey(s))) continue;
    if (typeOf(s) === 'LoadBalancer' && s.object.spec?.allocateLoadBalancerNodePorts === false) continue;
    for (const port of portsOf(s)) {
      if (result(s).has(port.index)) continue;
      while (next <= NODE_PORT_MAX && owners.ownerOf(next) !== undefined) next++;
      if (next > NODE_PORT_MAX) {
        a.refused.set(svcKey(s), problem(s, `spec.ports[${port.index}].nodePort`, 'no free NodePort left'));
        break;
      }
      owners.claim(next, svcKey(s));
      result(s).set(port.index, next);
    }
  }
}

function allocateVips(
  services: readonly ServiceResource[],
  prev: Map<string, ServiceState>,
  a: Attempt,
): void {
  const first = mustIpv4(LB_POOL_FIRST);
  const last = mustIpv4(LB_POOL_LAST);
  const inPool = (ip: number | undefined): ip is number => ip !== undefined && ip >= first && ip <= last;
  const owners = new Owners<number>();
  const wanting = services.filter((s) => typeOf(s) === 'LoadBalancer');
  for (const s of wanting) {
    const p = prev.get(svcKey(s));
    const old = p?.type === 'LoadBalancer' ? p.loadBalancerIP : undefined;
    const asked = s.object.spec?.loadBalancerIP;
    if (!old || (asked && asked !== old) || !inPool(parseIpv4(old))) continue;
    if (owners.claim(mustIpv4(old), svcKey(s))) a.vips.set(svcKey(s), old);
  }
  for (const s of wanting) {
    const asked = s.object.spec?.loadBalancerIP;
    if (!asked || a.vips.has(svcKey(s))) continue;
    const ip = mustIpv4(asked);
    if (!inPool(ip)) {
      a.notes.push(
        problem(
          s,
          'spec.loadBalancerIP',
          `${asked} is not in the LoadBalancer pool ${LB_POOL}; the Service stays pending`,
        ),
      );
    } else if (!owners.claim(ip, svcKey(s))) {
      a.notes.push(
        problem(
          s,
          'spec.loadBalancerIP',
          `${asked} is already allocated to Service ${owners.ownerOf(ip)}; the Service stays pending`,
        ),
      );
    } else {
      a.vips.set(svcKey(s), asked);
    }
  }
  let next = first;
  for (const s of wanting) {
    if (a.vips.has(svcKey(s)) || s.object.spec?.loadBalancerIP) continue;
    while (next <= last && owners.ownerOf(next) !== undefined) next++;
    if (next > last) {
      a.notes.push(
        problem(
          s,
          'status.loadBalancer',
          `the LoadBalancer pool ${LB_POOL} is exhausted; the Service stays pending`,
        ),
      );
      continue;
    }
    owners.claim(next, svcKey(s));
    a.vips.set(svcKey(s), formatIpv4(next));
  }
}

function attempt(services: readonly ServiceResource[], prev: Map<string, ServiceState>): Attempt {
  const a: Attempt = {
    clusterIPs: new Map(),
    nodePorts: new Map(),
    vips: new Map(),
    refused: new Map(),
    notes: [],
  };
  allocateClusterIps(services, prev, a);
  const admitted = services.filter((s) => !a.refused.has(svcKey(s)));
  allocateNodePorts(admitted, prev, a);
  allocateVips(
    admitted.filter((s) => !a.refused.has(svcKey(s))),
    prev,
    a,
  );
  return a;
}

function stateOf(s: ServiceResource, a: Attempt): ServiceState {
  const spec = s.object.spec ?? {};
  const type = typeOf(s);
  const nodePorts = a.nodePorts.get(svcKey(s));
  const state: ServiceState = {
    namespace: s.namespace,
    name: s.name,
    type,
    clusterIP: a.clusterIPs.get(svcKey(s))!,
    externalIPs: [...(spec.externalIPs ?? [])],
    externalTrafficPolicy: (spec.externalTrafficPolicy ?? 'Cluster') as ServiceState['externalTrafficPolicy'],
    sessionAffinity: (spec.sessionAffinity ?? 'None') as ServiceState['sessionAffinity'],
    ports: portsOf(s).map((p) => {
      const port: ServicePortState = { protocol: p.protocol, port: p.port, targetPort: p.targetPort };
      if (p.name) port.name = p.name;
      const nodePort = nodePorts?.get(p.index);
      if (nodePort !== undefined && usesNodePorts(type)) port.nodePort = nodePort;
      return port;
    }),
  };
  const vip = a.vips.get(svcKey(s));
  if (vip) state.loadBalancerIP = vip;
  if (state.sessionAffinity === 'ClientIP') {
    state.sessionAffinityTimeoutSeconds =
      spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  }
  if (spec.selector && Object.keys(spec.selector).length > 0) state.selector = { ...spec.selector };
  return state;
}

/**
 * Allocates addresses and ports for every Service, honouring what the previous model gave out.
 * Refused Services are retried out of the picture until the result settles, so a refused
 * Service never holds on to values another Service could have had.
 */
export function allocateServices(
  services: readonly ServiceResource[],
  previous: readonly ServiceState[],
): AllocationResult {
  const prev = new Map(previous.map((s) => [svcKey(s), s]));
  const sorted = [...services].sort(
    (a, b) => a.namespace.localeCompare(b.namespace) || a.name.localeCompare(b.name),
  );
  const refused = new Map<string, string>();
  for (;;) {
    const a = attempt(
      sorted.filter((s) => !refused.has(svcKey(s))),
      prev,
    );
    const fresh = [...a.refused].filter(([k]) => !refused.has(k));
    if (fresh.length === 0) {
      const realised = sorted.filter((s) => !refused.has(svcKey(s)));
      const ordered = sorted.filter((s) => refused.has(svcKey(s))).map((s) => refused.get(svcKey(s))!);
      return { services: realised.map((s) => stateOf(s, a)), errors: [...ordered, ...a.notes] };
    }
    for (const [k, why] of fresh) refused.set(k, why);
  }
}
