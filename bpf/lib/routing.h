/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The routes map and the two ways a program forwards without the kernel's input path: a FIB
 * lookup, or straight to a local workload's veth. Both use bpf_redirect_neigh because those
 * packets (decapsulated, or with a node's address as source) would be dropped by input routing.
 */
#ifndef DPC_LIB_ROUTING_H
#define DPC_LIB_ROUTING_H

#include "lib/icmp.h"
#include "lib/test-hooks.h"

static __always_inline struct dpc_route_val *route_of(__be32 addr)
{
	struct dpc_route_key k = {.prefixlen = 32, .addr = addr};

	return bpf_map_lookup_elem(&cali_v4_routes, &k);
}

static __always_inline bool is_node_addr(__be32 addr)
{
	struct dpc_route_val *rt = route_of(addr);

	return rt && (rt->type == DPC_RT_LOCAL_HOST || rt->type == DPC_RT_REMOTE_HOST);
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

/*
 * The TTL of a packet the program forwards itself, past the kernel's forward path that would
 * otherwise decrement it: false when it ran out, and then *verdict says what became of the
 * packet (time exceeded back to its sender when `reply` says the sender is behind the interface
 * it came in on, dropped otherwise).
 */
static __always_inline bool ttl_forward(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					bool reply, int *verdict, __u8 *reason)
{
	__u16 old, cur;

	if (p->ttl <= 1) {
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_TTL_EXPIRED);
		*reason = DPC_R_TTL_EXPIRED;
		*verdict = reply ? icmp_reply(skb, p, cfg, ICMP_T_TIME_EXCEEDED, ICMP_C_TTL_EXCEEDED, 0, reason) : TC_ACT_SHOT;
		return false;
	}
	/* TTL and protocol share a 16-bit word of the header checksum. */
	if (bpf_skb_load_bytes(skb, IP_TTL_OFF, &old, sizeof(old)))
		goto fail;
	cur = old;
	((__u8 *)&cur)[0] = p->ttl - 1;
	if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old, cur, sizeof(cur)) ||
	    bpf_skb_store_bytes(skb, IP_TTL_OFF, &cur, sizeof(cur), 0))
		goto fail;
	p->ttl--;
	return true;
fail:
	*reason = DPC_R_DROP_NAT;
	*verdict = TC_ACT_SHOT;
	return false;
}

/*
 * Hands a reply to the node's own stack (a host process was the client). It enters through lo,
 * where a source that is one of the node's addresses is not martian (lo has accept_local), with
 * the MAC addresses lo's own are (none) and a mark the lo hook leaves alone.
 */
static __always_inline int to_host(struct __sk_buff *skb, __u8 *reason)
{
	__u8 zero[2 * ETH_ALEN] = {};

	if (bpf_skb_store_bytes(skb, 0, zero, sizeof(zero), 0)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	skb->mark = DPC_MARK_TO_HOST;
	test_record(0, 0, 1);
	return bpf_redirect(1, BPF_F_INGRESS);
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

#endif /* DPC_LIB_ROUTING_H */
