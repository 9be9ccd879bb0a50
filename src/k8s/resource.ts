/**
 * Validated objects as the store keeps them: the object as written (typed with
 * @kubernetes/client-node's models, namespace filled in), where it came from, and what the
 * validator had to say about it.
 */
import type {
  V1Deployment,
  V1Namespace,
  V1NetworkPolicy,
  V1ObjectMeta,
  V1Service,
} from '@kubernetes/client-node';
import type { CalicoPolicyState, HostEndpointState } from './calico-model.ts';
import type { FelixSpecResult } from './felix.ts';
import type { SupportedKind } from './kinds.ts';
import { type ManifestSource, objectLabel } from './manifest.ts';
import type { EndpointSourceState, ServiceMonitorState } from './model.ts';
import type { KubeControllersSettings } from './validate-host-endpoint.ts';
import type { InstallationState } from './validate-operator.ts';

interface ResourceBase {
  apiVersion: string;
  name: string;
  source: ManifestSource;
  /** One line per accepted-but-ignored field. */
  warnings: string[];
}

/** A Namespace. */
export interface NamespaceResource extends ResourceBase {
  kind: 'Namespace';
  namespace: undefined;
  object: V1Namespace;
}

/** An apps/v1 Deployment. */
export interface DeploymentResource extends ResourceBase {
  kind: 'Deployment';
  namespace: string;
  object: V1Deployment;
}

/** A v1 Service. */
export interface ServiceResource extends ResourceBase {
  kind: 'Service';
  namespace: string;
  object: V1Service;
}

/** A networking.k8s.io/v1 NetworkPolicy (stored and validated; enforced by the dataplane). */
export interface NetworkPolicyResource extends ResourceBase {
  kind: 'NetworkPolicy';
  namespace: string;
  object: V1NetworkPolicy;
}

/** A FelixConfiguration object as written (Calico's API has no client-node model). */
export interface FelixConfigurationObject {
  apiVersion: string;
  kind: 'FelixConfiguration';
  metadata: V1ObjectMeta;
  spec?: Record<string, unknown>;
}

/** A FelixConfiguration with its checked settings. */
export interface FelixConfigurationResource extends ResourceBase {
  kind: 'FelixConfiguration';
  namespace: undefined;
  object: FelixConfigurationObject;
  felix: FelixSpecResult;
}

/** A Calico object as written (Calico's API has no client-node model). */
export interface CalicoObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  spec?: Record<string, unknown>;
}

/** A HostEndpoint, normalised. */
export interface HostEndpointResource extends ResourceBase {
  kind: 'HostEndpoint';
  namespace: undefined;
  object: CalicoObject;
  hostEndpoint: HostEndpointState;
}

/** A GlobalNetworkPolicy, normalised. */
export interface GlobalNetworkPolicyResource extends ResourceBase {
  kind: 'GlobalNetworkPolicy';
  namespace: undefined;
  object: CalicoObject;
  policy: CalicoPolicyState;
}

/** A namespaced Calico NetworkPolicy, normalised. */
export interface CalicoNetworkPolicyResource extends ResourceBase {
  kind: 'NetworkPolicy.projectcalico.org';
  namespace: string;
  object: CalicoObject;
  policy: CalicoPolicyState;
}

/** The KubeControllersConfiguration (only `default` exists). */
export interface KubeControllersResource extends ResourceBase {
  kind: 'KubeControllersConfiguration';
  namespace: undefined;
  object: CalicoObject;
  controllers: KubeControllersSettings;
}

/** An object as written, for kinds without a client-node model of their own. */
export interface WrittenObject {
  apiVersion: string;
  kind: string;
  metadata: V1ObjectMeta;
  [field: string]: unknown;
}

/** An EndpointSlice written for a Service, with what a proxy reads of it. */
export interface EndpointSliceResource extends ResourceBase {
  kind: 'EndpointSlice';
  namespace: string;
  object: WrittenObject;
  sources: EndpointSourceState[];
}

/** An Endpoints object written for a Service, with what a proxy reads of it. */
export interface EndpointsResource extends ResourceBase {
  kind: 'Endpoints';
  namespace: string;
  object: WrittenObject;
  sources: EndpointSourceState[];
}

/** The operator's Installation (only `default` exists). */
export interface InstallationResource extends ResourceBase {
  kind: 'Installation';
  namespace: undefined;
  object: WrittenObject;
  installation: InstallationState;
}

/** A Prometheus operator ServiceMonitor. */
export interface ServiceMonitorResource extends ResourceBase {
  kind: 'ServiceMonitor';
  namespace: string;
  object: WrittenObject;
  monitor: ServiceMonitorState;
}

/** Any object the store holds. */
export type Resource =
  | NamespaceResource
  | DeploymentResource
  | ServiceResource
  | NetworkPolicyResource
  | FelixConfigurationResource
  | HostEndpointResource
  | GlobalNetworkPolicyResource
  | CalicoNetworkPolicyResource
  | KubeControllersResource
  | EndpointSliceResource
  | EndpointsResource
  | InstallationResource
  | ServiceMonitorResource;

/** The identity of an object, independent of apiVersion. */
export interface ObjectRef {
  kind: SupportedKind;
  namespace: string | undefined;
  name: string;
}

/** `Service/default/web`, `Namespace//team-a`: the store's key for an object. */
export function refKey(ref: ObjectRef): string {
  return `${ref.kind}/${ref.namespace ?? ''}/${ref.name}`;
}

/** `Service default/web`: how messages name an object. */
export function refLabel(ref: ObjectRef): string {
  return objectLabel(ref.kind, ref.namespace, ref.name);
}
