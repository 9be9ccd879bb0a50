/**
 * Calico's policy objects as the control plane realises them: host endpoints (written ones and
 * the automatic one per node), GlobalNetworkPolicy and namespaced Calico NetworkPolicy, each
 * validated and normalised. Plain data, carried in the cluster model like Kubernetes policy.
 */

/** The API group every Calico object here is written with. */
export const CALICO_API = 'projectcalico.org/v3';

/** The store's name for `NetworkPolicy` of `projectcalico.org/v3` (kubectl's resource.group). */
export const CALICO_NETWORK_POLICY = 'NetworkPolicy.projectcalico.org';

/** The profile Calico gives automatic host endpoints: traffic no policy decides is allowed. */
export const DEFAULT_ALLOW_PROFILE = 'projectcalico-default-allow';

/** An inclusive port range. */
export interface PortRange {
  lo: number;
  hi: number;
}

/** One side of a rule (`source` or `destination`), as written, selectors unparsed. */
export interface CalicoEntity {
  nets?: string[];
  notNets?: string[];
  selector?: string;
  notSelector?: string;
  namespaceSelector?: string;
  ports?: PortRange[];
  notPorts?: PortRange[];
}

/** The actions a rule can take. */
export type CalicoAction = 'Allow' | 'Deny' | 'Log' | 'Pass';

/** One rule; protocols are IANA numbers. */
export interface CalicoRule {
  action: CalicoAction;
  protocol?: number;
  notProtocol?: number;
  source: CalicoEntity;
  destination: CalicoEntity;
}

/** A GlobalNetworkPolicy or namespaced Calico NetworkPolicy, normalised. */
export interface CalicoPolicyState {
  kind: 'GlobalNetworkPolicy' | typeof CALICO_NETWORK_POLICY;
  /** Set for a namespaced NetworkPolicy only. */
  namespace?: string;
  name: string;
  /** Absent: evaluated after every ordered policy, as Calico does. */
  order?: number;
  selector: string;
  /** GlobalNetworkPolicy only: also selects by the endpoint's namespace labels. */
  namespaceSelector?: string;
  types: ('Ingress' | 'Egress')[];
  ingress: CalicoRule[];
  egress: CalicoRule[];
  applyOnForward: boolean;
  preDNAT: boolean;
}

/** A host endpoint: an interface (or all of them, `*`) of a node, with labels. */
export interface HostEndpointState {
  name: string;
  node: string;
  /** `*` for every interface; absent: the interfaces holding one of `expectedIPs`. */
  interfaceName?: string;
  expectedIPs: string[];
  labels: Record<string, string>;
  profiles: string[];
  /** Made by the control plane (KubeControllersConfiguration autoCreate), not written. */
  auto: boolean;
}

/** The node facts an automatic host endpoint is made from. */
export interface NodeForHostEndpoint {
  name: string;
  index: number;
  ip: string;
}

/** Labels a node carries, as kubelet and kind put them on. */
export function nodeLabels(node: NodeForHostEndpoint): Record<string, string> {
  const labels: Record<string, string> = {
    'kubernetes.io/arch': 'amd64',
    'kubernetes.io/hostname': node.name,
    'kubernetes.io/os': 'linux',
  };
  if (node.index === 0) labels['node-role.kubernetes.io/control-plane'] = '';
  return labels;
}

/** The automatic host endpoint of a node, as kube-controllers creates it. */
export function autoHostEndpoint(node: NodeForHostEndpoint): HostEndpointState {
  return {
    name: `${node.name}-auto-hep`,
    node: node.name,
    interfaceName: '*',
    expectedIPs: [node.ip],
    labels: { ...nodeLabels(node), 'projectcalico.org/created-by': 'calico-kube-controllers' },
    profiles: [DEFAULT_ALLOW_PROFILE],
    auto: true,
  };
}

/**
 * Calico's default when `types` is not written: Ingress, plus Egress when egress rules exist,
 * and Egress alone when only egress rules exist.
 */
export function defaultPolicyTypes(ingress: number, egress: number): ('Ingress' | 'Egress')[] {
  if (egress > 0 && ingress === 0) return ['Egress'];
  if (egress > 0) return ['Ingress', 'Egress'];
  return ['Ingress'];
}

/** `GlobalNetworkPolicy deny-host`, `NetworkPolicy.projectcalico.org x/allow-a`: for messages. */
export function calicoPolicyLabel(p: Pick<CalicoPolicyState, 'kind' | 'namespace' | 'name'>): string {
  return p.namespace === undefined ? `${p.kind} ${p.name}` : `${p.kind} ${p.namespace}/${p.name}`;
}
