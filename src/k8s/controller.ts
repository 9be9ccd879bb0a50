/**
 * The embedded control plane's reconcile: from the stored objects, the nodes and the previous
 * model, the next model. Pure: the same inputs (and random source) give the same model.
 */
import { allocateServices } from './allocator.ts';
import { autoHostEndpoint, type HostEndpointState } from './calico-model.ts';
import { endpointsFromSources, endpointsOf, truncatedForEndpointsObject } from './endpoints.ts';
import type { ClusterModel, NodeState, PodState } from './model.ts';
import { type Random, seededRandom } from './naming.ts';
import { CLUSTER_CIDR, SERVICE_CIDR } from './ranges.ts';
import { schedulePods } from './scheduler.ts';
import type { ObjectStore } from './store.ts';

/** Written host endpoints, and one per node when KubeControllersConfiguration turns them on. */
function hostEndpointsOf(store: ObjectStore, nodes: readonly NodeState[]): HostEndpointState[] {
  const written = store.ofKind('HostEndpoint').map((r) => structuredClone(r.hostEndpoint));
  const auto = store.get('KubeControllersConfiguration', undefined, 'default')?.controllers.autoHostEndpoints;
  return auto ? [...written, ...nodes.map(autoHostEndpoint)] : written;
}

/** The failsafe ports of the cluster-wide FelixConfiguration. */
function failsafeOf(store: ObjectStore): NonNullable<ClusterModel['failsafe']> {
  const s = store.felixSettings();
  return { inbound: s.failsafeInboundHostPorts, outbound: s.failsafeOutboundHostPorts };
}

/** What one reconcile produced. */
export interface ReconcileResult {
  model: ClusterModel;
  /** Pods the new model has that the previous one did not. */
  podsAdded: PodState[];
  /** Pods of the previous model that are gone. */
  podsRemoved: PodState[];
  /** Objects that could not be realised (fully), one line each naming file, object and field. */
  errors: string[];
}

/**
 * Computes the model for the store's objects on these nodes, keeping what `previous` already
 * realised wherever the objects still ask for it. Pod-name suffixes come from `rng`; without
 * one they come from a fixed seed, so runs are reproducible.
 */
export function reconcile(
  store: ObjectStore,
  nodes: readonly NodeState[],
  previous: ClusterModel | undefined,
  rng: Random = seededRandom('dpconform'),
): ReconcileResult {
  const sortedNodes = [...nodes].sort((a, b) => a.index - b.index);
  const plan = schedulePods(store.ofKind('Deployment'), sortedNodes, previous?.pods ?? [], rng);
  const allocation = allocateServices(store.ofKind('Service'), previous?.services ?? []);
  // A Service with a selector gets the controller's endpoints; one without gets what was written
  // for it: its EndpointSlices, plus its Endpoints mirrored into slices (never the reverse).
  const slices = store.ofKind('EndpointSlice').flatMap((r) => r.sources);
  const written = store.ofKind('Endpoints').flatMap((r) => r.sources);
  const hasSelector = (s: (typeof allocation.services)[number]) => Object.keys(s.selector ?? {}).length > 0;
  const endpoints = allocation.services.map((s) =>
    hasSelector(s)
      ? endpointsOf(s, plan.pods)
      : endpointsFromSources(s, [...slices, ...written], sortedNodes),
  );
  const legacyEndpoints = allocation.services.map((s, i) =>
    hasSelector(s)
      ? truncatedForEndpointsObject(endpoints[i]!)
      : endpointsFromSources(s, written, sortedNodes),
  );
  return {
    model: {
      nodes: sortedNodes.map((n) => ({ ...n })),
      pods: plan.pods,
      services: allocation.services,
      endpoints,
      legacyEndpoints,
      monitors: store.ofKind('ServiceMonitor').map((r) => structuredClone(r.monitor)),
      clusterCidr: CLUSTER_CIDR,
      serviceCidr: SERVICE_CIDR,
      namespaces: store.ofKind('Namespace').map((r) => ({
        name: r.name,
        labels: { ...(r.object.metadata?.labels ?? {}) },
      })),
      policies: store.ofKind('NetworkPolicy').map((r) => ({
        namespace: r.namespace,
        name: r.name,
        spec: structuredClone(r.object.spec ?? { podSelector: {} }),
      })),
      hostEndpoints: hostEndpointsOf(store, sortedNodes),
      calicoPolicies: [
        ...store.ofKind('GlobalNetworkPolicy'),
        ...store.ofKind('NetworkPolicy.projectcalico.org'),
      ].map((r) => structuredClone(r.policy)),
      failsafe: failsafeOf(store),
    },
    podsAdded: plan.added,
    podsRemoved: plan.removed,
    errors: [...plan.errors, ...allocation.errors],
  };
}
