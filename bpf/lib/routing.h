/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The routes map and the two ways a program forwards without the kernel's input path: a FIB
 * lookup, or straight to a local workload's veth. Both use bpf_redirect_neigh because those
 * packets (decapsulated, or with a node's address as source) would be dropped by input routing.
 */
#ifndef DPC_LIB_ROUTING_H
#define DPC_LIB_ROUTING_H

#include "lib/parse.h"
#include "lib/test-hooks.h"

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

#endif /* DPC_LIB_ROUTING_H */
