/**
 * The object kinds the embedded control plane understands, with the apiVersions that serve them
 * and their scope.
 */

/** What the control plane knows about one kind. */
export interface KindInfo {
  /** apiVersions accepted for the kind, preferred first. */
  apiVersions: readonly string[];
  /** Namespaced objects default to namespace `default`; cluster-scoped ones have none. */
  namespaced: boolean;
}

/** The apiVersions Calico's objects are served by. */
const CALICO_API_VERSIONS = ['projectcalico.org/v3', 'crd.projectcalico.org/v1'] as const;

/**
 * The store's kind for what a manifest writes: Calico's `NetworkPolicy` is a kind of its own
 * (`NetworkPolicy.projectcalico.org`), as it is a resource of its own in a real API server.
 */
export function storedKind(kind: string, apiVersion: unknown): string {
  if (kind === 'NetworkPolicy' && typeof apiVersion === 'string' && apiVersion.includes('projectcalico.org'))
    return 'NetworkPolicy.projectcalico.org';
  return kind;
}

/** Every supported kind, in the order a batch is committed (namespaces before their contents). */
export const KINDS = {
  Namespace: { apiVersions: ['v1'], namespaced: false },
  FelixConfiguration: {
    apiVersions: ['projectcalico.org/v3', 'crd.projectcalico.org/v1'],
    namespaced: false,
  },
  // What the operator writes into FelixConfiguration: after it, so it is applied second.
  Installation: { apiVersions: ['operator.tigera.io/v1'], namespaced: false },
  Deployment: { apiVersions: ['apps/v1'], namespaced: true },
  Service: { apiVersions: ['v1'], namespaced: true },
  EndpointSlice: { apiVersions: ['discovery.k8s.io/v1'], namespaced: true },
  Endpoints: { apiVersions: ['v1'], namespaced: true },
  // The guide writes `apiVersion: v1`; the Prometheus operator serves monitoring.coreos.com/v1.
  ServiceMonitor: { apiVersions: ['monitoring.coreos.com/v1', 'v1'], namespaced: true },
  NetworkPolicy: { apiVersions: ['networking.k8s.io/v1'], namespaced: true },
  // Calico's objects; its NetworkPolicy shares the kind name, so the store keys it by resource.group.
  KubeControllersConfiguration: { apiVersions: CALICO_API_VERSIONS, namespaced: false },
  HostEndpoint: { apiVersions: CALICO_API_VERSIONS, namespaced: false },
  GlobalNetworkPolicy: { apiVersions: CALICO_API_VERSIONS, namespaced: false },
  'NetworkPolicy.projectcalico.org': { apiVersions: CALICO_API_VERSIONS, namespaced: true },
} as const satisfies Record<string, KindInfo>;

/** A kind the control plane supports. */
export type SupportedKind = keyof typeof KINDS;

/** The supported kinds, in commit order. */
export const SUPPORTED_KINDS = Object.keys(KINDS) as SupportedKind[];

/** True when the kind is one the control plane supports (apiVersion aside). */
export function isSupportedKind(kind: string): kind is SupportedKind {
  return Object.hasOwn(KINDS, kind);
}

/** `Namespace (v1), Deployment (apps/v1), ...`, for error messages. */
export function describeSupportedKinds(): string {
  return SUPPORTED_KINDS.map((k) => `${k} (${KINDS[k].apiVersions.join(', ')})`).join(', ');
}

/** The namespace objects of a namespaced kind land in when the manifest names none. */
export const DEFAULT_NAMESPACE = 'default';

/** Namespaces that always exist and may not be deleted. */
export const BUILT_IN_NAMESPACES: readonly string[] = ['default', 'kube-system'];
