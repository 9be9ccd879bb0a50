import type { V1NetworkPolicySpec } from '@kubernetes/client-node';

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
  endpoints: EndpointsState[];
  /** The cluster-wide pod CIDR (kube-proxy's --cluster-cidr). */
  clusterCidr: string;
  /** The service CIDR. */
  serviceCidr: string;
  /** Every Namespace with its labels; absent in models written before policy was enforced. */
  namespaces?: NamespaceState[];
  /** Every NetworkPolicy; absent (like empty) in models written before policy was enforced. */
  policies?: NetworkPolicyState[];
}

/** The identity of a namespaced object: `namespace/name`. */
export function objectKey(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}
