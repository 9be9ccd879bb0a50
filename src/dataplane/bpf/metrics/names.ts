/**
 * The Prometheus metric names a node serves. The first four are the ones the Calico eBPF guide
 * tells operators to watch; the `felix_bpf_*` ones are what Calico's Felix itself exports for
 * the same facts, so dashboards written for either work against this dataplane.
 */

/** Felix's Prometheus port; the endpoint is `http://<node ip>:9091/metrics`. */
export const METRICS_PORT = 9091;

/** Path of the exposition on the metrics port. */
export const METRICS_PATH = '/metrics';

/** Metric names and their help lines. */
export const METRIC = {
  packets: {
    name: 'calico_bpf_dataplane_packets_total',
    help: 'Packets the eBPF programs processed, per interface and hook',
  },
  policyDrops: {
    name: 'calico_bpf_dataplane_policy_drops',
    help: 'Packets dropped by policy, per interface and hook',
  },
  connections: {
    name: 'calico_bpf_connections_total',
    help: 'Connection tracking entries in the conntrack map (live and not yet evicted)',
  },
  natFrontends: {
    name: 'calico_bpf_nat_frontend_entries',
    help: 'Service frontend entries in the NAT frontend map',
  },
  mapEntries: {
    name: 'calico_bpf_map_entries',
    help: 'Entries in use in each eBPF map (arrays count every slot)',
  },
  mapMaxEntries: {
    name: 'calico_bpf_map_max_entries',
    help: 'Capacity of each eBPF map',
  },
  endpoints: {
    name: 'felix_bpf_dataplane_endpoints',
    help: 'Interfaces of the node carrying the dataplane programs',
  },
  happyEndpoints: {
    name: 'felix_bpf_happy_dataplane_endpoints',
    help: 'Interfaces carrying every program they should',
  },
  dirtyEndpoints: {
    name: 'felix_bpf_dirty_dataplane_endpoints',
    help: 'Interfaces missing a program they should carry',
  },
  conntrackUsed: {
    name: 'felix_bpf_conntrack_used',
    help: 'Conntrack entries the last sweep found, by type (fwd, rev)',
  },
  conntrackCleaned: {
    name: 'felix_bpf_conntrack_cleaned',
    help: 'Idle conntrack entries the sweeps have deleted, by type (fwd, rev)',
  },
  conntrackSweeps: {
    name: 'felix_bpf_conntrack_sweeps',
    help: 'Conntrack sweeps run',
  },
} as const;

/** The counter reason the programs bump for every packet they see. */
export const REASON_TOTAL = 'total';

/** The counter reason of a policy drop (Calico's words). */
export const REASON_POLICY = 'dropped by policy';
