/**
 * One topology builder for every integration test: the netns provider's own plan, bring-up steps
 * and pod wiring, without the cluster runtime on top (no control plane, no dataplane), so a test
 * can install, break and inspect a dataplane by hand. Pods run the real echo server (the workload
 * agent). Every lab is removed with its run id, whatever happened.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { netnsProvider } from '../../src/cluster/netns/provider.ts';
import type { Provider } from '../../src/cluster/provider.ts';
import { newRunId } from '../../src/cluster/run-id.ts';
import { removeState, stateDir } from '../../src/cluster/state.ts';
import { runSteps } from '../../src/cluster/steps.ts';
import type { PodInfo, Topology } from '../../src/cluster/types.ts';
import { hostIfaceName } from '../../src/k8s/naming.ts';
import type { NodePlace, Place } from '../../src/node/place.ts';
import { stopProcesses } from '../../src/sys/process.ts';
import type { AgentClient } from '../../src/workload/agent-client.ts';
import { startAgent } from '../../src/workload/agent-process.ts';

/** A pod of a lab: what the topology says of it and the place to act in. */
export interface LabPod {
  info: PodInfo;
  place: Place;
}

/** A pod to put on a node: its name (namespace `default` unless given) and labels. */
export interface LabPodSpec {
  node: number;
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  /** Host part of its address within the node's /24 (default: 10 + its order on the node). */
  host?: number;
}

/** How big a lab is. */
export interface LabOptions {
  nodes?: number;
  clients?: number;
  /** Pods to wire in; default one pod per node. */
  pods?: readonly LabPodSpec[];
}

/** How to start an agent in a lab. */
export interface LabAgentOptions {
  /**
   * Cgroup v2 directory the agent joins before it opens any socket, e.g. a node's `cgroupDir`,
   * where a node's own processes live and connect-time load balancing applies.
   */
  cgroup?: string;
}

/** A running lab. */
export interface Lab extends AsyncDisposable {
  readonly runId: string;
  readonly topology: Topology;
  readonly provider: Provider;
  readonly nodes: NodePlace[];
  readonly clients: Place[];
  readonly pods: LabPod[];
  /** Starts the real echo server and probe agent in a place (echo ports as given). */
  agent(place: Place, ports?: readonly number[], opts?: LabAgentOptions): Promise<AgentClient>;
  /** Removes every namespace, pin, cgroup and process of the lab. */
  down(): Promise<void>;
}

/** Builds a lab with the netns provider's plan and steps. */
export async function startLab(opts: LabOptions = {}): Promise<Lab> {
  const provider = netnsProvider;
  const runId = newRunId();
  const topology = provider.plan(runId, { nodes: opts.nodes ?? 2, clients: opts.clients ?? 1 });
  const specs: readonly LabPodSpec[] =
    opts.pods ?? topology.nodes.map((n) => ({ node: n.index, name: `pod-${n.index}` }));
  const onNode = new Map<number, number>();
  const infos = specs.map((spec) => {
    const node = topology.nodes[spec.node];
    if (!node) throw new Error(`lab pod ${spec.name}: no node ${spec.node}`);
    const order = onNode.get(spec.node) ?? 0;
    onNode.set(spec.node, order + 1);
    const namespace = spec.namespace ?? 'default';
    const base = node.podCidr.split('/')[0]!.split('.').slice(0, 3).join('.');
    return provider.podInfo(runId, {
      namespace,
      name: spec.name,
      labels: spec.labels ?? {},
      nodeName: node.name,
      ip: `${base}.${spec.host ?? 10 + order}`,
      ports: [],
      hostIface: hostIfaceName(namespace, spec.name),
    });
  });
  const agents: { pid: number; client: AgentClient }[] = [];
  let gone = false;
  const down = async (): Promise<void> => {
    if (gone) return;
    gone = true;
    for (const a of agents) await a.client.close().catch(() => {});
    await stopProcesses(agents.map((a) => a.pid));
    await provider.reap(runId);
    await removeState(runId);
  };
  try {
    await runSteps(provider.provisionSteps(topology));
    topology.pods.push(...infos);
    await provider.addPods(topology, infos);
  } catch (err) {
    await down();
    throw err;
  }
  let agentCount = 0;
  return {
    runId,
    topology,
    provider,
    nodes: topology.nodes.map((n) => provider.nodePlace(topology, n)),
    clients: topology.clients.map((c) => provider.clientPlace(topology, c)),
    pods: infos.map((info) => ({ info, place: provider.podPlace(topology, info) })),
    async agent(place, ports = [80], opts = {}) {
      const id = `a${agentCount++}`;
      const dir = join(stateDir(runId), 'agents');
      await mkdir(dir, { recursive: true });
      const started = await startAgent({
        place,
        name: place.name,
        ports,
        socketPath: join(dir, `${id}.sock`),
        logFile: join(dir, `${id}.log`),
        ...(opts.cgroup !== undefined ? { cgroup: opts.cgroup } : {}),
      });
      agents.push({ pid: started.pid, client: started.client });
      return started.client;
    },
    down,
    [Symbol.asyncDispose]: down,
  };
}
