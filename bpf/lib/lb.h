/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Service load balancing: the frontend lookup, the backend pick (by flow hash, with ClientIP
 * affinity) and what the first packet of a flow does with it. The pick is a pure function of
 * the tuple and the backend set so that a flow whose conntrack entries were evicted lands on
 * the same backend again.
 */
#ifndef DPC_LIB_LB_H
#define DPC_LIB_LB_H

#include "lib/tunnel.h"

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

#endif /* DPC_LIB_LB_H */
