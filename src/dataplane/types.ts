/**
 * What every dataplane implementation (iptables, eBPF) offers the cluster, and the settings it
 * is driven by.
 */
import type { DataplaneMode, FelixSettings } from '../k8s/felix-settings.ts';
import type { ClusterModel, Protocol } from '../k8s/model.ts';
import type { NodePlace } from '../node/place.ts';

/** Where a dataplane runs: the cluster's nodes, as places, and the settings in force. */
export interface DataplaneContext {
  /** The run id; every device and pin name the dataplane makes is scoped by the node places. */
  runId: string;
  nodes: NodePlace[];
  settings: FelixSettings;
  /** Log a line the operator should see (warnings, map-full refusals). */
  log: (line: string) => void;
}

/** What one sync did, for `status` and the report. */
export interface SyncReport {
  mode: DataplaneMode;
  /** Services programmed, per node name. */
  services: number;
  /** Things that could not be programmed, each one line naming the object and the reason. */
  errors: string[];
  durationMs: number;
}

/**
 * One service frontend as the dataplane has it programmed on a node (read back from the kernel,
 * not from the model), so a suite can prove that nothing stale is left.
 */
export interface Frontend {
  node: string;
  /** `ip`: a ClusterIP, VIP or external IP; `nodeport`: a port on every node address. */
  kind: 'ip' | 'nodeport';
  ip?: string;
  port: number;
  protocol: Protocol;
}

/** What taking new settings in place came to. */
export interface UpdateOutcome {
  /** True when the running dataplane took the settings; false when it must be reinstalled. */
  applied: boolean;
  /** Why it could not take them in place, one line each. */
  reasons: string[];
  /** `field old -> new` for every field that changed. */
  changes: string[];
}

/** A dataplane: installed once on a cluster's nodes, then synced from the realised model. */
export interface Dataplane {
  readonly mode: DataplaneMode;
  /** Puts the dataplane on every node (programs, maps, chains, devices). */
  install(ctx: DataplaneContext): Promise<void>;
  /**
   * Takes new FelixConfiguration settings without a reinstall where it can (established
   * connections keep flowing); says so, or why a reinstall is needed. The mode does not change.
   */
  update(settings: FelixSettings): Promise<UpdateOutcome>;
  /** Programs services (and later policy) to match the model; idempotent. */
  sync(model: ClusterModel): Promise<SyncReport>;
  /** Every service frontend programmed on every node, read back from the kernel. */
  listFrontends(): Promise<Frontend[]>;
  /** Reconnects to a dataplane an earlier process of the same run installed (the CLI's later commands). */
  resume?(ctx: DataplaneContext): Promise<void>;
  /** Removes everything the dataplane put on the nodes; safe to call on a half-installed cluster. */
  uninstall(): Promise<void>;
}
