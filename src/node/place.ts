/**
 * Places: the one way the harness acts on a node, a pod or an external client, whichever provider
 * made it. A provider hands out places; the dataplanes, captures, metrics servers and workload
 * agents take them and never learn how the place is reached (a network namespace, a container,
 * a VM).
 */
import type { RunOptions, RunResult, Started, StartOptions } from '../sys/exec.ts';

/** What kind of place it is. */
export type PlaceKind = 'node' | 'pod' | 'client';

/** Options of a command run in a place. */
export type PlaceRunOptions = RunOptions;

/** A node, pod or external client the harness can act in. */
export interface Place {
  /** The name the topology gives it (`dpc-worker`, `default/echo-0`, `client`). */
  readonly name: string;
  readonly kind: PlaceKind;
  /** Where it lives, in the provider's words, for messages (`netns dpc-ab12cd-worker`). */
  readonly where: string;
  /**
   * Runs a command inside the place to completion: its network, its tools, its view of bpffs.
   * Throws `CommandError` (with an argv that can be pasted into a shell) unless `reject: false`.
   */
  exec(argv: readonly string[], opts?: PlaceRunOptions): Promise<RunResult>;
  /** Like {@link Place.exec} for commands that print JSON (`ip -j`, `tc -j`, `bpftool -j`). */
  execJson<T>(argv: readonly string[], opts?: PlaceRunOptions): Promise<T>;
  /**
   * Starts a long-lived program of this machine inside the place's network (agents, tcpdump,
   * metrics servers): it sees the place's interfaces and addresses and this machine's files.
   * The pid is a pid of this machine, so {@link ../sys/process.ts} can watch and stop it.
   */
  spawn(argv: readonly string[], opts?: StartOptions): Started;
  /** The full argv {@link Place.spawn} runs, for messages and for finding the process again. */
  spawnArgv(argv: readonly string[]): string[];
}

/** A cluster node: a place with the facts the dataplane needs and where its kernel state lives. */
export interface NodePlace extends Place {
  readonly kind: 'node';
  /** Position in the cluster (0 is the control plane). */
  readonly index: number;
  /** The node's InternalIP on the node network. */
  readonly ip: string;
  readonly podCidr: string;
  /** The node's interface on the node network. */
  readonly iface: string;
  /** Where this run pins the node's programs and maps, as commands in the node see it. */
  readonly bpffsDir: string;
  /** The node's cgroup v2 directory (its own processes live there), as the node sees it. */
  readonly cgroupDir: string;
  /** File-system questions about paths as the node sees them (bpffs pins, cgroups). */
  readonly fs: PlaceFs;
}

/** The few file operations the dataplane needs on a node's own file system. */
export interface PlaceFs {
  exists(path: string): Promise<boolean>;
  /** `mkdir -p`. */
  mkdir(path: string): Promise<void>;
  /** `rm -rf`. */
  remove(path: string): Promise<void>;
  /** Removes an empty directory; quietly keeps one that is not empty or still in use. */
  rmdir(path: string): Promise<void>;
}

/** The node facts shared by every layer (the topology's and the object model's view of a node). */
export interface NodeFacts {
  name: string;
  index: number;
  ip: string;
  podCidr: string;
  iface: string;
}
