/**
 * The constants of bpf/dpc.h as the control plane sees them: map names, flags, counter reasons.
 * Change this file and the header together.
 */

/**
 * Names of the maps every node gets (pinned under `<bpffsDir>/<node>/maps/`): Calico's where
 * Calico has the same map, so that the guide's `bpftool map dump name cali_v4_nat_fe` works.
 */
export const MAP = {
  natFrontend: 'cali_v4_nat_fe',
  natBackend: 'cali_v4_nat_be',
  natAffinity: 'cali_v4_nat_aff',
  conntrack: 'cali_v4_ct',
  routes: 'cali_v4_routes',
  counters: 'cali_counters',
  config: 'cali_cfg',
  ctlbReverse: 'cali_v4_srmsg',
  dsrOptout: 'cali_v4_dsr_opt',
  policyEndpoints: 'cali_v4_pol_ep',
  policyRules: 'cali_v4_pol_rul',
  policyConntrack: 'cali_v4_pol_ct',
  fragments: 'cali_v4_frags',
  log: 'cali_log',
  logSeq: 'cali_log_seq',
  // Host endpoint policy (bpf/lib/host-policy.h): stages, their rules, CIDR sets, scratch.
  hostEndpoints: 'cali_v4_hep',
  hostRules: 'cali_v4_hep_rul',
  hostNets: 'cali_v4_hep_net',
  hostScratch: 'cali_v4_hep_scr',
} as const;

/** One of the dataplane's map names. */
export type MapName = (typeof MAP)[keyof typeof MAP];

/** Maps only test builds (`-DDPC_TEST`) have: the faked received tunnel key and the last send. */
export const TEST_MAP = { tunnelIn: 'cali_test_tun', sent: 'cali_test_tx' } as const;

/**
 * Program names, as pinned under `<bpffsDir>/<node>/progs/`. Each carries "calico" so that the
 * guide's `bpftool prog list | grep calico` finds it, and fits the kernel's 15 characters.
 */
export const PROG = {
  workloadIngress: 'calico_from_wl',
  workloadEgress: 'calico_to_wl',
  hostIngress: 'calico_from_hep',
  hostEgress: 'calico_to_hep',
  vxlanIngress: 'calico_vxlan_in',
  loopbackIngress: 'calico_from_lo',
  connect4: 'calico_connect4',
  sendmsg4: 'calico_sendmsg4',
  recvmsg4: 'calico_recvmsg4',
  getpeername4: 'calico_getpeer4',
} as const;

/** The prefix every program of this dataplane's name starts with (to tell ours on an interface). */
export const PROG_PREFIX = 'calico_';

/** Capacity of the maps whose size no FelixConfiguration field sets. */
export const FIXED_MAP_SIZE = {
  counters: 16384,
  ctlbReverse: 65536,
  dsrOptout: 1024,
  policyEndpoints: 4096,
  policyRules: 65536,
  policyConntrack: 65536,
  fragments: 8192,
  log: 1024,
  logSeq: 1,
  hostEndpoints: 256,
  hostRules: 16384,
  hostNets: 16384,
  hostScratch: 1,
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

/** What the tunnel adds to a packet: outer IPv4, UDP, VXLAN and the inner Ethernet header. */
export const VXLAN_OVERHEAD = 50;

/** Frontend flags. */
export const FE_FLAG = { local: 0x1, affinity: 0x2 } as const;

/** Conntrack entry types and flags. */
export const CT_TYPE = { fwd: 1, rev: 2 } as const;
export const CT_FLAG = { tunnelOut: 0x1, fromTunnel: 0x2, snat: 0x4, toHost: 0x8 } as const;

/** Route types of the routes map. */
export const ROUTE_TYPE = { localWorkload: 1, remoteWorkload: 2, localHost: 3, remoteHost: 4 } as const;
/** One of the route types' names. */
export type RouteTypeName = keyof typeof ROUTE_TYPE;

/**
 * Config flags. `dsr`: replies skip the return tunnel, except to clients in `cali_v4_dsr_opt`;
 * `hostNat`: the lo hook NATs host processes' packets to Services (bpfHostNetworkedNATWithoutCTLB).
 */
export const CFG_FLAG = { dsr: 0x1, hostNat: 0x2 } as const;

/** bpfLogLevel as the programs read it. */
export const LOG_LEVEL = { Off: 0, Info: 1, Debug: 2 } as const;

/** What a log record says happened, by its code in the C source. */
export const LOG_EVENTS: Readonly<Record<number, string>> = {
  1: 'packet',
  2: 'new flow',
  3: 'drop',
  4: 'ICMP error sent',
};

/** The mark a program puts on a reply it hands to the node's own stack through lo. */
export const MARK_TO_HOST = 0x0dc10000;

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
  'fragmentation needed sent',
  'dropped: too big for tunnel',
  'dropped: IP fragment',
  'dropped: TTL expired',
  'dropped: no free SNAT port',
  'ICMP errors translated',
  'source NATed',
] as const;

/**
 * The reasons that are errors of the dataplane itself rather than decisions (policy, no
 * endpoint, a packet too big): what `dpconform bpf stats` adds up as errors, in the manner of
 * `calico-bpf stats`.
 */
export const ERROR_REASONS: readonly Reason[] = [
  'failed to create conntrack',
  'dropped: tunnel error',
  'dropped: NAT failed',
  'dropped: no free SNAT port',
];

/** Counted when a TCP packet of a live connection finds no conntrack entry and one is re-created. */
export const REASON_CT_RECREATED: Reason = 'conntrack re-created';

/** Counted when externalTrafficPolicy Local traffic reaches a node with no endpoint of the Service. */
export const REASON_NO_LOCAL_EP: Reason = 'dropped: no local endpoint';

/** Counted for the first packet of every flow the dataplane balances to a backend. */
export const REASON_NEW_CONN: Reason = 'new connections';

/** One of the counter reasons. */
export type Reason = (typeof REASONS)[number];

/** Byte sizes of keys and values, as `_Static_assert`ed in the header. */
export const SIZE = {
  feKey: 8,
  feVal: 12,
  beKey: 8,
  beVal: 12,
  affKey: 8,
  affVal: 16,
  ctKey: 16,
  ctVal: 40,
  routeKey: 8,
  routeVal: 16,
  counterKey: 8,
  counterVal: 8,
  cfg: 40,
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
  fragKey: 12,
  fragVal: 4,
  logRec: 48,
} as const;
