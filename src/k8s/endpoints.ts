/**
 * Endpoints, as the EndpointSlice controller computes them: for each Service port, the pods of
 * the Service's namespace that match its selector, at the port the targetPort resolves to.
 */

import { mustIpv4 } from './ip.ts';
import { mapMatches } from './label-selector.ts';
import type {
  Endpoint,
  EndpointPortState,
  EndpointsState,
  PodState,
  ServicePortState,
  ServiceState,
} from './model.ts';

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
