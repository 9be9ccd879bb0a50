/**
 * The model flattened into what kube-proxy works from: one entry per Service port, with its
 * frontends, traffic policy and the endpoints usable from one node. Anything that cannot be
 * written safely into a rule is left out and reported, so one bad object never breaks the
 * restore for every other Service.
 */
import {
  type ClusterModel,
  DEFAULT_AFFINITY_TIMEOUT_SECONDS,
  type EndpointPortState,
  type Protocol,
  type ServicePortState,
  type ServiceState,
} from '../../k8s/model.ts';
import {
  endpointChainName,
  type ServicePortChains,
  servicePortChains,
  servicePortName,
} from './chain-names.ts';

/** One usable backend of a service port. */
export interface EndpointView {
  ip: string;
  port: number;
  /** `ip:port`, as in comments and DNAT targets. */
  address: string;
  /** Runs on the node being rendered. */
  local: boolean;
  /** Its KUBE-SEP chain. */
  chain: string;
}

/** One Service port as the renderers see it. */
export interface ServicePortView {
  /** `namespace/name[:port]`. */
  name: string;
  /** `namespace/name` of the owning Service. */
  service: string;
  protocol: Protocol;
  clusterIP: string;
  port: number;
  /** Present for NodePort and LoadBalancer Services. */
  nodePort?: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** externalTrafficPolicy Local on a NodePort/LoadBalancer Service. */
  externalPolicyLocal: boolean;
  /** Seconds of ClientIP affinity, absent for affinity None. */
  affinitySeconds?: number;
  chains: ServicePortChains;
  /** Ready endpoints, sorted by address. */
  endpoints: EndpointView[];
}

/** The flattened model plus what had to be left out. */
export interface ServicePortsResult {
  ports: ServicePortView[];
  errors: string[];
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;
// Kubernetes names are DNS labels/subdomains; anything else could break a quoted comment.
const NAME = /^[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?$/;

/** True for a dotted-quad IPv4 address. */
export function isIPv4(text: string): boolean {
  return IPV4.test(text);
}

function isPort(n: unknown): n is number {
  return typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535;
}

type EndpointIndex = Map<string, EndpointPortState[]>;

/** Endpoints by `namespace/service`, so that large models are flattened in linear time. */
function indexEndpoints(model: ClusterModel): EndpointIndex {
  const index: EndpointIndex = new Map();
  for (const e of model.endpoints) {
    const key = `${e.namespace}/${e.serviceName}`;
    index.set(key, [...(index.get(key) ?? []), ...e.ports]);
  }
  return index;
}

function endpointsFor(index: EndpointIndex, svc: ServiceState, port: ServicePortState): EndpointPortState[] {
  const wanted = port.name ?? '';
  return (index.get(`${svc.namespace}/${svc.name}`) ?? []).filter(
    (p) => p.portName === wanted && p.protocol === port.protocol,
  );
}

function viewEndpoints(
  index: EndpointIndex,
  svc: ServiceState,
  port: ServicePortState,
  name: string,
  nodeName: string,
  errors: string[],
): EndpointView[] {
  const byAddress = new Map<string, EndpointView>();
  for (const group of endpointsFor(index, svc, port)) {
    if (!isPort(group.port)) {
      errors.push(`${name}: endpoint port ${group.port} is not a valid port; its endpoints are left out`);
      continue;
    }
    for (const ep of group.endpoints) {
      if (!ep.ready) continue;
      if (!isIPv4(ep.ip)) {
        errors.push(`${name}: endpoint ${ep.podName} has no IPv4 address (${ep.ip}); left out`);
        continue;
      }
      const address = `${ep.ip}:${group.port}`;
      if (byAddress.has(address)) continue;
      byAddress.set(address, {
        ip: ep.ip,
        port: group.port,
        address,
        local: ep.nodeName === nodeName,
        chain: endpointChainName(name, port.protocol, address),
      });
    }
  }
  return [...byAddress.values()].sort((a, b) => (a.address < b.address ? -1 : a.address > b.address ? 1 : 0));
}

function addresses(list: readonly string[], what: string, name: string, errors: string[]): string[] {
  const out: string[] = [];
  for (const ip of list) {
    if (isIPv4(ip)) out.push(ip);
    else errors.push(`${name}: ${what} ${ip} is not an IPv4 address; left out`);
  }
  return out;
}

function viewPort(
  index: EndpointIndex,
  svc: ServiceState,
  port: ServicePortState,
  nodeName: string,
  errors: string[],
): ServicePortView | undefined {
  const name = servicePortName(svc.namespace, svc.name, port.name);
  if (port.name !== undefined && port.name !== '' && !NAME.test(port.name)) {
    errors.push(
      `${svc.namespace}/${svc.name}: port name ${JSON.stringify(port.name)} is not valid; left out`,
    );
    return undefined;
  }
  if (port.protocol !== 'TCP' && port.protocol !== 'UDP') {
    errors.push(`${name}: protocol ${String(port.protocol)} is not supported; left out`);
    return undefined;
  }
  if (!isPort(port.port)) {
    errors.push(`${name}: port ${port.port} is not a valid port; left out`);
    return undefined;
  }
  const externallyTyped = svc.type === 'NodePort' || svc.type === 'LoadBalancer';
  let nodePort: number | undefined;
  if (externallyTyped && port.nodePort !== undefined) {
    if (isPort(port.nodePort)) nodePort = port.nodePort;
    else errors.push(`${name}: nodePort ${port.nodePort} is not a valid port; NodePort left out`);
  } else if (svc.type === 'NodePort') {
    errors.push(`${name}: NodePort Service port has no nodePort; NodePort left out`);
  }
  const externalIPs = addresses(svc.externalIPs ?? [], 'externalIP', name, errors);
  const loadBalancerIPs =
    svc.type === 'LoadBalancer' && svc.loadBalancerIP
      ? addresses([svc.loadBalancerIP], 'LoadBalancer IP', name, errors)
      : [];
  const externallyAccessible = nodePort !== undefined || externalIPs.length > 0 || loadBalancerIPs.length > 0;
  const view: ServicePortView = {
    name,
    service: `${svc.namespace}/${svc.name}`,
    protocol: port.protocol,
    clusterIP: svc.clusterIP,
    port: port.port,
    externalIPs,
    loadBalancerIPs,
    // Only NodePort and LoadBalancer Services may ask for Local; Kubernetes ignores it elsewhere.
    externalPolicyLocal: externallyTyped && externallyAccessible && svc.externalTrafficPolicy === 'Local',
    chains: servicePortChains(name, port.protocol),
    endpoints: viewEndpoints(index, svc, port, name, nodeName, errors),
  };
  if (nodePort !== undefined) view.nodePort = nodePort;
  if (svc.sessionAffinity === 'ClientIP') {
    view.affinitySeconds = svc.sessionAffinityTimeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_SECONDS;
  }
  return view;
}

/**
 * Flattens the model's Services into service ports for one node. Headless Services (no
 * cluster IP) are skipped as kube-proxy skips them; IPv6 is not handled by this IPv4 dataplane.
 */
export function servicePortsFor(model: ClusterModel, nodeName: string): ServicePortsResult {
  const ports: ServicePortView[] = [];
  const errors: string[] = [];
  const seen = new Set<string>();
  const index = indexEndpoints(model);
  for (const svc of model.services) {
    const id = `${svc.namespace}/${svc.name}`;
    if (!NAME.test(svc.namespace) || !NAME.test(svc.name)) {
      errors.push(`Service ${JSON.stringify(id)}: not a valid Kubernetes name; left out`);
      continue;
    }
    if (!svc.clusterIP || svc.clusterIP === 'None') continue;
    if (!isIPv4(svc.clusterIP)) {
      errors.push(`${id}: cluster IP ${svc.clusterIP} is not an IPv4 address; left out`);
      continue;
    }
    for (const port of svc.ports) {
      const view = viewPort(index, svc, port, nodeName, errors);
      if (!view) continue;
      const key = `${view.name}/${view.protocol}`;
      if (seen.has(key)) {
        errors.push(`${view.name}: ${view.protocol} port listed twice; the second is left out`);
        continue;
      }
      seen.add(key);
      ports.push(view);
    }
  }
  return { ports, errors };
}
