/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Layout of every map key and value the reference dataplane shares with its control plane.
 * src/dataplane/bpf/layout.ts mirrors this file byte for byte: change both together.
 * Fields named *_ip / *_port / addr are network byte order; everything else is host order.
 */
#ifndef DPC_H
#define DPC_H

#include <linux/types.h>

/* Map sizes come from FelixConfiguration; the build passes them with -D. */
#ifndef DPC_NAT_FE_SIZE
#define DPC_NAT_FE_SIZE 65536
#endif
#ifndef DPC_NAT_BE_SIZE
#define DPC_NAT_BE_SIZE 262144
#endif
#ifndef DPC_NAT_AFF_SIZE
#define DPC_NAT_AFF_SIZE 65536
#endif
#ifndef DPC_ROUTE_SIZE
#define DPC_ROUTE_SIZE 262144
#endif
#ifndef DPC_CT_SIZE
#define DPC_CT_SIZE 512000
#endif
#define DPC_COUNTERS_SIZE 16384
#define DPC_CTLB_SIZE 65536
#define DPC_DSR_OPTOUT_SIZE 1024
/* NetworkPolicy: endpoints (workload veths) per node, rule prefixes per node, allowed flows. */
#define DPC_POL_EP_SIZE 4096
#define DPC_POL_RULES_SIZE 65536
#define DPC_POL_CT_SIZE 65536
/* First fragments whose ports later fragments of the same datagram borrow. */
#define DPC_FRAGS_SIZE 8192
/* Records the programs log (bpfLogLevel), kept as a ring per CPU. */
#define DPC_LOG_SLOTS 1024
/* Port ranges one rule prefix admits (after merging every rule that covers the prefix). */
#define DPC_POL_PORTS 16

/* VNI of a reply travelling back to the node that owns the frontend; any other VNI is an ordinal. */
#define DPC_VNI_RETURN 0xffffff
#define DPC_VXLAN_PORT 4789

/* Frontend flags. */
#define DPC_FE_LOCAL 0x1    /* externalTrafficPolicy Local: backends are this node's only */
#define DPC_FE_AFFINITY 0x2 /* sessionAffinity ClientIP */

/* Conntrack entry types and flags. */
#define DPC_CT_FWD 1 /* key is the client's tuple; nat_* is the backend */
#define DPC_CT_REV 2 /* key is the backend's reply tuple; nat_* is the original frontend */
#define DPC_CT_TUNNEL_OUT 0x1  /* frontend node: send the flow to tun_ip in the tunnel */
#define DPC_CT_FROM_TUNNEL 0x2 /* backend node: the flow came from tun_ip in the tunnel */
#define DPC_CT_SNAT 0x4        /* FWD: source becomes snat_*; REV: destination goes back to snat_* */
#define DPC_CT_TO_HOST 0x8     /* REV: the client is the node's own stack: deliver through lo */

/* Route types. */
#define DPC_RT_LOCAL_WL 1
#define DPC_RT_REMOTE_WL 2
#define DPC_RT_LOCAL_HOST 3
#define DPC_RT_REMOTE_HOST 4

/* Config flags. */
/* bpfExternalServiceMode DSR: replies skip the return tunnel, except to clients in dpc_dsr_optout. */
#define DPC_CFG_DSR 0x1
/* bpfHostNetworkedNATWithoutCTLB Enabled: the lo hook NATs what host processes send to services. */
#define DPC_CFG_HOST_NAT 0x2

/* bpfLogLevel. */
#define DPC_LOG_OFF 0
#define DPC_LOG_INFO 1  /* new flows, drops, ICMP errors sent */
#define DPC_LOG_DEBUG 2 /* and every packet with its verdict */

/* Log events. */
#define DPC_EV_PACKET 1
#define DPC_EV_NEW_FLOW 2
#define DPC_EV_DROP 3
#define DPC_EV_ICMP_SENT 4

/* The mark of a reply a program hands to the node's own stack on lo: the lo hook leaves it be. */
#define DPC_MARK_TO_HOST 0x0dc10000

/* Outer IPv4 + UDP + VXLAN + inner Ethernet: what the tunnel adds to a packet. */
#define DPC_VXLAN_OVERHEAD 50

/* Policy: isolation flags of an endpoint, one per direction as seen from the pod. */
#define DPC_POL_DIR_INGRESS 0 /* traffic to the pod: judged on tc egress of its host veth */
#define DPC_POL_DIR_EGRESS 1  /* traffic from the pod: judged on tc ingress of its host veth */
#define DPC_POL_ISOLATED_INGRESS 0x1
#define DPC_POL_ISOLATED_EGRESS 0x2
/* Protocol 0 in a port range: every protocol and every port (a rule without ports). */
#define DPC_POL_ANY_PROTO 0

/* Counter hooks and reasons; the reason words live in layout.ts. */
#define DPC_HOOK_INGRESS 0
#define DPC_HOOK_EGRESS 1

#define DPC_R_TOTAL 0
#define DPC_R_ACCEPTED 1
#define DPC_R_DROP_POLICY 2
#define DPC_R_DROP_CT 3
#define DPC_R_DROP_ROUTE 4
#define DPC_R_DROP_NO_LOCAL_EP 5
#define DPC_R_DROP_TUNNEL 6
#define DPC_R_NEW_CONN 7
#define DPC_R_DROP_NO_BACKEND 8
#define DPC_R_DROP_NAT 9
#define DPC_R_CT_RECREATED 10 /* a live TCP flow found no conntrack entry (evicted, expired) */
#define DPC_R_FRAG_NEEDED 11  /* too big for the tunnel with DF set: ICMP fragmentation needed sent */
#define DPC_R_DROP_TOO_BIG 12 /* too big for the tunnel, DF clear: it cannot be fragmented here */
#define DPC_R_DROP_FRAG 13    /* a later fragment whose first fragment was not seen */
#define DPC_R_TTL_EXPIRED 14  /* TTL ran out on a path the program forwards itself */
#define DPC_R_DROP_NO_PORT 15 /* no free source port in bpfPSNATPorts */
#define DPC_R_ICMP_NAT 16     /* an ICMP error about a NATed flow, translated */
#define DPC_R_SNAT 17         /* a flow that needed SNAT (hairpin, host process) */

struct dpc_fe_key {
	__be32 addr;
	__be16 port;
	__u8 proto;
	__u8 pad;
};

struct dpc_fe_val {
	__u32 svc_id;
	__u16 count;
	__u16 flags;
	__u32 affinity_s; /* the Service's ClientIP timeoutSeconds; 0: the config's default */
};

struct dpc_be_key {
	__u32 svc_id;
	__u32 ordinal;
};

struct dpc_be_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
	__be32 node_ip;
};

struct dpc_aff_key {
	__u32 svc_id;
	__be32 client;
};

struct dpc_aff_val {
	__u64 last_seen;
	__u32 ordinal;
	__u32 pad;
};

struct dpc_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
};

struct dpc_ct_val {
	__u64 last_seen;
	__u8 type;
	__u8 flags;
	__u16 pad0;
	__be32 nat_ip;
	__be16 nat_port;
	__u16 pad1;
	__be32 tun_ip;
	__u32 ordinal;
	__u32 svc_id; /* FWD: the backend set the entry was balanced in, to notice it going stale */
	__be32 snat_ip; /* DPC_CT_SNAT: FWD the source it gets, REV the client's own address */
	__be16 snat_port;
	__u16 pad2;
};

struct dpc_route_key {
	__u32 prefixlen;
	__be32 addr;
};

struct dpc_route_val {
	__u32 type;
	__u32 ifindex;
	__be32 node_ip;
	__u32 pad;
};

/* bpfDSROptoutCIDRs: an LPM trie keyed like the routes map; any value means "opted out". */
struct dpc_dsr_optout_key {
	__u32 prefixlen;
	__be32 addr;
};

struct dpc_counter_key {
	__u32 ifindex;
	__u8 hook;
	__u8 reason;
	__u16 pad;
};

struct dpc_cfg {
	__be32 node_ip;
	__u32 vx_ifindex;
	__u32 flags;
	__u32 tcp_timeout_s;
	__u32 udp_timeout_s;
	__u32 affinity_timeout_s;
	__u32 tunnel_mtu; /* the largest IP packet the tunnel carries whole (0: no check) */
	__u16 psnat_lo;   /* bpfPSNATPorts, host order */
	__u16 psnat_hi;
	__u32 log_level;  /* DPC_LOG_* */
	__u32 pad;
};

struct dpc_ctlb_key {
	__u64 cookie;
	__be32 addr;
	__be16 port;
	__u16 pad;
};

struct dpc_ctlb_val {
	__be32 addr;
	__be16 port;
	__u16 pad;
};

/* dpc_pol_ep: host-side veth ifindex -> isolation flags. */
struct dpc_pol_ep_val {
	__u32 flags;
};

/*
 * dpc_pol_rules, an LPM trie: (endpoint ifindex, direction) fully matched, then the peer's
 * address by prefix. prefixlen = 64 + the CIDR's prefix length.
 */
struct dpc_pol_key {
	__u32 prefixlen;
	__u32 ifindex; /* always inside the prefix: byte order does not matter */
	__u32 dir;
	__be32 addr;
};

/* One admitted port range of one protocol (host order); proto DPC_POL_ANY_PROTO admits all. */
struct dpc_pol_port {
	__u16 lo;
	__u16 hi;
	__u8 proto;
	__u8 pad[3];
};

/* Every port range the rules admit for a peer prefix, those of covering prefixes folded in. */
struct dpc_pol_val {
	__u32 count;
	__u32 pad;
	struct dpc_pol_port ports[DPC_POL_PORTS];
};

/* dpc_pol_ct: a flow a policy hook let through, keyed as the pod sees it (its tuple, its veth). */
struct dpc_pol_ct_key {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad[3];
	__u32 ifindex;
};

struct dpc_pol_ct_val {
	__u64 last_seen;
};

/* cali_v4_frags: the ports of a datagram's first fragment, for its later fragments. */
struct dpc_frag_key {
	__be32 saddr;
	__be32 daddr;
	__be16 id;
	__u8 proto;
	__u8 pad;
};

struct dpc_frag_val {
	__be16 sport;
	__be16 dport;
};

/* cali_log: one record a program logged (bpfLogLevel); seq 0 is an empty slot. */
struct dpc_log_rec {
	__u64 ts;
	__u32 seq;
	__u32 ifindex;
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 hook;
	__u8 event;
	__u8 reason;
	__s32 verdict;
	__be32 nat_ip;
	__be16 nat_port;
	__u16 pad;
	__u32 pad2;
};

/* Test builds only: the tunnel key the vx hook pretends to have received. */
struct dpc_test_tun {
	__u32 remote_ipv4; /* host order, as bpf_tunnel_key has it */
	__u32 vni;
};

_Static_assert(sizeof(struct dpc_fe_key) == 8, "fe key");
_Static_assert(sizeof(struct dpc_fe_val) == 12, "fe val");
_Static_assert(sizeof(struct dpc_be_key) == 8, "be key");
_Static_assert(sizeof(struct dpc_be_val) == 12, "be val");
_Static_assert(sizeof(struct dpc_aff_key) == 8, "aff key");
_Static_assert(sizeof(struct dpc_aff_val) == 16, "aff val");
_Static_assert(sizeof(struct dpc_ct_key) == 16, "ct key");
_Static_assert(sizeof(struct dpc_ct_val) == 40, "ct val");
_Static_assert(sizeof(struct dpc_route_key) == 8, "route key");
_Static_assert(sizeof(struct dpc_route_val) == 16, "route val");
_Static_assert(sizeof(struct dpc_dsr_optout_key) == 8, "dsr optout key");
_Static_assert(sizeof(struct dpc_counter_key) == 8, "counter key");
_Static_assert(sizeof(struct dpc_cfg) == 40, "cfg");
_Static_assert(sizeof(struct dpc_ctlb_key) == 16, "ctlb key");
_Static_assert(sizeof(struct dpc_ctlb_val) == 8, "ctlb val");
_Static_assert(sizeof(struct dpc_pol_ep_val) == 4, "pol ep val");
_Static_assert(sizeof(struct dpc_pol_key) == 16, "pol key");
_Static_assert(sizeof(struct dpc_pol_port) == 8, "pol port");
_Static_assert(sizeof(struct dpc_pol_val) == 8 + 8 * DPC_POL_PORTS, "pol val");
_Static_assert(sizeof(struct dpc_pol_ct_key) == 20, "pol ct key");
_Static_assert(sizeof(struct dpc_pol_ct_val) == 8, "pol ct val");
_Static_assert(sizeof(struct dpc_frag_key) == 12, "frag key");
_Static_assert(sizeof(struct dpc_frag_val) == 4, "frag val");
_Static_assert(sizeof(struct dpc_log_rec) == 48, "log rec");

#endif
