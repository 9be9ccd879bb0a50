import type { V1NetworkPolicySpec } from '@kubernetes/client-node';
import type { CalicoPolicyState, HostEndpointState } from './calico-model.ts';
import type { ProtoPort } from './felix-settings.ts';

/**
 * The realised cluster state that the embedded control plane computes from Kubernetes objects
 * and that every dataplane (iptables, eBPF) is programmed from. Plain data: serialisable, so a
 * later CLI invocation can pick up where the last one left off.
 */

/** Transport protocols a Service port can carry. */
export type Protocol = 'TCP' | 'UDP';

/** Service types the suite realises. */
export type ServiceType = 'ClusterIP' | 'NodePort' | 'LoadBalancer';

/** A node of the cluster as the control plane sees it. */
export interface NodeState {
  /** Kubernetes node name, e.g. `dpc-worker2`. */
  name: string;
  /** 0-based position; fixes the address plan. */
  index: number;
  /** InternalIP on the fabric (172.18.0.0/16). */
  ip: string;
  /** The node's pod CIDR (10.244.<index>.0/24). */
  podCidr: string;
}

/** A container port as declared in a pod template. */
export interface ContainerPort {
  name?: string;
  containerPort: number;
  protocol: Protocol;
}

/** A scheduled pod. */
export interface PodState {
  namespace: string;
  name: string;
  labels: Record<string, string>;
  nodeName: string;
  ip: string;
  /** The Deployment that owns the pod, if any. */
  owner?: string;
  ports: ContainerPort[];
  /** Name of the host-side veth in the node namespace (`cali` + 11 hex digits). */
  hostIface: string;
}

/** One port of a Service with its allocations. */
export interface ServicePortState {
  name?: string;
  protocol: Protocol;
  port: number;
  /** Numeric or named target port, as written in the Service. */
  targetPort: number | string;
  /** Allocated or requested nodePort (NodePort and LoadBalancer only). */
  nodePort?: number;
}

/** A Service with its allocated addresses. */
export interface ServiceState {
  namespace: string;
  name: string;
  type: ServiceType;
  clusterIP: string;
  externalIPs: string[];
  /** Allocated LoadBalancer VIP (LoadBalancer only). */
  loadBalancerIP?: string;
  externalTrafficPolicy: 'Cluster' | 'Local';
  sessionAffinity: 'None' | 'ClientIP';
  /** ClientIP affinity timeout (`sessionAffinityConfig.clientIP.timeoutSeconds`, default 10800); ClientIP only. */
  sessionAffinityTimeoutSeconds?: number;
  selector?: Record<string, string>;
  ports: ServicePortState[];
}

/** Kubernetes' ClientIP affinity timeout when a Service names none. */
export const DEFAULT_AFFINITY_TIMEOUT_SECONDS = 10_800;

/** One backend of a Service port, after targetPort resolution. */
export interface Endpoint {
  ip: string;
  nodeName: string;
  podName: string;
  ready: boolean;
}

/** The endpoints of one Service port, as an EndpointSlice would carry them. */
export interface EndpointPortState {
  /** Name of the Service port these endpoints serve (empty for an unnamed single port). */
  portName: string;
  protocol: Protocol;
  /** Resolved target port on the backends. */
  port: number;
  endpoints: Endpoint[];
}

/** All endpoints of one Service, per Service port. */
export interface EndpointsState {
  namespace: string;
  serviceName: string;
  /**
   * One entry per (Service port, resolved target port) that has endpoints; a named targetPort
   * can resolve to different numbers on different pods, giving several entries for one Service
   * port. A Service port with no endpoints has no entry.
   */
  ports: EndpointPortState[];
}

/** A Namespace with its labels (what a NetworkPolicy namespaceSelector is matched against). */
export interface NamespaceState {
  name: string;
  labels: Record<string, string>;
}

/** A stored NetworkPolicy: its identity and `spec` as validated (compiled by src/policy/). */
export interface NetworkPolicyState {
  namespace: string;
  name: string;
  spec: V1NetworkPolicySpec;
}

/** Everything a dataplane needs to program services and policy. */
export interface ClusterModel {
  nodes: NodeState[];
  pods: PodState[];
  services: ServiceState[];
  /**
   * Every Service's endpoints as its EndpointSlices carry them: the ones the EndpointSlice
   * controller publishes for a Service with a selector, and for one without, the slices written
   * for it and those mirrored from its written Endpoints object (as the API server mirrors them).
   */
  endpoints: EndpointsState[];
  /**
   * The same as the v1 Endpoints objects carry them (what a proxy that does not read
   * EndpointSlices sees): capped at 1000 addresses, and without the slices written for a Service
   * without a selector, which are never mirrored back. Absent in older models (like `endpoints`).
   */
  legacyEndpoints?: EndpointsState[];
  /** ServiceMonitors: where and how often the nodes' metrics are scraped. Absent in older models. */
  monitors?: ServiceMonitorState[];
  /** The cluster-wide pod CIDR (kube-proxy's --cluster-cidr). */
  clusterCidr: string;
  /** The service CIDR. */
  serviceCidr: string;
  /** Every Namespace with its labels; absent in models written before policy was enforced. */
  namespaces?: NamespaceState[];
  /** Every NetworkPolicy; absent (like empty) in models written before policy was enforced. */
  policies?: NetworkPolicyState[];
  /** Host endpoints, written and automatic; absent (like empty) in older models. */
  hostEndpoints?: HostEndpointState[];
  /** GlobalNetworkPolicies and Calico NetworkPolicies; absent (like empty) in older models. */
  calicoPolicies?: CalicoPolicyState[];
  /** The failsafe ports in force (FelixConfiguration); absent in older models (Calico's defaults). */
  failsafe?: { inbound: ProtoPort[]; outbound: ProtoPort[] };
}

/** One written EndpointSlice (discovery.k8s.io/v1) or Endpoints subset, normalised. */
export interface EndpointSourceState {
  namespace: string;
  /** The Service it belongs to (its `kubernetes.io/service-name` label, or an Endpoints' own name). */
  serviceName: string;
  ports: { name: string; port: number; protocol: Protocol }[];
  endpoints: { ip: string; ready: boolean; nodeName?: string; podName?: string }[];
}

/** A ServiceMonitor endpoint as `dpconform metrics` scrapes it. */
export interface ServiceMonitorState {
  namespace: string;
  name: string;
  /** The port as written: a port name or a number. */
  port: string | number;
  path: string;
  intervalSeconds: number;
  /** True when its selector picks the calico-node endpoints (`k8s-app: calico-node`). */
  selectsCalicoNode: boolean;
}

/** The identity of a namespaced object: `namespace/name`. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
