/**
 * Endpoints, as the EndpointSlice controller computes them: for each Service port, the pods of
 * the Service's namespace that match its selector, at the port the targetPort resolves to.
 */

import { cidrContains, mustCidr4, mustIpv4 } from './ip.ts';
import { mapMatches } from './label-selector.ts';
import type {
  Endpoint,
  EndpointPortState,
  EndpointSourceState,
  EndpointsState,
  NodeState,
  PodState,
  ServicePortState,
  ServiceState,
} from './model.ts';

/** The most addresses a v1 Endpoints object holds; the API server truncates beyond it. */
export const ENDPOINTS_MAX_ADDRESSES = 1000;

/**
 * The port a pod serves a Service port on: a number as written, or the pod's container port
 * of that name and the Service port's protocol (undefined when the pod has none).
 */
export function resolveTargetPort(port: ServicePortState, pod: PodState): number | undefined {
  if (typeof port.targetPort === 'number') return port.targetPort;
  return pod.ports.find((p) => p.name === port.targetPort && p.protocol === port.protocol)?.containerPort;
}

function byAddress(a: Endpoint, b: Endpoint): number {
  return mustIpv4(a.ip) - mustIpv4(b.ip);
}

/** The endpoints of one Service; a Service without a selector has none. */
export function endpointsOf(service: ServiceState, pods: readonly PodState[]): EndpointsState {
  const selector = service.selector;
  const backends =
    selector && Object.keys(selector).length > 0
      ? pods.filter((p) => p.namespace === service.namespace && mapMatches(selector, p.labels))
      : [];
  const ports: EndpointPortState[] = [];
  for (const port of service.ports) {
    const byTarget = new Map<number, Endpoint[]>();
    for (const pod of backends) {
      const target = resolveTargetPort(port, pod);
      if (target === undefined) continue;
      const list = byTarget.get(target) ?? [];
      list.push({ ip: pod.ip, nodeName: pod.nodeName, podName: pod.name, ready: true });
      byTarget.set(target, list);
    }
    for (const target of [...byTarget.keys()].sort((a, b) => a - b)) {
      ports.push({
        portName: port.name ?? '',
        protocol: port.protocol,
        port: target,
        endpoints: byTarget.get(target)!.sort(byAddress),
      });
    }
  }
  return { namespace: service.namespace, serviceName: service.name, ports };
}

/** The node an endpoint runs on: as written, else the node whose pod CIDR holds its address. */
function nodeOfAddress(ip: string, written: string | undefined, nodes: readonly NodeState[]): string {
  if (written) return written;
  const n = mustIpv4(ip);
  return nodes.find((node) => cidrContains(mustCidr4(node.podCidr), n))?.name ?? '';
}

/**
 * The endpoints of a Service without a selector, from what was written for it (EndpointSlices,
 * or Endpoints subsets): each Service port takes the source ports of its name and protocol.
 */
export function endpointsFromSources(
  service: ServiceState,
  sources: readonly EndpointSourceState[],
  nodes: readonly NodeState[],
): EndpointsState {
  const mine = sources.filter((s) => s.namespace === service.namespace && s.serviceName === service.name);
  const ports: EndpointPortState[] = [];
  for (const port of service.ports) {
    const byTarget = new Map<number, Endpoint[]>();
    for (const src of mine) {
      for (const sp of src.ports) {
        if (sp.name !== (port.name ?? '') || sp.protocol !== port.protocol) continue;
        const list = byTarget.get(sp.port) ?? [];
        for (const e of src.endpoints)
          list.push({
            ip: e.ip,
            nodeName: nodeOfAddress(e.ip, e.nodeName, nodes),
            podName: e.podName ?? '',
            ready: e.ready,
          });
        byTarget.set(sp.port, list);
      }
    }
    for (const target of [...byTarget.keys()].sort((a, b) => a - b)) {
      const unique = new Map(byTarget.get(target)!.map((e) => [e.ip, e]));
      ports.push({
        portName: port.name ?? '',
        protocol: port.protocol,
        port: target,
        endpoints: [...unique.values()].sort(byAddress),
      });
    }
  }
  return { namespace: service.namespace, serviceName: service.name, ports };
}

/** The v1 Endpoints view of computed endpoints: at most 1000 addresses, as the API server keeps. */
export function truncatedForEndpointsObject(eps: EndpointsState): EndpointsState {
  const keep = new Set(
    [...new Set(eps.ports.flatMap((p) => p.endpoints.map((e) => e.ip)))].slice(0, ENDPOINTS_MAX_ADDRESSES),
  );
  return {
    ...eps,
    ports: eps.ports.map((p) => ({ ...p, endpoints: p.endpoints.filter((e) => keep.has(e.ip)) })),
  };
}
