// SPDX-License-Identifier: GPL-2.0
/*
 * The reference service dataplane: kube-proxy replacement with tc programs on node data
 * interfaces, workload veths and the node's collect-metadata VXLAN device, plus connect-time
 * load balancing for the node's own processes. IPv4, TCP and UDP.
 *
 * Flow of a NodePort packet in Tunnel mode, client C, frontend node A, backend node B:
 *   A eth0 ingress: frontend hit, backend on B -> conntrack FWD (TUNNEL_OUT), VXLAN to B, VNI = ordinal
 *   B vx ingress:   frontend lookup on the original destination, backend by VNI, DNAT,
 *                   conntrack FWD + REV (FROM_TUNNEL, A), straight to the backend's veth
 *   B backend veth ingress (reply): REV hit -> source back to A's frontend, VXLAN to A, VNI RETURN
 *   A vx ingress:   conntrack confirms the flow, FIB lookup, out of eth0 to C
 * In DSR mode B instead routes the reply straight to C, unless C is in dpc_dsr_optout.
 * Local backends (and pod clients) are NATed in place and the kernel routes the packet; their
 * replies are reverse-NATed on the egress hook that leads to the client (after routing, so the
 * kernel never sees a reply whose source is one of its own addresses on input).
 */
#include <stdbool.h>
#include <stddef.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/pkt_cls.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#include "dpc.h"

#ifndef AF_INET
#define AF_INET 2
#endif
#ifndef SOCK_STREAM
#define SOCK_STREAM 1
#endif
#ifndef SOCK_DGRAM
#define SOCK_DGRAM 2
#endif

#define NS_PER_SEC 1000000000ULL

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_NAT_FE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_fe_key);
	__type(value, struct dpc_fe_val);
} dpc_nat_fe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_NAT_BE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_be_key);
	__type(value, struct dpc_be_val);
} dpc_nat_be SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_NAT_AFF_SIZE);
	__type(key, struct dpc_aff_key);
	__type(value, struct dpc_aff_val);
} dpc_nat_aff SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_CT_SIZE);
	__type(key, struct dpc_ct_key);
	__type(value, struct dpc_ct_val);
} dpc_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_ROUTE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_route_key);
	__type(value, struct dpc_route_val);
} dpc_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_COUNTERS_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_counter_key);
	__type(value, __u64);
} dpc_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_cfg);
} dpc_cfg SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_CTLB_SIZE);
	__type(key, struct dpc_ctlb_key);
	__type(value, struct dpc_ctlb_val);
} dpc_ctlb_rev SEC(".maps");

/* bpfDSROptoutCIDRs: clients (the destination of a reply) that get Tunnel behaviour in DSR mode. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_DSR_OPTOUT_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_dsr_optout_key);
	__type(value, __u32);
} dpc_dsr_optout SEC(".maps");

/* NetworkPolicy: which workload veths are isolated, in which direction. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_POL_EP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct dpc_pol_ep_val);
} dpc_pol_ep SEC(".maps");

/* NetworkPolicy: (veth, direction, peer prefix) -> the port ranges allowed. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_POL_RULES_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_pol_key);
	__type(value, struct dpc_pol_val);
} dpc_pol_rules SEC(".maps");

/* NetworkPolicy: flows the workload hooks have let through, so only new flows are judged. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_POL_CT_SIZE);
	__type(key, struct dpc_pol_ct_key);
	__type(value, struct dpc_pol_ct_val);
} dpc_pol_ct SEC(".maps");

#ifdef DPC_TEST
/* BPF_PROG_TEST_RUN cannot attach tunnel metadata to a packet, nor show where a redirect
 * went: test builds read the received key from dpc_test_tun and record what they sent. */
struct dpc_test_tx {
	__u32 remote_ipv4;
	__u32 vni;
	__u32 ifindex;
	__u32 calls;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_test_tun);
} dpc_test_tun SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_test_tx);
} dpc_test_tx SEC(".maps");

static __always_inline void test_record(__u32 remote, __u32 vni, __u32 ifindex)
{
	__u32 zero = 0;
	struct dpc_test_tx *tx = bpf_map_lookup_elem(&dpc_test_tx, &zero);

	if (tx) {
		tx->remote_ipv4 = remote;
		tx->vni = vni;
		tx->ifindex = ifindex;
		tx->calls++;
	}
}
#else
static __always_inline void test_record(__u32 remote, __u32 vni, __u32 ifindex)
{
}
#endif

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define L4_OFF (ETH_HLEN + sizeof(struct iphdr))
#define L4_SPORT_OFF (L4_OFF)
#define L4_DPORT_OFF (L4_OFF + 2)

/* What the programs need of one IPv4 packet, copied out so that helpers may move the data. */
struct dpc_pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 syn; /* TCP SYN without ACK: the first packet of a connection */
	__u32 csum_off;
	__u64 csum_flags;
};

enum parse_result {
	PARSE_NOT_IPV4 = -1,
	PARSE_L4 = 0,     /* TCP or UDP, no options, not a fragment: NAT-able */
	PARSE_OTHER = 1,  /* IPv4, addresses filled in, nothing else */
};

static __always_inline void count(__u32 ifindex, __u8 hook, __u8 reason)
{
	struct dpc_counter_key k = {.ifindex = ifindex, .hook = hook, .reason = reason};
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(&dpc_counters, &k);

	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(&dpc_counters, &k, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first. */
	v = bpf_map_lookup_elem(&dpc_counters, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int finish(struct __sk_buff *skb, __u8 hook, int verdict, __u8 reason)
{
	count(skb->ifindex, hook, DPC_R_TOTAL);
	count(skb->ifindex, hook, verdict == TC_ACT_SHOT ? reason : DPC_R_ACCEPTED);
	return verdict;
}

static __always_inline struct dpc_cfg *get_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dpc_cfg, &zero);
}

static __always_inline int parse(struct __sk_buff *skb, struct dpc_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + L4_OFF + sizeof(struct tcphdr) > end) {
		/* Fails harmlessly for short packets; the bounds checks below decide. */
		bpf_skb_pull_data(skb, L4_OFF + sizeof(struct tcphdr));
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return PARSE_NOT_IPV4;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->syn = 0;
	p->csum_off = 0;
	p->csum_flags = 0;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return PARSE_OTHER;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);
		if ((void *)(th + 1) > end)
			return PARSE_OTHER;
		p->sport = th->source;
		p->dport = th->dest;
		p->syn = th->syn && !th->ack;
		p->csum_off = L4_OFF + offsetof(struct tcphdr, check);
		return PARSE_L4;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip + 1);
		if ((void *)(uh + 1) > end)
			return PARSE_OTHER;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = L4_OFF + offsetof(struct udphdr, check);
		/* A zero UDP checksum means "none" and must stay zero. */
		p->csum_flags = BPF_F_MARK_MANGLED_0;
		return PARSE_L4;
	}
	return PARSE_OTHER;
}

static __always_inline struct dpc_ct_key tuple_of(const struct dpc_pkt *p)
{
	struct dpc_ct_key k = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
	};
	return k;
}

static __always_inline __u64 ct_timeout_ns(const struct dpc_cfg *cfg, __u8 proto)
{
	__u32 s = proto == IPPROTO_TCP ? cfg->tcp_timeout_s : cfg->udp_timeout_s;

	if (s == 0)
		s = proto == IPPROTO_TCP ? 3600 : 60;
	return (__u64)s * NS_PER_SEC;
}

/* A live entry, refreshed; a stale one counts as a miss and is overwritten by the next flow. */
static __always_inline struct dpc_ct_val *ct_lookup(const struct dpc_ct_key *k, const struct dpc_cfg *cfg,
						    __u64 now)
{
	struct dpc_ct_val *v = bpf_map_lookup_elem(&dpc_ct, k);

	if (!v)
		return NULL;
	if (now - v->last_seen > ct_timeout_ns(cfg, k->proto))
		return NULL;
	v->last_seen = now;
	return v;
}

/*
 * A FWD entry still holds for this packet unless the packet opens a new TCP connection on a
 * reused tuple, or the backend the entry names is gone or changed (service deleted, endpoint
 * removed, ClusterIP handed to another service): then the flow is balanced afresh.
 */
static __always_inline bool fwd_valid(const struct dpc_ct_val *ct, const struct dpc_pkt *p)
{
	if (p->syn)
		return false;
	struct dpc_be_key bk = {.svc_id = ct->svc_id, .ordinal = ct->ordinal};
	struct dpc_be_val *be = bpf_map_lookup_elem(&dpc_nat_be, &bk);

	return be && be->addr == ct->nat_ip && be->port == ct->nat_port;
}

/* A TCP packet other than the opening SYN: conntrack should already know its connection. */
static __always_inline bool mid_connection(const struct dpc_pkt *p)
{
	return p->proto == IPPROTO_TCP && !p->syn;
}

/*
 * The reply-direction entry of a flow whose forward entry `fwd` just matched `p` (before DNAT).
 * LRU eviction takes entries one at a time, so a flow can lose its REV entry and keep its FWD
 * entry; without putting it back the replies would leave un-NATed and the client would reset
 * the connection. Returns 0, or -1 when the entry could not be written.
 */
static __always_inline int ct_ensure_rev(struct __sk_buff *skb, const struct dpc_pkt *p,
					 const struct dpc_ct_val *fwd, const struct dpc_cfg *cfg, __u64 now)
{
	bool tunnelled = fwd->flags & DPC_CT_FROM_TUNNEL;
	struct dpc_ct_key rk = {
		.saddr = fwd->nat_ip,
		.daddr = p->saddr,
		.sport = fwd->nat_port,
		.dport = p->sport,
		.proto = p->proto,
	};
	struct dpc_ct_val *rv = ct_lookup(&rk, cfg, now);

	if (rv && rv->type == DPC_CT_REV)
		return 0;
	struct dpc_ct_val nv = {
		.last_seen = now,
		.type = DPC_CT_REV,
		.flags = tunnelled ? DPC_CT_FROM_TUNNEL : 0,
		.nat_ip = p->daddr,
		.nat_port = p->dport,
		.tun_ip = tunnelled ? fwd->tun_ip : 0,
		.ordinal = tunnelled ? fwd->ordinal : 0,
	};
	if (bpf_map_update_elem(&dpc_ct, &rk, &nv, BPF_ANY))
		return -1;
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	return 0;
}

static __always_inline struct dpc_route_val *route_of(__be32 addr)
{
	struct dpc_route_key k = {.prefixlen = 32, .addr = addr};

	return bpf_map_lookup_elem(&dpc_routes, &k);
}

static __always_inline bool is_node_addr(__be32 addr)
{
	struct dpc_route_val *rt = route_of(addr);

	return rt && (rt->type == DPC_RT_LOCAL_HOST || rt->type == DPC_RT_REMOTE_HOST);
}

/* NodePorts are keyed with address 0: they answer on the node's own address(es). */
static __always_inline struct dpc_fe_val *fe_lookup(const struct dpc_pkt *p, bool nodeport)
{
	struct dpc_fe_key k = {.addr = p->daddr, .port = p->dport, .proto = p->proto};
	struct dpc_fe_val *v = bpf_map_lookup_elem(&dpc_nat_fe, &k);

	if (v || !nodeport)
		return v;
	k.addr = 0;
	return bpf_map_lookup_elem(&dpc_nat_fe, &k);
}

/*
 * A mix of the flow's tuple. Backends are picked by it rather than at random so that a flow whose
 * conntrack entries were evicted is re-created on the same backend while the service's backend
 * set is unchanged.
 */
static __always_inline __u32 tuple_hash(const struct dpc_pkt *p)
{
	__u32 h = bpf_ntohl(p->saddr) * 0x9e3779b1u;

	h ^= bpf_ntohl(p->daddr) + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= (((__u32)bpf_ntohs(p->sport) << 16) | bpf_ntohs(p->dport)) + 0x7f4a7c15u + (h << 6) + (h >> 2);
	h ^= p->proto;
	h ^= h >> 16;
	h *= 0x85ebca6bu;
	h ^= h >> 13;
	h *= 0xc2b2ae35u;
	h ^= h >> 16;
	return h;
}

static __always_inline struct dpc_be_val *pick_backend(const struct dpc_fe_val *fe, __be32 client,
						       const struct dpc_cfg *cfg, __u64 now, __u32 hash,
						       __u32 *ordinal)
{
	__u32 n = fe->count;
	__u32 idx;

	if (n == 0)
		return NULL;
	idx = hash % n;
	if (fe->flags & DPC_FE_AFFINITY) {
		struct dpc_aff_key ak = {.svc_id = fe->svc_id, .client = client};
		struct dpc_aff_val *av = bpf_map_lookup_elem(&dpc_nat_aff, &ak);
		__u64 ttl = (__u64)(cfg->affinity_timeout_s ? cfg->affinity_timeout_s : 10800) * NS_PER_SEC;

		if (av && now - av->last_seen <= ttl && av->ordinal < n)
			idx = av->ordinal;
		struct dpc_aff_val nv = {.last_seen = now, .ordinal = idx};
		bpf_map_update_elem(&dpc_nat_aff, &ak, &nv, BPF_ANY);
	}
	struct dpc_be_key bk = {.svc_id = fe->svc_id, .ordinal = idx};
	struct dpc_be_val *be = bpf_map_lookup_elem(&dpc_nat_be, &bk);

	/* Without SNAT a client cannot be its own backend (it would receive its own address as
	 * the source): take the next backend when there is one. */
	if (be && be->addr == client && n > 1) {
		bk.ordinal = idx + 1 < n ? idx + 1 : 0;
		be = bpf_map_lookup_elem(&dpc_nat_be, &bk);
	}
	*ordinal = bk.ordinal;
	return be;
}

/* Rewrites the destination (dst) or source address and port, keeping IP and L4 checksums right. */
static __always_inline int rewrite(struct __sk_buff *skb, struct dpc_pkt *p, bool dst, __be32 new_ip,
				   __be16 new_port)
{
	__be32 old_ip = dst ? p->daddr : p->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__u32 ip_off = dst ? IP_DST_OFF : IP_SRC_OFF;
	__u32 port_off = dst ? L4_DPORT_OFF : L4_SPORT_OFF;

	if (old_ip != new_ip) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_ip, new_ip,
					p->csum_flags | BPF_F_PSEUDO_HDR | sizeof(new_ip)))
			return -1;
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, new_ip, sizeof(new_ip)))
			return -1;
		if (bpf_skb_store_bytes(skb, ip_off, &new_ip, sizeof(new_ip), 0))
			return -1;
	}
	if (old_port != new_port) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, new_port, p->csum_flags | sizeof(new_port)))
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
			return -1;
	}
	if (dst) {
		p->daddr = new_ip;
		p->dport = new_port;
	} else {
		p->saddr = new_ip;
		p->sport = new_port;
	}
	return 0;
}

/* ct_ensure_rev, then the DNAT of a packet of a known local flow. */
static __always_inline int fwd_local(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_ct_val *ct,
				     const struct dpc_cfg *cfg, __u64 now, __u8 *reason)
{
	__be32 ip = ct->nat_ip;
	__be16 port = ct->nat_port;

	if (ct_ensure_rev(skb, p, ct, cfg, now)) {
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	if (rewrite(skb, p, true, ip, port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

static __always_inline int nat(struct __sk_buff *skb, struct dpc_pkt *p, bool dst, __be32 ip, __be16 port,
			       __u8 *reason)
{
	if (rewrite(skb, p, dst, ip, port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

static __always_inline int tunnel_to(struct __sk_buff *skb, const struct dpc_cfg *cfg, __be32 node_ip, __u32 vni,
				     __u8 *reason)
{
	struct bpf_tunnel_key key = {};

	/* The VXLAN device wants the remote address in host byte order. */
	key.remote_ipv4 = bpf_ntohl(node_ip);
	key.tunnel_id = vni;
	key.tunnel_ttl = 64;
	if (cfg->vx_ifindex == 0 || bpf_skb_set_tunnel_key(skb, &key, sizeof(key), BPF_F_ZERO_CSUM_TX) < 0) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	test_record(key.remote_ipv4, vni, cfg->vx_ifindex);
	return bpf_redirect(cfg->vx_ifindex, 0);
}

/* Sends the packet out of whatever interface the node's FIB picks, bypassing input routing. */
static __always_inline int fib_forward(struct __sk_buff *skb, const struct dpc_pkt *p, __u8 *reason)
{
	struct bpf_fib_lookup f = {};
	long rc;

	f.family = AF_INET;
	f.l4_protocol = p->proto;
	f.sport = p->sport;
	f.dport = p->dport;
	f.ipv4_src = p->saddr;
	f.ipv4_dst = p->daddr;
	f.ifindex = skb->ifindex;
	rc = bpf_fib_lookup(skb, &f, sizeof(f), 0);
	if (rc != BPF_FIB_LKUP_RET_SUCCESS && rc != BPF_FIB_LKUP_RET_NO_NEIGH) {
		*reason = DPC_R_DROP_ROUTE;
		return TC_ACT_SHOT;
	}
	test_record(0, 0, f.ifindex);
	return bpf_redirect_neigh(f.ifindex, NULL, 0, 0);
}

/* The packet's destination must be a workload of this node: hand it to the workload's veth. */
static __always_inline int deliver_local(const struct dpc_pkt *p, __u8 *reason)
{
	struct dpc_route_val *rt = route_of(p->daddr);

	if (!rt || rt->type != DPC_RT_LOCAL_WL || rt->ifindex == 0) {
		*reason = DPC_R_DROP_ROUTE;
		return TC_ACT_SHOT;
	}
	test_record(0, 0, rt->ifindex);
	return bpf_redirect_neigh(rt->ifindex, NULL, 0, 0);
}

/*
 * First packet of a flow to a frontend. may_tunnel: the packet came from outside the node, so a
 * backend on another node is reached through the tunnel; a pod client's packet is routed natively.
 */
static __always_inline int new_flow(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_fe_val *fe,
				    const struct dpc_cfg *cfg, __u64 now, bool may_tunnel, bool ct_missed,
				    __u8 *reason)
{
	struct dpc_be_val *be;
	__u32 ord = 0;

	if (fe->count == 0) {
		if (fe->flags & DPC_FE_LOCAL) {
			/* Like kube-proxy: a Local service is dropped where it has no endpoint. */
			*reason = DPC_R_DROP_NO_LOCAL_EP;
			return TC_ACT_SHOT;
		}
		/* No endpoint anywhere: the node's own stack refuses (RST / port unreachable). */
		return TC_ACT_OK;
	}
	be = pick_backend(fe, p->saddr, cfg, now, tuple_hash(p), &ord);
	if (!be) {
		*reason = DPC_R_DROP_NO_BACKEND;
		return TC_ACT_SHOT;
	}
	__be32 be_ip = be->addr;
	__be16 be_port = be->port;
	__be32 be_node = be->node_ip;
	bool remote = may_tunnel && be_node != cfg->node_ip && ord < DPC_VNI_RETURN;

	struct dpc_ct_key fk = tuple_of(p);
	struct dpc_ct_val fv = {
		.last_seen = now,
		.type = DPC_CT_FWD,
		.flags = remote ? DPC_CT_TUNNEL_OUT : 0,
		.nat_ip = be_ip,
		.nat_port = be_port,
		.tun_ip = be_node,
		.ordinal = ord,
		.svc_id = fe->svc_id,
	};
	if (bpf_map_update_elem(&dpc_ct, &fk, &fv, BPF_ANY)) {
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	/* Evicted (or expired) under a live connection: re-created, on the same backend (tuple_hash). */
	if (ct_missed && mid_connection(p))
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	if (remote) {
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_NEW_CONN);
		return tunnel_to(skb, cfg, be_node, ord, reason);
	}
	struct dpc_ct_key rk = {
		.saddr = be_ip,
		.daddr = p->saddr,
		.sport = be_port,
		.dport = p->sport,
		.proto = p->proto,
	};
	struct dpc_ct_val rv = {
		.last_seen = now,
		.type = DPC_CT_REV,
		.nat_ip = p->daddr,
		.nat_port = p->dport,
	};
	if (bpf_map_update_elem(&dpc_ct, &rk, &rv, BPF_ANY)) {
		bpf_map_delete_elem(&dpc_ct, &fk);
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_NEW_CONN);
	return nat(skb, p, true, be_ip, be_port, reason);
}

/*
 * Whether a reply to `client` skips the return tunnel. Decided here, on the backend node, from
 * the reply's destination: every node holds the same opt-out list, so the frontend node needs
 * to signal nothing, and a flow whose client is added or removed switches path on its next reply
 * (the frontend node forwards returning replies of its flows in both modes).
 */
static __always_inline bool dsr_for(const struct dpc_cfg *cfg, __be32 client)
{
	struct dpc_dsr_optout_key k = {.prefixlen = 32, .addr = client};

	if (!(cfg->flags & DPC_CFG_DSR))
		return false;
	return bpf_map_lookup_elem(&dpc_dsr_optout, &k) == NULL;
}

/* Backend node, reply of a flow that came through the tunnel: restore the frontend, send it back. */
static __always_inline int reply_to_frontend_node(struct __sk_buff *skb, struct dpc_pkt *p,
						  const struct dpc_ct_val *ct, const struct dpc_cfg *cfg,
						  __u8 *reason)
{
	__be32 tun = ct->tun_ip;

	if (rewrite(skb, p, false, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	/* DSR: the reply goes straight to the client, with the frontend as its source. */
	if (dsr_for(cfg, p->daddr))
		return fib_forward(skb, p, reason);
	return tunnel_to(skb, cfg, tun, DPC_VNI_RETURN, reason);
}

/* Undoes the DNAT of a reply on its way to the client; `p` is left as the client will see it. */
static __always_inline int reverse_nat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				       __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = tuple_of(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct || ct->type != DPC_CT_REV || (ct->flags & DPC_CT_FROM_TUNNEL))
		return TC_ACT_OK;
	return nat(skb, p, false, ct->nat_ip, ct->nat_port, reason);
}

/* Egress of a data interface, towards an external client. */
static __always_inline int host_egress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();

	if (!cfg || parse(skb, &p) != PARSE_L4)
		return TC_ACT_OK;
	return reverse_nat(skb, &p, cfg, bpf_ktime_get_ns(), reason);
}

static __always_inline struct dpc_pol_ct_key pol_ct_key(const struct dpc_pkt *p, __u32 ifindex, bool reversed)
{
	struct dpc_pol_ct_key k = {
		.saddr = reversed ? p->daddr : p->saddr,
		.daddr = reversed ? p->saddr : p->daddr,
		.sport = reversed ? p->dport : p->sport,
		.dport = reversed ? p->sport : p->dport,
		.proto = p->proto,
		.ifindex = ifindex,
	};
	return k;
}

static __always_inline bool pol_ct_hit(const struct dpc_pol_ct_key *k, const struct dpc_cfg *cfg, __u64 now)
{
	struct dpc_pol_ct_val *v = bpf_map_lookup_elem(&dpc_pol_ct, k);

	if (!v || now - v->last_seen > ct_timeout_ns(cfg, k->proto))
		return false;
	v->last_seen = now;
	return true;
}

/*
 * Whether `p` (as the pod on `ifindex` sees it) belongs to a flow this veth already let through,
 * in either direction: a later packet of a flow, or a reply to it.
 */
static __always_inline bool pol_known(const struct dpc_pkt *p, __u32 ifindex, const struct dpc_cfg *cfg,
				      __u64 now)
{
	struct dpc_pol_ct_key fk = pol_ct_key(p, ifindex, false);
	struct dpc_pol_ct_key rk = pol_ct_key(p, ifindex, true);

	return pol_ct_hit(&fk, cfg, now) || pol_ct_hit(&rk, cfg, now);
}

static __always_inline bool pol_ports_admit(const struct dpc_pol_val *v, __u8 proto, __u16 port)
{
	__u32 n = v->count;

	for (int i = 0; i < DPC_POL_PORTS; i++) {
		if (i >= n)
			break;
		const struct dpc_pol_port *r = &v->ports[i];
		if (r->proto == DPC_POL_ANY_PROTO)
			return true;
		if (r->proto == proto && port >= r->lo && port <= r->hi)
			return true;
	}
	return false;
}

/*
 * Whether NetworkPolicy lets a new flow through the workload veth `ifindex` in direction `dir`:
 * `peer` is the other end (source for ingress, destination after service NAT for egress) and
 * `port` the destination port (network order; 0 for packets without one).
 */
static __always_inline bool pol_admits(__u32 ifindex, __u32 dir, __be32 peer, __u8 proto, __be16 port)
{
	struct dpc_pol_ep_val *ep = bpf_map_lookup_elem(&dpc_pol_ep, &ifindex);
	__u32 flag = dir == DPC_POL_DIR_INGRESS ? DPC_POL_ISOLATED_INGRESS : DPC_POL_ISOLATED_EGRESS;

	if (!ep || !(ep->flags & flag))
		return true;
	struct dpc_pol_key k = {.prefixlen = 96, .ifindex = ifindex, .dir = dir, .addr = peer};
	struct dpc_pol_val *v = bpf_map_lookup_elem(&dpc_pol_rules, &k);

	return v && pol_ports_admit(v, proto, bpf_ntohs(port));
}

/*
 * The policy verdict of a workload hook, once NAT has had its say: a packet of a flow this veth
 * already let through keeps `verdict`; a new flow is judged and, when allowed, remembered under
 * `pod_view` (the tuple as the pod sees it), also when its pod is not isolated, so that replies
 * and flows that predate a policy pass later. A refused packet is dropped, never rejected.
 */
static __always_inline int pol_verdict(__u32 ifindex, __u32 dir, const struct dpc_pkt *pod_view, bool known,
				       __be32 peer, const struct dpc_pkt *judged, int verdict, __u64 now,
				       __u8 *reason)
{
	if (verdict == TC_ACT_SHOT || known)
		return verdict;
	if (!pol_admits(ifindex, dir, peer, judged->proto, judged->dport)) {
		*reason = DPC_R_DROP_POLICY;
		return TC_ACT_SHOT;
	}
	struct dpc_pol_ct_key k = pol_ct_key(pod_view, ifindex, false);
	struct dpc_pol_ct_val v = {.last_seen = now};
	/* A full LRU map evicts; a failed write only means the next packet is judged again. */
	bpf_map_update_elem(&dpc_pol_ct, &k, &v, BPF_ANY);
	return verdict;
}

/* tc egress of a workload veth (traffic to the pod): reverse NAT of replies, then ingress policy. */
static __always_inline int wl_egress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	int parsed = parse(skb, &p);
	int verdict = TC_ACT_OK;

	if (!cfg || parsed == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	__u64 now = bpf_ktime_get_ns();
	if (parsed == PARSE_L4)
		verdict = reverse_nat(skb, &p, cfg, now, reason);
	if (verdict == TC_ACT_SHOT)
		return verdict;
	/* After NAT: the pod's view, with the client's own address (never SNATed here) as the peer. */
	bool known = pol_known(&p, skb->ifindex, cfg, now);
	return pol_verdict(skb->ifindex, DPC_POL_DIR_INGRESS, &p, known, p.saddr, &p, verdict, now, reason);
}

/* Service NAT of a packet leaving a pod; `p` is left as the packet now is. */
static __always_inline int wl_ingress_nat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					  __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = tuple_of(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, p))
		return fwd_local(skb, p, ct, cfg, now, reason);
	if (ct && ct->type == DPC_CT_REV) {
		if (ct->flags & DPC_CT_FROM_TUNNEL)
			return reply_to_frontend_node(skb, p, ct, cfg, reason);
		return TC_ACT_OK;
	}
	struct dpc_fe_val *fe = fe_lookup(p, p->daddr == cfg->node_ip);
	if (!fe)
		return TC_ACT_OK;
	return new_flow(skb, p, fe, cfg, now, false, !ct, reason);
}

/* tc ingress of a workload veth (traffic from the pod): source check, service NAT, egress policy. */
static __always_inline int wl_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	int parsed = parse(skb, &p);

	if (!cfg || parsed == PARSE_NOT_IPV4)
		return TC_ACT_OK;
	/* A workload may only send from the address routed to its own veth. */
	struct dpc_route_val *src = route_of(p.saddr);
	if (!src || src->type != DPC_RT_LOCAL_WL || src->ifindex != skb->ifindex) {
		*reason = DPC_R_DROP_ROUTE;
		return TC_ACT_SHOT;
	}

	__u64 now = bpf_ktime_get_ns();
	/* Policy state is kept under the tuple the pod sent, before any NAT. */
	struct dpc_pkt sent = p;
	bool known = pol_known(&sent, skb->ifindex, cfg, now);
	int verdict = parsed == PARSE_L4 ? wl_ingress_nat(skb, &p, cfg, now, reason) : TC_ACT_OK;

	/* Egress policy judges the destination after service NAT: the backend, as Kubernetes does. */
	return pol_verdict(skb->ifindex, DPC_POL_DIR_EGRESS, &sent, known, p.daddr, &p, verdict, now, reason);
}

static __always_inline int host_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();

	if (!cfg || parse(skb, &p) != PARSE_L4)
		return TC_ACT_OK;
	/* Our own tunnel traffic. */
	if (p.proto == IPPROTO_UDP && p.dport == bpf_htons(DPC_VXLAN_PORT) && p.daddr == cfg->node_ip)
		return TC_ACT_OK;

	__u64 now = bpf_ktime_get_ns();
	struct dpc_ct_key k = tuple_of(&p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);
	if (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, &p)) {
		if (ct->flags & DPC_CT_TUNNEL_OUT)
			return tunnel_to(skb, cfg, ct->tun_ip, ct->ordinal, reason);
		return fwd_local(skb, &p, ct, cfg, now, reason);
	}
	if (ct && ct->type == DPC_CT_REV)
		return TC_ACT_OK;
	struct dpc_fe_val *fe = fe_lookup(&p, p.daddr == cfg->node_ip);
	if (!fe)
		return TC_ACT_OK;
	return new_flow(skb, &p, fe, cfg, now, true, !ct, reason);
}

static __always_inline int get_tunnel(struct __sk_buff *skb, __u32 *remote, __u32 *vni)
{
#ifdef DPC_TEST
	__u32 zero = 0;
	struct dpc_test_tun *t = bpf_map_lookup_elem(&dpc_test_tun, &zero);

	if (!t)
		return -1;
	*remote = t->remote_ipv4;
	*vni = t->vni;
	return 0;
#else
	struct bpf_tunnel_key key = {};

	if (bpf_skb_get_tunnel_key(skb, &key, sizeof(key), 0) < 0)
		return -1;
	*remote = key.remote_ipv4;
	*vni = key.tunnel_id;
	return 0;
#endif
}

static __always_inline int vx_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	__u32 remote_h = 0, vni = 0;

	if (!cfg || parse(skb, &p) != PARSE_L4)
		return TC_ACT_OK;
	if (get_tunnel(skb, &remote_h, &vni) < 0) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	__be32 remote = bpf_htonl(remote_h);
	__u64 now = bpf_ktime_get_ns();

	if (vni == DPC_VNI_RETURN) {
		/* Frontend node: only replies of flows we tunnelled to that node go back out. */
		struct dpc_ct_key k = {
			.saddr = p.daddr,
			.daddr = p.saddr,
			.sport = p.dport,
			.dport = p.sport,
			.proto = p.proto,
		};
		struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);
		if (!ct || ct->type != DPC_CT_FWD || !(ct->flags & DPC_CT_TUNNEL_OUT) || ct->tun_ip != remote) {
			*reason = DPC_R_DROP_TUNNEL;
			return TC_ACT_SHOT;
		}
		return fib_forward(skb, &p, reason);
	}

	/* Backend node. */
	struct dpc_ct_key fk = tuple_of(&p);
	struct dpc_ct_val *ct = ct_lookup(&fk, cfg, now);
	if (ct && ct->type == DPC_CT_FWD && (ct->flags & DPC_CT_FROM_TUNNEL) && ct->tun_ip == remote &&
	    ct->ordinal == vni && fwd_valid(ct, &p)) {
		int verdict = fwd_local(skb, &p, ct, cfg, now, reason);

		if (verdict != TC_ACT_OK)
			return verdict;
		return deliver_local(&p, reason);
	}
	struct dpc_fe_val *fe = fe_lookup(&p, is_node_addr(p.daddr));
	if (!fe) {
		*reason = DPC_R_DROP_NO_BACKEND;
		return TC_ACT_SHOT;
	}
	struct dpc_be_key bk = {.svc_id = fe->svc_id, .ordinal = vni};
	struct dpc_be_val *be = bpf_map_lookup_elem(&dpc_nat_be, &bk);
	if (!be || be->node_ip != cfg->node_ip || vni >= fe->count) {
		*reason = DPC_R_DROP_NO_BACKEND;
		return TC_ACT_SHOT;
	}
	__be32 be_ip = be->addr;
	__be16 be_port = be->port;
	struct dpc_ct_val fv = {
		.last_seen = now,
		.type = DPC_CT_FWD,
		.flags = DPC_CT_FROM_TUNNEL,
		.nat_ip = be_ip,
		.nat_port = be_port,
		.tun_ip = remote,
		.ordinal = vni,
		.svc_id = fe->svc_id,
	};
	struct dpc_ct_key rk = {
		.saddr = be_ip,
		.daddr = p.saddr,
		.sport = be_port,
		.dport = p.sport,
		.proto = p.proto,
	};
	struct dpc_ct_val rv = {
		.last_seen = now,
		.type = DPC_CT_REV,
		.flags = DPC_CT_FROM_TUNNEL,
		.nat_ip = p.daddr,
		.nat_port = p.dport,
		.tun_ip = remote,
		.ordinal = vni,
	};
	if (bpf_map_update_elem(&dpc_ct, &fk, &fv, BPF_ANY)) {
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	if (bpf_map_update_elem(&dpc_ct, &rk, &rv, BPF_ANY)) {
		bpf_map_delete_elem(&dpc_ct, &fk);
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	if (!ct && mid_connection(&p))
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_NEW_CONN);
	if (rewrite(skb, &p, true, be_ip, be_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return deliver_local(&p, reason);
}

/* tc ingress of a workload's host-side veth: packets leaving the pod. */
SEC("tc")
int dpc_wl_in(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = wl_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* tc egress of a workload's host-side veth: packets going into the pod. */
SEC("tc")
int dpc_wl_eg(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = wl_egress(skb, &reason);

	return finish(skb, DPC_HOOK_EGRESS, verdict, reason);
}

/* tc ingress of a node data interface (bpfDataIfacePattern). */
SEC("tc")
int dpc_host_in(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = host_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* tc egress of a node data interface. */
SEC("tc")
int dpc_host_eg(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = host_egress(skb, &reason);

	return finish(skb, DPC_HOOK_EGRESS, verdict, reason);
}

/* tc ingress of the node's collect-metadata VXLAN device `vx`. */
SEC("tc")
int dpc_vx_in(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = vx_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* Connect-time load balancing for the node's own processes. */
static __always_inline int ctlb_translate(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct dpc_cfg *cfg = get_cfg();
	struct dpc_pkt p = {};
	__u32 ord = 0;

	if (!cfg)
		return 1;
	p.daddr = ctx->user_ip4;
	p.dport = (__be16)ctx->user_port;
	p.proto = proto;
	struct dpc_fe_val *fe = fe_lookup(&p, p.daddr == cfg->node_ip);
	if (!fe || fe->count == 0)
		return 1;
	struct dpc_be_val *be = pick_backend(fe, cfg->node_ip, cfg, bpf_ktime_get_ns(), bpf_get_prandom_u32(), &ord);
	if (!be)
		return 1;
	struct dpc_ctlb_key k = {.cookie = bpf_get_socket_cookie(ctx), .addr = be->addr, .port = be->port};
	struct dpc_ctlb_val v = {.addr = p.daddr, .port = p.dport};
	bpf_map_update_elem(&dpc_ctlb_rev, &k, &v, BPF_ANY);
	ctx->user_ip4 = be->addr;
	ctx->user_port = (__u32)be->port;
	return 1;
}

static __always_inline int ctlb_reverse(struct bpf_sock_addr *ctx)
{
	struct dpc_ctlb_key k = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = ctx->user_ip4,
		.port = (__be16)ctx->user_port,
	};
	struct dpc_ctlb_val *v = bpf_map_lookup_elem(&dpc_ctlb_rev, &k);

	if (v) {
		ctx->user_ip4 = v->addr;
		ctx->user_port = (__u32)v->port;
	}
	return 1;
}

SEC("cgroup/connect4")
int dpc_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		return ctlb_translate(ctx, IPPROTO_TCP);
	if (ctx->type == SOCK_DGRAM)
		return ctlb_translate(ctx, IPPROTO_UDP);
	return 1;
}

SEC("cgroup/sendmsg4")
int dpc_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_DGRAM)
		return ctlb_translate(ctx, IPPROTO_UDP);
	return 1;
}

SEC("cgroup/recvmsg4")
int dpc_recvmsg4(struct bpf_sock_addr *ctx)
{
	return ctlb_reverse(ctx);
}

SEC("cgroup/getpeername4")
int dpc_getpeer4(struct bpf_sock_addr *ctx)
{
	return ctlb_reverse(ctx);
}

char LICENSE[] SEC("license") = "GPL";
