/**
 * What every dataplane implementation (iptables, eBPF) offers the cluster, and the settings it
 * is driven by.
 */
import type { NodeInfo } from '../cluster/types.ts';
import type { ClusterModel, Protocol } from '../k8s/model.ts';

/** Which dataplane programs a cluster's services and policy. */
export type DataplaneMode = 'iptables' | 'bpf';

/**
 * FelixConfiguration `spec` after validation, with every default filled in. Field names are
 * Calico's, so that the seed guide's YAML applies as written.
 */
export interface FelixSettings {
  bpfEnabled: boolean;
  bpfExternalServiceMode: 'Tunnel' | 'DSR';
  bpfDSROptoutCIDRs: string[];
  bpfDataIfacePattern: string;
  bpfLogLevel: 'Off' | 'Info' | 'Debug';
  bpfConnectTimeLoadBalancingEnabled: boolean;
  bpfHostNetworkedNATWithoutCTLB: 'Enabled' | 'Disabled';
  bpfPSNATPorts: string;
  bpfMapSizeNATFrontend: number;
  bpfMapSizeNATBackend: number;
  bpfMapSizeNATAffinity: number;
  bpfMapSizeRoute: number;
  bpfMapSizeConntrack: number;
  bpfKubeProxyIptablesCleanupEnabled: boolean;
  bpfKubeProxyEndpointSlicesEnabled: boolean;
}

/** Calico's defaults for the settings above (the seed guide's interface pattern). */
export const DEFAULT_FELIX_SETTINGS: Readonly<FelixSettings> = Object.freeze({
  bpfEnabled: true,
  bpfExternalServiceMode: 'Tunnel',
  bpfDSROptoutCIDRs: [],
  bpfDataIfacePattern: '^(en.*|eth.*|tunl0)$',
  bpfLogLevel: 'Off',
  bpfConnectTimeLoadBalancingEnabled: true,
  bpfHostNetworkedNATWithoutCTLB: 'Enabled',
  bpfPSNATPorts: '20000-29999',
  bpfMapSizeNATFrontend: 65536,
  bpfMapSizeNATBackend: 262144,
  bpfMapSizeNATAffinity: 65536,
  bpfMapSizeRoute: 262144,
  bpfMapSizeConntrack: 512000,
  bpfKubeProxyIptablesCleanupEnabled: true,
  bpfKubeProxyEndpointSlicesEnabled: true,
});

/** Where a dataplane runs: the cluster's nodes and the run's naming. */
export interface DataplaneContext {
  /** The run id; every pin, cgroup and device name of the run carries it. */
  runId: string;
  nodes: NodeInfo[];
  settings: FelixSettings;
  /** Root of the run's bpffs pins: `/sys/fs/bpf/dpc-<runId>`. */
  bpffsDir: string;
  /** The run's cgroup v2 directory: `/sys/fs/cgroup/unified/dpc-<runId>` (one child per node). */
  cgroupDir: string;
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

/** A dataplane: installed once on a cluster's nodes, then synced from the realised model. */
export interface Dataplane {
  readonly mode: DataplaneMode;
  /** Puts the dataplane on every node (programs, maps, chains, devices). */
  install(ctx: DataplaneContext): Promise<void>;
  /** Programs services (and later policy) to match the model; idempotent. */
  sync(model: ClusterModel): Promise<SyncReport>;
  /** Every service frontend programmed on every node, read back from the kernel. */
  listFrontends(): Promise<Frontend[]>;
  /** Reconnects to a dataplane an earlier process of the same run installed (the CLI's later commands). */
  resume?(ctx: DataplaneContext): Promise<void>;
  /** Removes everything the dataplane put on the nodes; safe to call on a half-installed cluster. */
  uninstall(): Promise<void>;
}
