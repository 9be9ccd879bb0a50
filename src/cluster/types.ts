/**
 * The `Cluster` interface: everything suites, the conformance run and the CLI may ask of a
 * cluster, whichever provider built it. Nothing above this file knows how a node is reached.
 */
import type { BpfDataplane, BpfLogRecord } from '../dataplane/bpf/index.ts';
import type { DataplaneFootprint } from '../dataplane/footprint.ts';
import type { HostPolicyDropCounter } from '../dataplane/iptables/host-policy.ts';
import type { PolicyDropCounter } from '../dataplane/iptables/policy-counters.ts';
import type { Frontend } from '../dataplane/types.ts';
import type { DataplaneMode, FelixSettings } from '../k8s/felix-settings.ts';
import type { ClusterModel } from '../k8s/model.ts';
import type { NodeFacts, NodePlace, Place } from '../node/place.ts';
import type { CaptureSpec } from '../observe/capture.ts';
import type { MetricsTarget, Scrape } from '../observe/scrape.ts';
import type { RunOptions, RunResult } from '../sys/exec.ts';
import type { ProbeRequest, ProbeResult, StreamRecord, StreamStartRequest } from '../workload/types.ts';
import type { BpfSource } from './state.ts';

// Suites see the dataplane's vocabulary through the cluster: the names of its maps, programs and
// counter reasons, the map-usage threshold, a program's return codes, and what a footprint
// reading means.
export { TC_ACT } from '../dataplane/bpf/bpftool.ts';
export type { CtKey } from '../dataplane/bpf/encoding.ts';
export type {
  BpfDataplane,
  BpfLogRecord,
  NamedCounter,
  TestRun,
  TestRunOptions,
} from '../dataplane/bpf/index.ts';
export {
  MAP,
  MAP_USAGE_WARN_RATIO,
  PROG,
  REASON_CT_RECREATED,
  REASON_NEW_CONN,
  REASON_NO_LOCAL_EP,
} from '../dataplane/bpf/layout.ts';
export { METRIC, REASON_POLICY } from '../dataplane/bpf/metrics/names.ts';
export type { PacketSpec, ParsedPacket } from '../dataplane/bpf/packet.ts';
export type { DataplaneFootprint, NodeFootprint } from '../dataplane/footprint.ts';
export { describeFootprint, footprintShape, kubeServiceChains } from '../dataplane/footprint.ts';
export type { HostPolicyDropCounter } from '../dataplane/iptables/host-policy.ts';
export type { PolicyDropCounter } from '../dataplane/iptables/policy-counters.ts';
export { isKubeProxyLeftWarning } from '../dataplane/switch.ts';
export type { Frontend } from '../dataplane/types.ts';
// How the dataplane reads bpfDataIfacePattern (Go RE2 syntax), to tell which interfaces it matches.
export { compileIfacePattern } from '../k8s/felix.ts';
export type { DataplaneMode, FelixSettings, ServiceMode } from '../k8s/felix-settings.ts';
export type { NodePlace, Place, PlaceKind } from '../node/place.ts';
export type { BpfSource } from './state.ts';

/** Which provider built a cluster. */
export type ProviderName = 'netns' | 'docker' | 'kind';

/** Every provider name `--provider` accepts, the default first. */
export const PROVIDER_NAMES: readonly ProviderName[] = ['netns', 'docker', 'kind'];

/** A node as the topology lists it. */
export interface NodeInfo extends NodeFacts {
  /** Where the node lives, in the provider's words, for people (`netns dpc-ab12cd-worker`). */
  where: string;
  /** Mirrors the node-network-side MAC, so captures can be read. */
  mac?: string;
}

/** An external client on the node network, outside the cluster. */
export interface ClientInfo {
  name: string;
  ip: string;
  where: string;
  iface: string;
}

/** A pod as the harness reaches it. */
export interface PodInfo {
  namespace: string;
  name: string;
  nodeName: string;
  ip: string;
  labels: Record<string, string>;
  where: string;
  /** Pod-side interface name. */
  iface: string;
  /** Host-side veth in the node. */
  hostIface: string;
}

/** The whole topology, as `dpconform up` prints it. */
export interface Topology {
  runId: string;
  provider: ProviderName;
  /** Where the node network lives, in the provider's words (the netns provider's fabric namespace). */
  network: string;
  nodes: NodeInfo[];
  clients: ClientInfo[];
  pods: PodInfo[];
  /** The image the nodes run, where nodes are containers (`dpconform/node:<hash>`). */
  nodeImage?: string;
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
  /** A node, pod (`namespace/name`, or a name that is unique) or client, to act in. */
  place(name: string): Place;
  /** A node, by name. */
  node(name: string): NodePlace;

  /** Applies Kubernetes YAML (text, a file or a directory) or parsed objects. */
  apply(source: string | object[]): Promise<void>;
  /** Deletes the objects named in the YAML (text, a file or a directory) or parsed objects. */
  delete(source: string | object[]): Promise<void>;

  /** Runs a command in a node, pod or client, by name. */
  exec(place: string, argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /** Makes a probe (HTTP, TCP, UDP) from a node, pod or client, by name. */
  probe(from: string, request: ProbeRequest): Promise<ProbeResult>;
  /** Many probes from one place at once (reachability matrices, benchmarks). */
  probes(from: string, requests: ProbeRequest[], concurrency?: number): Promise<ProbeResult[]>;
  /**
   * Opens a long-lived HTTP connection from a node, pod or client that sends a request every
   * `intervalMs`, to watch an established connection across a change.
   */
  streamStart(from: string, request: StreamStartRequest): Promise<StreamRecord>;
  /** What a stream has recorded so far. */
  streamGet(from: string, id: string): Promise<StreamRecord>;
  /** Stops a stream and returns its final record. */
  streamStop(from: string, id: string): Promise<StreamRecord>;
  /** What to capture to watch an interface of a node, pod or client (for src/observe's captures). */
  captureSpec(place: string, iface: string, filter?: string): CaptureSpec;

  /** The dataplane that programs this cluster. */
  dataplaneMode(): DataplaneMode;
  /** The settings in force and the warnings about fields this dataplane does not implement. */
  settings(): { settings: FelixSettings; warnings: string[] };
  /** Applies FelixConfiguration fields as a patch of `default` (the seed guide's `calicoctl patch`). */
  patchFelix(fields: Partial<FelixSettings>): Promise<void>;
  /** Switches to the other dataplane (`bpfEnabled`), programmed from the same objects. */
  switchDataplane(mode: DataplaneMode): Promise<void>;
  /**
   * Builds the eBPF dataplane from this copy of bpf/ from now on (undefined: the project's own)
   * and puts it on again when it is on: how the self-test runs the suites against a fault.
   */
  useBpfSource(source: BpfSource | undefined): Promise<void>;
  /** Errors of the last sync (services that could not be programmed). */
  syncErrors(): string[];
  /** Service frontends as the dataplane has them programmed on the nodes (read from the kernel). */
  frontends(): Promise<Frontend[]>;
  /** The eBPF dataplane's read side (maps, counters), or undefined when the cluster runs iptables. */
  bpf(): BpfDataplane | undefined;
  /** The iptables dataplane's per-pod policy drop counters of a node. */
  iptablesPolicyDrops(node: string): Promise<PolicyDropCounter[]>;
  /** The iptables dataplane's host endpoint drop counters of a node, per endpoint and stage. */
  iptablesHostPolicyDrops(node: string): Promise<HostPolicyDropCounter[]>;
  /**
   * Makes a node's or client's own processes serve echo on these ports (TCP and UDP), as a host
   * service (kubelet, SSH) would; `unserve` stops them.
   */
  serve(place: string, ports: readonly number[]): Promise<void>;
  unserve(place: string, ports: readonly number[]): Promise<void>;
  /** Everything of either dataplane the nodes hold now: programs, maps, pins, filters, chains. */
  footprint(): Promise<DataplaneFootprint>;
  /** Ids of every BPF program and map the nodes' kernel holds (ours or not), to see what was freed. */
  liveBpfIds(): Promise<{ progs: Set<number>; maps: Set<number> }>;
  /** Scrapes a node's Prometheus endpoint from inside the cluster, as Prometheus would. */
  metrics(node: string, timeoutMs?: number): Promise<Scrape>;
  /** Where and how often the metrics are scraped: the ServiceMonitor's endpoint, or Felix's defaults. */
  metricsTarget(): MetricsTarget;
  /** The eBPF programs' log of a node (bpfLogLevel), oldest first; `since` in CLOCK_MONOTONIC ns. */
  bpfLog(node: string, since?: bigint): Promise<BpfLogRecord[]>;

  /**
   * Pins an external IP or VIP to enter the cluster through the given nodes (as a BGP peer that
   * prefers them would); `undefined` goes back to what the nodes advertise.
   */
  routeVia(ip: string, nodeNames: string[] | undefined): Promise<void>;
  /** Removes everything the run made. */
  down(): Promise<void>;
}
