/**
 * The compiled form of Kubernetes NetworkPolicy: per pod and direction, whether the pod is
 * isolated and which traffic is allowed. Plain data, independent of any dataplane, so that the
 * iptables chains and the eBPF policy maps are programmed from the same thing.
 */
import type { CalicoPolicyState, HostEndpointState } from '../k8s/calico-model.ts';
import type { NamespaceState, NetworkPolicyState, PodState, Protocol } from '../k8s/model.ts';

/** What the compiler reads: the same objects a real cluster's API server would hold. */
export interface PolicyInputs {
  policies: readonly NetworkPolicyState[];
  pods: readonly PodState[];
  namespaces: readonly NamespaceState[];
  /** GlobalNetworkPolicies and Calico NetworkPolicies (none when absent). */
  calicoPolicies?: readonly CalicoPolicyState[];
  /** Host endpoints, which Calico rules' selectors can pick as peers. */
  hostEndpoints?: readonly HostEndpointState[];
}

/** Traffic direction as seen from the selected pod. */
export type Direction = 'ingress' | 'egress';

/** An ipBlock: addresses in `cidr` but in none of `except`. */
export interface CidrPeer {
  cidr: string;
  except: string[];
}

/** The peers a rule admits: any address in one of the CIDRs, or one of the pod addresses. */
export interface PeerSet {
  cidrs: CidrPeer[];
  /** Pod IPs, sorted and unique. */
  podIps: string[];
}

/** One port or port range of one protocol; without `port`, every port of the protocol. */
export interface PortMatch {
  protocol: Protocol;
  port?: number;
  /** Last port of a range (inclusive); absent for a single port. */
  endPort?: number;
}

/** One allow rule: peers (source for ingress, destination for egress) and destination ports. */
export interface AllowRule {
  /** Undefined admits every peer; otherwise only these (never empty: such rules are dropped). */
  peers?: PeerSet;
  /** Undefined admits every port and protocol; otherwise only these (never empty). */
  ports?: PortMatch[];
  /** Where the rule came from, e.g. `x/allow-a ingress[0]`, for comments and messages. */
  origin: string;
}

/** One direction of one pod. */
export interface DirectionPolicy {
  /** True when some policy selecting the pod has this policy type: default deny. */
  isolated: boolean;
  /** `namespace/name` of the policies that isolate the pod in this direction, sorted. */
  policies: string[];
  /** What is allowed (replies of allowed connections are allowed as well, statefully). */
  rules: AllowRule[];
}

/** The compiled policy of one pod. */
export interface PodPolicy {
  namespace: string;
  name: string;
  ip: string;
  nodeName: string;
  /** Host-side veth of the pod in its node's namespace. */
  hostIface: string;
  ingress: DirectionPolicy;
  egress: DirectionPolicy;
}
