/**
 * The netns provider: every place of a run is a network namespace of this machine, named with
 * the run's prefix. This file (with ./ip.ts) is the only code that knows `nsenter` and
 * `/run/netns`; everything above it acts through the places it hands out.
 */
import type { NodePlace, Place } from '../../node/place.ts';
import { wrappedNode, wrappedPlace } from '../../node/wrapped.ts';
import type { ExternalRoute, Provider } from '../provider.ts';
import type { ClientInfo, NodeInfo, PodInfo, Topology } from '../types.ts';
import {
  clientNetns,
  MAX_CLIENTS,
  MAX_NODES,
  nodeNetns,
  podNetns,
  runBpffsDir,
  runCgroupDir,
} from './address-plan.ts';
import { createPods, infraSteps, removePods } from './infra.ts';
import { enterNetns, ipBatch } from './ip.ts';
import { planTopology, podInfo, vipRouteLine } from './plan.ts';
import { reap } from './reaper.ts';

function placeIn(name: string, kind: Place['kind'], netns: string): Place {
  return wrappedPlace({ name, kind, where: `netns ${netns}`, wrap: (argv) => enterNetns(netns, argv) });
}

/** The embedded provider: network namespaces on this machine, nothing in the root namespace. */
export const netnsProvider: Provider = {
  name: 'netns',
  limits: { maxNodes: MAX_NODES, maxClients: MAX_CLIENTS },

  plan: (runId, size) => planTopology({ runId, nodes: size.nodes, clients: size.clients }),

  provisionSteps: (t) => infraSteps(t),

  podInfo,

  addPods: (t, pods) => createPods(t, pods),

  removePods: (t, pods) => removePods(t.runId, pods),

  nodePlace(t: Topology, node: NodeInfo): NodePlace {
    const netns = nodeNetns(t.runId, node.name);
    return wrappedNode(node, {
      where: `netns ${netns}`,
      wrap: (argv) => enterNetns(netns, argv),
      // Namespaces share this machine's bpffs and cgroup tree: one directory per node of the run.
      bpffsDir: `${runBpffsDir(t.runId)}/${node.name}`,
      cgroupDir: `${runCgroupDir(t.runId)}/${node.name}`,
    });
  },

  clientPlace: (t: Topology, client: ClientInfo) =>
    placeIn(client.name, 'client', clientNetns(t.runId, client.name)),

  podPlace: (t: Topology, pod: PodInfo) =>
    placeIn(`${pod.namespace}/${pod.name}`, 'pod', podNetns(t.runId, pod.hostIface)),

  async routeExternal(t: Topology, routes: readonly ExternalRoute[]): Promise<void> {
    const lines = routes.map((r) =>
      r.via === undefined ? `route del ${r.ip}/32` : vipRouteLine(r.ip, r.via),
    );
    if (lines.length === 0) return;
    await Promise.all(t.clients.map((c) => ipBatch(clientNetns(t.runId, c.name), lines)));
  },

  reap,
};
