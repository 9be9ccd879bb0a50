/**
 * The docker provider's plan, pure: kind's address plan for nodes and clients (the netns
 * provider's, stated once there), the names and labels of a run's network and containers, and
 * what each container is started with. Tested without Docker.
 */
import { CLIENT_SYSCTLS, FABRIC_GATEWAY, NODE_SYSCTLS, planTopology } from '../netns/plan.ts';
import type { ClientInfo, NodeInfo, Topology } from '../types.ts';

/** The label every container and network of a run carries, with the run id as its value. */
export const RUN_LABEL = 'dpconform.run';

/** The label saying what a container is: `node` or `client`. */
export const ROLE_LABEL = 'dpconform.role';

/** The node network: kind's `kind` network plan. */
export const NODE_SUBNET = '172.18.0.0/16';

/** What a container of the run is. */
export type ContainerRole = 'node' | 'client';

/** A directory of this machine a container sees at the same path. */
export interface Bind {
  path: string;
  readOnly: boolean;
}

/** One container to start. */
export interface ContainerSpec {
  /** Docker's name: `dpc-<run>-worker`, unique on the engine. */
  name: string;
  /** What the node calls itself: the topology's name (`dpc-worker`), as kind's nodes do. */
  hostname: string;
  ip: string;
  role: ContainerRole;
  labels: Record<string, string>;
  binds: Bind[];
  sysctls: Record<string, string>;
}

/** The run's user-defined network. */
export interface NetworkSpec {
  name: string;
  subnet: string;
  gateway: string;
  labels: Record<string, string>;
}

/** Everything the containers' start needs. */
export interface ProvisionSpec {
  image: string;
  network: NetworkSpec;
  containers: ContainerSpec[];
}

/** The docker name of a node or client container: the run prefix, then its name without ours. */
export function containerName(runId: string, placeName: string): string {
  return `dpc-${runId}-${placeName.replace(/^dpc-/, '')}`;
}

/** The run's network, named as kind names a cluster. */
export function networkName(runId: string): string {
  return `dpc-${runId}`;
}

/** The labels of everything a run starts. */
export function runLabels(runId: string): Record<string, string> {
  return { [RUN_LABEL]: runId };
}

/** The topology of a docker run: the netns provider's addresses, containers as the places. */
export function planDockerTopology(runId: string, size: { nodes: number; clients: number }): Topology {
  const t = planTopology({ runId, nodes: size.nodes, clients: size.clients });
  const where = (name: string) => `container ${containerName(runId, name)}`;
  return {
    ...t,
    provider: 'docker',
    network: `docker network ${networkName(runId)} (${NODE_SUBNET})`,
    nodes: t.nodes.map((n) => ({ ...n, where: where(n.name) })),
    clients: t.clients.map((c) => ({ ...c, where: where(c.name) })),
  };
}

function asStrings(sysctls: Readonly<Record<string, number>>): Record<string, string> {
  return Object.fromEntries(Object.entries(sysctls).map(([k, v]) => [k, String(v)]));
}

/** The network and containers of a topology; `nodeBinds` says what each node sees of this machine. */
export function provisionSpec(
  t: Topology,
  image: string,
  nodeBinds: (node: NodeInfo) => Bind[],
): ProvisionSpec {
  const labels = runLabels(t.runId);
  const node = (n: NodeInfo): ContainerSpec => ({
    name: containerName(t.runId, n.name),
    hostname: n.name,
    ip: n.ip,
    role: 'node',
    labels: { ...labels, [ROLE_LABEL]: 'node' },
    binds: nodeBinds(n),
    sysctls: asStrings(NODE_SYSCTLS),
  });
  const client = (c: ClientInfo): ContainerSpec => ({
    name: containerName(t.runId, c.name),
    hostname: c.name,
    ip: c.ip,
    role: 'client',
    labels: { ...labels, [ROLE_LABEL]: 'client' },
    binds: [],
    sysctls: asStrings(CLIENT_SYSCTLS),
  });
  return {
    image,
    network: { name: networkName(t.runId), subnet: NODE_SUBNET, gateway: FABRIC_GATEWAY, labels },
    containers: [...t.nodes.map(node), ...t.clients.map(client)],
  };
}

/**
 * `ip` lines a node needs beyond what Docker gives it (its address and a default route): native
 * routes to the other nodes' pods.
 */
export function nodeRouteLines(t: Topology, node: NodeInfo): string[] {
  return t.nodes
    .filter((other) => other.index !== node.index)
    .map((other) => `route replace ${other.podCidr} via ${other.ip} dev eth0`);
}

/**
 * iptables-restore input that gives a node's nat table every built-in chain. Docker's embedded
 * DNS makes the table in each container with only OUTPUT and POSTROUTING; iptables-nft still
 * lists all four, and a `-I PREROUTING 1` into the one that is not there fails (ENOENT) once the
 * table's cache is loaded. Declared up front, the node's nat table is whole like any node's.
 */
export const NODE_NAT_BUILTINS = [
  '*nat',
  ':PREROUTING ACCEPT [0:0]',
  ':INPUT ACCEPT [0:0]',
  ':OUTPUT ACCEPT [0:0]',
  ':POSTROUTING ACCEPT [0:0]',
  'COMMIT',
  '',
].join('\n');

/**
 * `ip` lines of an external client: no default route, as on the netns provider, so that an
 * address no node advertises is unreachable rather than sent to the network's gateway.
 */
export const CLIENT_LINES: readonly string[] = ['route del default'];
