/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Service load balancing: the frontend lookup, the backend pick (by flow hash, with ClientIP
 * affinity) and what the first packet of a flow does with it. The pick is a pure function of
 * the tuple and the backend set so that a flow whose conntrack entries were evicted lands on
 * the same backend again.
 */
#ifndef DPC_LIB_LB_H
#define DPC_LIB_LB_H

#include "lib/snat.h"
#include "lib/tunnel.h"

/* NodePorts are keyed with address 0: they answer on the node's own address(es). */
static __always_inline struct dpc_fe_val *fe_lookup(const struct dpc_pkt *p, bool nodeport)
{
	struct dpc_fe_key k = {.addr = p->daddr, .port = p->dport, .proto = p->proto};
	struct dpc_fe_val *v = bpf_map_lookup_elem(&cali_v4_nat_fe, &k);

	if (v || !nodeport)
		return v;
	k.addr = 0;
	return bpf_map_lookup_elem(&cali_v4_nat_fe, &k);
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
		struct dpc_aff_val *av = bpf_map_lookup_elem(&cali_v4_nat_aff, &ak);
		__u32 secs = fe->affinity_s ? fe->affinity_s : cfg->affinity_timeout_s;
		__u64 ttl = (__u64)(secs ? secs : 10800) * NS_PER_SEC;

		if (av && now - av->last_seen <= ttl && av->ordinal < n)
			idx = av->ordinal;
		struct dpc_aff_val nv = {.last_seen = now, .ordinal = idx};
		bpf_map_update_elem(&cali_v4_nat_aff, &ak, &nv, BPF_ANY);
	}
	struct dpc_be_key bk = {.svc_id = fe->svc_id, .ordinal = idx};
	struct dpc_be_val *be = bpf_map_lookup_elem(&cali_v4_nat_be, &bk);

	/* Without SNAT a client cannot be its own backend (it would receive its own address as
	 * the source): take the next backend when there is one. */
	if (be && be->addr == client && n > 1) {
		bk.ordinal = idx + 1 < n ? idx + 1 : 0;
		be = bpf_map_lookup_elem(&cali_v4_nat_be, &bk);
	}
	*ordinal = bk.ordinal;
	return be;
}

/* Who opened a flow, which decides how its packets reach the backend and its replies come back. */
#define CLIENT_EXTERNAL 0 /* through a data interface: a remote backend is reached in the tunnel */
#define CLIENT_POD 1      /* a local workload: routed natively; SNATed only when it is its own backend */
#define CLIENT_HOST 2     /* the node's own stack (lo): SNATed when its source is no use to a backend */

/*
 * The conntrack entries of a new flow: FWD under the client's tuple, REV under the tuple its
 * replies will have. A tunnelled flow gets its REV entry on the backend's node instead.
 */
static __always_inline int new_flow_ct(const struct dpc_pkt *p, struct dpc_ct_val *fv, const struct dpc_ct_key *rk,
				       const struct dpc_ct_val *rv, __u8 *reason)
{
	struct dpc_ct_key fk = tuple_of(p);

	if (bpf_map_update_elem(&cali_v4_ct, &fk, fv, BPF_ANY))
		goto fail;
	if (rk && bpf_map_update_elem(&cali_v4_ct, rk, rv, BPF_ANY)) {
		bpf_map_delete_elem(&cali_v4_ct, &fk);
		goto fail;
	}
	return 0;
fail:
	*reason = DPC_R_DROP_CT;
	return -1;
}

/* First packet of a flow to a frontend, from a client of the given kind (CLIENT_*). */
static __always_inline int new_flow(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_fe_val *fe,
				    const struct dpc_cfg *cfg, __u64 now, __u8 client, bool ct_missed, __u8 *reason)
{
	struct dpc_be_val *be;
	__u32 ord = 0;
	__u32 hash = tuple_hash(p);
	int verdict = TC_ACT_SHOT;

	if (fe->count == 0) {
		if (fe->flags & DPC_FE_LOCAL) {
			/* Like kube-proxy: a Local service is dropped where it has no endpoint. */
			*reason = DPC_R_DROP_NO_LOCAL_EP;
			return TC_ACT_SHOT;
		}
		/* No endpoint anywhere: the node's own stack refuses (RST / port unreachable). */
		return TC_ACT_OK;
	}
	be = pick_backend(fe, p->saddr, cfg, now, hash, &ord);
	if (!be) {
		*reason = DPC_R_DROP_NO_BACKEND;
		return TC_ACT_SHOT;
	}
	__be32 be_ip = be->addr;
	__be16 be_port = be->port;
	__be32 be_node = be->node_ip;
	bool remote = client == CLIENT_EXTERNAL && be_node != cfg->node_ip && ord < DPC_VNI_RETURN;
	bool snat = (client == CLIENT_POD && be_ip == p->saddr) || (client == CLIENT_HOST && p->saddr != cfg->node_ip);
	__be16 snat_port = p->sport;

	if (snat) {
		snat_port = psnat_pick(cfg, cfg->node_ip, be_ip, be_port, p->proto, hash, now);
		if (!snat_port) {
			*reason = DPC_R_DROP_NO_PORT;
			return TC_ACT_SHOT;
		}
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_SNAT);
	}
	__u8 flags = remote ? DPC_CT_TUNNEL_OUT : 0;
	if (snat)
		flags |= DPC_CT_SNAT;
	if (client == CLIENT_HOST)
		flags |= DPC_CT_TO_HOST;
	struct dpc_ct_val fv = {
		.last_seen = now,
		.type = DPC_CT_FWD,
		.flags = flags,
		.nat_ip = be_ip,
		.nat_port = be_port,
		.tun_ip = be_node,
		.ordinal = ord,
		.svc_id = fe->svc_id,
		.snat_ip = snat ? cfg->node_ip : 0,
		.snat_port = snat ? snat_port : 0,
	};
	struct dpc_ct_key rk = {
		.saddr = be_ip,
		.daddr = snat ? cfg->node_ip : p->saddr,
		.sport = be_port,
		.dport = snat_port,
		.proto = p->proto,
	};
	struct dpc_ct_val rv = {
		.last_seen = now,
		.type = DPC_CT_REV,
		.flags = flags & (DPC_CT_SNAT | DPC_CT_TO_HOST),
		.nat_ip = p->daddr,
		.nat_port = p->dport,
		.snat_ip = snat ? p->saddr : 0,
		.snat_port = snat ? p->sport : 0,
	};
	if (new_flow_ct(p, &fv, remote ? NULL : &rk, &rv, reason))
		return TC_ACT_SHOT;
	/* Evicted (or expired) under a live connection: re-created, on the same backend (tuple_hash). */
	if (ct_missed && mid_connection(p))
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_NEW_CONN);
	if (log_level() >= DPC_LOG_INFO)
		log_packet(skb, DPC_HOOK_INGRESS, DPC_EV_NEW_FLOW, 0, 0, be_ip, be_port);
	if (remote)
		return tunnel_to(skb, p, cfg, be_node, ord, reason);
	if (rewrite(skb, p, true, be_ip, be_port) || (snat && rewrite(skb, p, false, cfg->node_ip, snat_port))) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	if (client == CLIENT_HOST)
		return fib_forward(skb, p, reason);
	if (!snat)
		return TC_ACT_OK;
	/* Hairpin: the packet now comes from the node's address, which input routing calls martian. */
	if (!forward_checks(skb, p, cfg, false, false, &verdict, reason))
		return verdict;
	return deliver_local(p, reason);
}

#endif /* DPC_LIB_LB_H */
