/**
 * The `Cluster` interface: everything a suite may ask of a cluster, whichever provider built it.
 */
import type { ClusterModel } from '../k8s/model.ts';
import type { RunOptions, RunResult } from '../sys/exec.ts';
import type { ProbeRequest, ProbeResult } from '../workload/types.ts';

/** Which provider built a cluster. */
export type ProviderName = 'netns' | 'kind';

/** The kinds of place a command or probe can run in. */
export type PlaceKind = 'node' | 'pod' | 'client';

/** A node as the harness reaches it. */
export interface NodeInfo {
  name: string;
  index: number;
  ip: string;
  podCidr: string;
  /** Network namespace (netns) or container (kind) that is this node. */
  netns: string;
  /** The node's data interface on the fabric. */
  iface: string;
  /** Mirrors the fabric-side MAC, so captures can be read. */
  mac?: string;
}

/** An external client on the fabric, outside the cluster. */
export interface ClientInfo {
  name: string;
  ip: string;
  netns: string;
  iface: string;
}

/** A pod as the harness reaches it. */
export interface PodInfo {
  namespace: string;
  name: string;
  nodeName: string;
  ip: string;
  labels: Record<string, string>;
  netns: string;
  /** Pod-side interface name. */
  iface: string;
  /** Host-side veth in the node namespace. */
  hostIface: string;
}

/** The whole topology, as `dpconform up` prints it. */
export interface Topology {
  runId: string;
  provider: ProviderName;
  /** Namespace holding the fabric bridge (netns provider). */
  fabricNetns?: string;
  nodes: NodeInfo[];
  clients: ClientInfo[];
  pods: PodInfo[];
  /** LoadBalancer VIP pool, as `first-last`. */
  vipPool: string;
  serviceCidr: string;
  clusterCidr: string;
}

/** A running cluster. Dispose it (or call `down`) to remove everything it made. */
export interface Cluster extends AsyncDisposable {
  readonly runId: string;
  readonly provider: ProviderName;
  topology(): Topology;
  /** The control plane's realised state: services with allocations, endpoints, pods. */
  model(): ClusterModel;
  /** Applies Kubernetes YAML (text, a file or a directory) or parsed objects. */
  apply(source: string | object[]): Promise<void>;
  /** Deletes the objects named in the YAML (text, a file or a directory) or parsed objects. */
  delete(source: string | object[]): Promise<void>;
  /** Runs a command in a node, pod or client, by name. */
  exec(place: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Makes a probe (HTTP, TCP, UDP) from a node, pod or client, by name. */
  probe(from: string, request: ProbeRequest): Promise<ProbeResult>;
  /** What to capture to watch an interface of a node, pod or client (for src/observe's captures). */
  captureSpec(
    place: string,
    iface: string,
    filter?: string,
  ): { netns: string; iface: string; label: string; filter?: string };
  /** Removes everything the run made. */
  down(): Promise<void>;
}
