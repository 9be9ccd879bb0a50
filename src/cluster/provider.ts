/**
 * What a provider does, and no more: provision the places of a run (the node network, nodes,
 * external clients, pods), hand out places to act in, route external addresses on the clients,
 * and remove everything of a run by its id. Everything else a cluster does (objects, the
 * dataplane, agents, metrics) is the provider-agnostic runtime's, built on these places.
 */
import type { PodState } from '../k8s/model.ts';
import type { NodePlace, Place } from '../node/place.ts';
import type { Step } from './steps.ts';
import type { ClientInfo, NodeInfo, PodInfo, ProviderName, Topology } from './types.ts';

/** The size of a cluster a run asks for. */
export interface ClusterSize {
  nodes: number;
  clients: number;
}

/** What a reap removed, each item named so that the CLI can print it. */
export interface ReapReport {
  /** One line per kind of thing removed, e.g. `3 network namespace(s)`. */
  removed: string[];
  /** Run ids whose leftovers were found. */
  runs: string[];
}

/** A route on the external clients for an external IP or VIP; no nodes withdraws it. */
export interface ExternalRoute {
  ip: string;
  /** The nodes that advertise it (ECMP); empty: unreachable; undefined: withdrawn. */
  via: readonly NodeInfo[] | undefined;
}

/** A provider of places. */
export interface Provider {
  readonly name: ProviderName;
  /** Largest and smallest sizes this provider can build, for validation before anything is made. */
  readonly limits: { maxNodes: number; maxClients: number };
  /** Computes the topology (without pods) of a run; pure. Throws `RangeError` on impossible sizes. */
  plan(runId: string, size: ClusterSize): Topology;
  /** The ordered bring-up of the node network, nodes (with their cgroups) and clients; each step undoes itself. */
  provisionSteps(topology: Topology): Step[];
  /** How the provider will reach a pod the control plane scheduled. */
  podInfo(runId: string, pod: PodState): PodInfo;
  /** Wires pods into their nodes (namespaces, veths, /32 routes, proxy ARP). */
  addPods(topology: Topology, pods: readonly PodInfo[]): Promise<void>;
  /** Removes pods and their wiring. */
  removePods(topology: Topology, pods: readonly PodInfo[]): Promise<void>;
  /** The place of a node. */
  nodePlace(topology: Topology, node: NodeInfo): NodePlace;
  /** The place of an external client. */
  clientPlace(topology: Topology, client: ClientInfo): Place;
  /** The place of a pod. */
  podPlace(topology: Topology, pod: PodInfo): Place;
  /** Programs external IP / VIP routes on every client (as BGP would from the advertising nodes). */
  routeExternal(topology: Topology, routes: readonly ExternalRoute[]): Promise<void>;
  /**
   * Removes every namespace, container, link, pin, cgroup and process of a run (or of every run
   * when no id is given), whatever stage its bring-up reached. Never touches what is not ours.
   */
  reap(runId?: string): Promise<ReapReport>;
}
