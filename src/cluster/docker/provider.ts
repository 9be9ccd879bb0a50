/**
 * The docker provider: nodes and external clients are containers on a user-defined network with
 * kind's address plan, started with testcontainers on this machine's Docker engine or on a
 * private one started for the run; pods are network namespaces inside their node. Everything
 * above it acts through the places it hands out.
 */
import type { PodState } from '../../k8s/model.ts';
import { MAX_CLIENTS, MAX_NODES } from '../netns/address-plan.ts';
import { podInfo as netnsPodInfo, vipRouteLine } from '../netns/plan.ts';
import type { ExternalRoute, Provider } from '../provider.ts';
import type { PodInfo, Topology } from '../types.ts';
import { nodeImageTag } from './image.ts';
import { clientPlace, ipBatchIn, nodePlace, podNetnsName, podPlace } from './places.ts';
import { containerName, planDockerTopology } from './plan.ts';
import { addContainerPods, removeContainerPods } from './pods.ts';
import { dockerSteps } from './provision.ts';
import { reapDocker } from './reaper.ts';

/** The pod as the harness reaches it: a namespace in its node's container. */
function podInfo(runId: string, pod: PodState): PodInfo {
  const info = netnsPodInfo(runId, pod);
  return {
    ...info,
    where: `netns ${podNetnsName(runId, info)} in container ${containerName(runId, pod.nodeName)}`,
  };
}

/** Node containers on a Docker engine. */
export const dockerProvider: Provider = {
  name: 'docker',
  limits: { maxNodes: MAX_NODES, maxClients: MAX_CLIENTS },

  plan: (runId, size) => ({ ...planDockerTopology(runId, size), nodeImage: nodeImageTag() }),

  provisionSteps: (t) => dockerSteps(t),

  podInfo,

  addPods: (t, pods) => addContainerPods(t, pods),

  removePods: (t, pods) => removeContainerPods(t, pods),

  nodePlace,

  clientPlace,

  podPlace,

  async routeExternal(t: Topology, routes: readonly ExternalRoute[]): Promise<void> {
    const lines = routes.map((r) =>
      r.via === undefined ? `route del ${r.ip}/32` : vipRouteLine(r.ip, r.via),
    );
    if (lines.length === 0) return;
    await Promise.all(t.clients.map((c) => ipBatchIn(clientPlace(t, c), lines)));
  },

  reap: (runId) => reapDocker(runId),
};
