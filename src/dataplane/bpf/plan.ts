/**
 * Pure control plane: from the realised cluster model to the map entries one node should hold.
 *
 * Invariants the programs rely on:
 * - a service port's "cluster" backend set has the same ordinals on every node (endpoints sorted
 *   by address and port), because the frontend node sends only the ordinal (the VNI) to the
 *   backend node, which resolves it against its own maps;
 * - a service is programmed whole or not at all: its frontends and backends are admitted together
 *   against the map sizes, services already programmed first.
 */
import type {
  ClusterModel,
  EndpointPortState,
  EndpointsState,
  Protocol,
  ServicePortState,
  ServiceState,
} from '../../k8s/model.ts';
import {
  type BackendValue,
  encodeBackendKey,
  encodeBackendValue,
  encodeFrontendKey,
  encodeFrontendValue,
  encodeRouteKey,
  encodeRouteValue,
  type FrontendKey,
  type FrontendValue,
  type RouteValue,
  toHexWords,
} from './encoding.ts';
import { FE_FLAG, MAP, VNI_RETURN } from './layout.ts';

/** One entry to hold in a map, with its bytes and the object it belongs to. */
export interface PlannedEntry {
  key: Uint8Array;
  value: Uint8Array;
  /** `namespace/name` of the Service, or `route` for routes. */
  owner: string;
}

/** Everything one node's maps and local routes should hold. */
export interface NodePlan {
  /** Keyed by the hex of the encoded key. */
  frontends: Map<string, PlannedEntry>;
  backends: Map<string, PlannedEntry>;
  routes: Map<string, PlannedEntry>;
  /** CIDRs the node must treat as its own (`local` routes), so that it refuses them itself. */
  localCidrs: string[];
  /** Services programmed whole. */
  services: string[];
  /** One line per thing that could not be programmed. */
  errors: string[];
}

/** The node being planned and the interfaces it has. */
export interface PlanNode {
  name: string;
  ip: string;
  podCidr: string;
  /** ifindex of each interface of the node, by name. */
  ifindexes: ReadonlyMap<string, number>;
}

/** Capacities of the maps the plan fills. */
export interface PlanLimits {
  natFrontend: number;
  natBackend: number;
  route: number;
}

/** Service ids, stable across syncs and shared by all nodes. */
export class ServiceIds {
  private readonly ids = new Map<string, number>();
  private next = 1;

  private readonly touched = new Set<string>();

  /** The id of a service port's backend set, allocating one the first time. */
  idFor(setKey: string): number {
    this.touched.add(setKey);
    let id = this.ids.get(setKey);
    if (id === undefined) {
      id = this.next++;
      this.ids.set(setKey, id);
    }
    return id;
  }

  /** Forgets the sets no plan asked for since the last call (services that went away). */
  sweep(): void {
    for (const k of [...this.ids.keys()]) if (!this.touched.has(k)) this.ids.delete(k);
    this.touched.clear();
  }

  /** Takes over ids found programmed (after a restart), so that they keep their meaning. */
  adopt(setKey: string, id: number): void {
    if (this.ids.has(setKey) || [...this.ids.values()].includes(id)) return;
    this.ids.set(setKey, id);
    if (id >= this.next) this.next = id + 1;
  }

  /** Hands out only ids above `id` from now on (ids found in maps whose owners are unknown). */
  reserveThrough(id: number): void {
    if (id >= this.next) this.next = id + 1;
  }

  /** The number of ids held. */
  get size(): number {
    return this.ids.size;
  }
}

/** Hex identity of an encoded key. */
export function keyId(key: Uint8Array): string {
  return toHexWords(key);
}

interface Backend {
  ip: string;
  port: number;
  nodeName: string;
}

const endpointIndex = new WeakMap<ClusterModel['endpoints'], Map<string, EndpointsState>>();
const nodeIpIndex = new WeakMap<ClusterModel['nodes'], Map<string, string>>();

/** Endpoints by `namespace/service`, built once per model (a linear search is quadratic at 10k services). */
function endpointsOf(model: ClusterModel, svc: ServiceState): EndpointsState | undefined {
  let index = endpointIndex.get(model.endpoints);
  if (!index) {
    index = new Map(model.endpoints.map((e) => [`${e.namespace}/${e.serviceName}`, e]));
    endpointIndex.set(model.endpoints, index);
  }
  return index.get(`${svc.namespace}/${svc.name}`);
}

function nodeIps(model: ClusterModel): Map<string, string> {
  let index = nodeIpIndex.get(model.nodes);
  if (!index) {
    index = new Map(model.nodes.map((n) => [n.name, n.ip]));
    nodeIpIndex.set(model.nodes, index);
  }
  return index;
}

/** The ready endpoints of one service port, sorted so that ordinals agree across nodes. */
export function backendsOf(model: ClusterModel, svc: ServiceState, port: ServicePortState): Backend[] {
  const eps = endpointsOf(model, svc);
  const ep: EndpointPortState | undefined = eps?.ports.find(
    (p) => p.protocol === port.protocol && p.portName === (port.name ?? ''),
  );
  if (!ep) return [];
  const seen = new Set<string>();
  const out: Backend[] = [];
  for (const e of ep.endpoints) {
    if (!e.ready) continue;
    const id = `${e.ip}:${ep.port}`;
    if (seen.has(id)) continue;
    seen.add(id);
    out.push({ ip: e.ip, port: ep.port, nodeName: e.nodeName });
  }
  return out.sort((x, y) => compareIp(x.ip, y.ip) || x.port - y.port);
}

function compareIp(x: string, y: string): number {
  const a = x.split('.').map(Number);
  const b = y.split('.').map(Number);
  for (let i = 0; i < 4; i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function hasClusterIp(svc: ServiceState): boolean {
  return svc.clusterIP !== '' && svc.clusterIP !== 'None';
}

/** The addresses a service answers on from outside (LoadBalancer VIP, externalIPs). */
export function externalAddresses(svc: ServiceState): string[] {
  const out = [...svc.externalIPs];
  if (svc.type === 'LoadBalancer' && svc.loadBalancerIP) out.push(svc.loadBalancerIP);
  return [...new Set(out)];
}

/** The frontends and backends one service needs on one node. */
export function serviceEntries(
  model: ClusterModel,
  svc: ServiceState,
  node: PlanNode,
  ids: ServiceIds,
): { frontends: PlannedEntry[]; backends: PlannedEntry[]; errors: string[] } {
  const owner = `${svc.namespace}/${svc.name}`;
  const nodeIp = nodeIps(model);
  const frontends: PlannedEntry[] = [];
  const backends: PlannedEntry[] = [];
  const errors: string[] = [];
  const local = svc.externalTrafficPolicy === 'Local';
  const affinity = svc.sessionAffinity === 'ClientIP' ? FE_FLAG.affinity : 0;

  for (const port of svc.ports) {
    const all = backendsOf(model, svc, port);
    const mine = all.filter((b) => b.nodeName === node.name);
    if (all.length > 0xffff || all.length >= VNI_RETURN) {
      errors.push(
        `${owner}: port ${port.port}/${port.protocol} has ${all.length} endpoints, more than a frontend can hold`,
      );
      continue;
    }
    const portKey = `${owner}:${port.protocol}:${port.port}`;
    const sets = new Map<string, { id: number; value: FrontendValue }>();
    const setFor = (variant: 'cluster' | 'local') => {
      const existing = sets.get(variant);
      if (existing) return existing;
      const members = variant === 'cluster' ? all : mine;
      const id = ids.idFor(`${portKey}:${variant}`);
      // Local with endpoints elsewhere only: drop like kube-proxy. No endpoints at all: refuse.
      const flags = (variant === 'local' && all.length > 0 ? FE_FLAG.local : 0) | affinity;
      members.forEach((b, ordinal) => {
        const value: BackendValue = { addr: b.ip, port: b.port, nodeIp: nodeIp.get(b.nodeName) ?? '0.0.0.0' };
        backends.push({
          key: encodeBackendKey({ svcId: id, ordinal }),
          value: encodeBackendValue(value),
          owner,
        });
      });
      const set = {
        id,
        value: { svcId: id, count: members.length, flags, affinityS: svc.sessionAffinityTimeoutSeconds ?? 0 },
      };
      sets.set(variant, set);
      return set;
    };
    const addFrontend = (addr: string, p: number, proto: Protocol, variant: 'cluster' | 'local') => {
      const key: FrontendKey = { addr, port: p, proto };
      frontends.push({
        key: encodeFrontendKey(key),
        value: encodeFrontendValue(setFor(variant).value),
        owner,
      });
    };
    const external = local ? 'local' : 'cluster';
    if (hasClusterIp(svc)) addFrontend(svc.clusterIP, port.port, port.protocol, 'cluster');
    if (svc.type !== 'ClusterIP' && port.nodePort)
      addFrontend('0.0.0.0', port.nodePort, port.protocol, external);
    for (const ip of externalAddresses(svc)) addFrontend(ip, port.port, port.protocol, external);
  }
  // A service listing the same port twice would otherwise clash with itself.
  const unique = new Map(frontends.map((e) => [keyId(e.key), e]));
  return { frontends: [...unique.values()], backends, errors };
}

/** The routes map content of one node. */
export function routeEntries(
  model: ClusterModel,
  node: PlanNode,
): { entries: PlannedEntry[]; missing: string[] } {
  const entries: PlannedEntry[] = [];
  const missing: string[] = [];
  const put = (cidr: string, value: RouteValue) =>
    entries.push({ key: encodeRouteKey({ cidr }), value: encodeRouteValue(value), owner: 'route' });
  for (const n of model.nodes) {
    if (n.name === node.name) {
      put(`${n.ip}/32`, { type: 'localHost', ifindex: 0, nodeIp: n.ip });
    } else {
      put(`${n.ip}/32`, { type: 'remoteHost', ifindex: 0, nodeIp: n.ip });
      put(n.podCidr, { type: 'remoteWorkload', ifindex: 0, nodeIp: n.ip });
    }
  }
  for (const pod of model.pods) {
    if (pod.nodeName !== node.name || !pod.ip) continue;
    const ifindex = node.ifindexes.get(pod.hostIface);
    if (ifindex === undefined) {
      missing.push(`${pod.namespace}/${pod.name}`);
      continue;
    }
    put(`${pod.ip}/32`, { type: 'localWorkload', ifindex, nodeIp: node.ip });
  }
  return { entries, missing };
}

/**
 * Plans one node. `programmed` names the services the node holds now: they are admitted first,
 * so that a newcomer never pushes out a working service when a map is full.
 */
export function planNode(
  model: ClusterModel,
  node: PlanNode,
  ids: ServiceIds,
  limits: PlanLimits,
  programmed: ReadonlySet<string> = new Set(),
): NodePlan {
  const plan: NodePlan = {
    frontends: new Map(),
    backends: new Map(),
    routes: new Map(),
    localCidrs: [],
    services: [],
    errors: [],
  };
  const routes = routeEntries(model, node);
  for (const e of routes.entries) {
    if (plan.routes.size >= limits.route) {
      plan.errors.push(`route table full: ${MAP.routes} on node ${node.name} holds ${limits.route} entries`);
      break;
    }
    plan.routes.set(keyId(e.key), e);
  }

  const ordered = model.services
    .map((svc) => {
      const key = `${svc.namespace}/${svc.name}`;
      return { svc, key, rank: programmed.has(key) ? 0 : 1 };
    })
    .sort((x, y) => x.rank - y.rank || (x.key < y.key ? -1 : x.key > y.key ? 1 : 0))
    .map((o) => o.svc);
  const local = new Set<string>();
  if (model.serviceCidr) local.add(model.serviceCidr);
  for (const svc of ordered) {
    const owner = `${svc.namespace}/${svc.name}`;
    const { frontends, backends, errors } = serviceEntries(model, svc, node, ids);
    if (errors.length > 0) {
      plan.errors.push(...errors);
      continue;
    }
    const clash = frontends.find((e) => plan.frontends.has(keyId(e.key)));
    if (clash) {
      const other = plan.frontends.get(keyId(clash.key))?.owner;
      plan.errors.push(
        `${owner}: a frontend is already used by ${other}; service not programmed on ${node.name}`,
      );
      continue;
    }
    if (plan.frontends.size + frontends.length > limits.natFrontend) {
      plan.errors.push(
        `${owner}: does not fit in ${MAP.natFrontend} on node ${node.name} (${limits.natFrontend} entries max); service not programmed`,
      );
      continue;
    }
    if (plan.backends.size + backends.length > limits.natBackend) {
      plan.errors.push(
        `${owner}: does not fit in ${MAP.natBackend} on node ${node.name} (${limits.natBackend} entries max); service not programmed`,
      );
      continue;
    }
    for (const e of frontends) plan.frontends.set(keyId(e.key), e);
    for (const e of backends) plan.backends.set(keyId(e.key), e);
    for (const ip of externalAddresses(svc)) local.add(`${ip}/32`);
    plan.services.push(owner);
  }
  plan.localCidrs = [...local].sort();
  return plan;
}
