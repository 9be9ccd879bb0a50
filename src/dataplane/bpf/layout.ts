/**
 * The constants of bpf/dpc.h as the control plane sees them: map names, flags, counter reasons.
 * Change this file and the header together.
 */

/** Names of the maps every node gets (pinned under `<bpffsDir>/<node>/maps/`). */
export const MAP = {
  natFrontend: 'dpc_nat_fe',
  natBackend: 'dpc_nat_be',
  natAffinity: 'dpc_nat_aff',
  conntrack: 'dpc_ct',
  routes: 'dpc_routes',
  counters: 'dpc_counters',
  config: 'dpc_cfg',
  ctlbReverse: 'dpc_ctlb_rev',
  dsrOptout: 'dpc_dsr_optout',
  policyEndpoints: 'dpc_pol_ep',
  policyRules: 'dpc_pol_rules',
  policyConntrack: 'dpc_pol_ct',
} as const;

/** One of the dataplane's map names. */
export type MapName = (typeof MAP)[keyof typeof MAP];

/** Maps only test builds (`-DDPC_TEST`) have: the faked received tunnel key and the last send. */
export const TEST_MAP = { tunnelIn: 'dpc_test_tun', sent: 'dpc_test_tx' } as const;

/** Program names, as pinned under `<bpffsDir>/<node>/progs/`. */
export const PROG = {
  workloadIngress: 'dpc_wl_in',
  workloadEgress: 'dpc_wl_eg',
  hostIngress: 'dpc_host_in',
  hostEgress: 'dpc_host_eg',
  vxlanIngress: 'dpc_vx_in',
  connect4: 'dpc_connect4',
  sendmsg4: 'dpc_sendmsg4',
  recvmsg4: 'dpc_recvmsg4',
  getpeername4: 'dpc_getpeer4',
} as const;

/** Capacity of the maps whose size no FelixConfiguration field sets. */
export const FIXED_MAP_SIZE = {
  counters: 16384,
  ctlbReverse: 65536,
  dsrOptout: 1024,
  policyEndpoints: 4096,
  policyRules: 65536,
  policyConntrack: 65536,
} as const;

/**
 * Fill ratio above which a map is close enough to full that an operator must hear of it: the
 * dataplane logs it at every sync and the metrics flag it. One number, so the log, the metrics
 * and the map-full suite can never disagree about what "nearly full" means.
 */
export const MAP_USAGE_WARN_RATIO = 0.8;

/** Port ranges one `dpc_pol_rules` value holds. */
export const POLICY_PORTS = 16;
/** Direction codes of the policy maps, as seen from the pod. */
export const POLICY_DIR = { ingress: 0, egress: 1 } as const;
/** `dpc_pol_ep` flags: the pod is isolated (default deny) in that direction. */
export const POLICY_ISOLATED = { ingress: 0x1, egress: 0x2 } as const;
/** Protocol code of a port range admitting every protocol and port (a rule without ports). */
export const POLICY_ANY_PROTO = 0;

/** VNI of a reply going back to the frontend node; any lower VNI is a backend ordinal. */
export const VNI_RETURN = 0xffffff;
/** Name and UDP port of each node's collect-metadata VXLAN device. */
export const VXLAN_DEVICE = 'vx';
export const VXLAN_PORT = 4789;

/** Frontend flags. */
export const FE_FLAG = { local: 0x1, affinity: 0x2 } as const;

/** Conntrack entry types and flags. */
export const CT_TYPE = { fwd: 1, rev: 2 } as const;
export const CT_FLAG = { tunnelOut: 0x1, fromTunnel: 0x2 } as const;

/** Route types of the routes map. */
export const ROUTE_TYPE = { localWorkload: 1, remoteWorkload: 2, localHost: 3, remoteHost: 4 } as const;
/** One of the route types' names. */
export type RouteTypeName = keyof typeof ROUTE_TYPE;

/** Config flags. `dsr`: replies skip the return tunnel, except to clients in `dpc_dsr_optout`. */
export const CFG_FLAG = { dsr: 0x1 } as const;

/** Hooks a counter is kept for. */
export const HOOK = { ingress: 0, egress: 1 } as const;
/** One of the hooks' names. */
export type HookName = keyof typeof HOOK;

/**
 * Counter reasons, indexed by their code in the C source. The drop words follow Calico's
 * (`dropped by policy`, `failed to create conntrack`, `packets with unknown route`).
 */
export const REASONS = [
  'total',
  'accepted',
  'dropped by policy',
  'failed to create conntrack',
  'packets with unknown route',
  'dropped: no local endpoint',
  'dropped: tunnel error',
  'new connections',
  'dropped: no backend',
  'dropped: NAT failed',
  'conntrack re-created',
] as const;

/** Counted when a TCP packet of a live connection finds no conntrack entry and one is re-created. */
export const REASON_CT_RECREATED: Reason = 'conntrack re-created';

/** One of the counter reasons. */
export type Reason = (typeof REASONS)[number];

/** Byte sizes of keys and values, as `_Static_assert`ed in the header. */
export const SIZE = {
  feKey: 8,
  feVal: 8,
  beKey: 8,
  beVal: 12,
  affKey: 8,
  affVal: 16,
  ctKey: 16,
  ctVal: 32,
  routeKey: 8,
  routeVal: 16,
  counterKey: 8,
  counterVal: 8,
  cfg: 24,
  ctlbKey: 16,
  ctlbVal: 8,
  dsrOptoutKey: 8,
  dsrOptoutVal: 4,
  policyEndpointKey: 4,
  policyEndpointVal: 4,
  policyKey: 16,
  policyPort: 8,
  policyVal: 8 + 8 * 16,
  policyCtKey: 20,
  policyCtVal: 8,
} as const;
