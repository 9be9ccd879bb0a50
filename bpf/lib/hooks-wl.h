/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the workload veth hooks (calico_from_wl, calico_to_wl). Policy is judged here,
 * after NAT, because only these hooks see every packet of a pod and know which pod it is.
 */
#ifndef DPC_LIB_HOOKS_WL_H
#define DPC_LIB_HOOKS_WL_H

#include "lib/lb.h"
#include "lib/policy.h"

/* The flow an ICMP error is about, as a packet of that flow (for the policy state it left). */
static __always_inline struct dpc_pkt quoted_pkt(const struct dpc_pkt *p)
{
	struct dpc_pkt q = {
		.saddr = p->q.saddr,
		.daddr = p->q.daddr,
		.sport = p->q.sport,
		.dport = p->q.dport,
		.proto = p->q.proto,
	};
	return q;
}

/*
 * The peer ingress policy judges a new flow by: its source, unless this node SNATed it on the way
 * (a pod reaching itself through its Service), when it is the client the SNAT hid.
 */
static __always_inline __be32 ingress_peer(const struct dpc_pkt *p, const struct dpc_cfg *cfg, __u64 now)
{
	struct dpc_ct_key rk = {
		.saddr = p->daddr,
		.daddr = p->saddr,
		.sport = p->dport,
		.dport = p->sport,
		.proto = p->proto,
	};
	struct dpc_ct_val *rv;

	if (p->saddr != cfg->node_ip)
		return p->saddr;
	rv = ct_lookup(&rk, cfg, now);
	if (rv && rv->type == DPC_CT_REV && (rv->flags & DPC_CT_SNAT) && !(rv->flags & DPC_CT_TO_HOST))
		return rv->snat_ip;
	return p->saddr;
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
	if (parsed == PARSE_FRAG_UNKNOWN) {
		*reason = DPC_R_DROP_FRAG;
		return TC_ACT_SHOT;
	}
	if (parsed == PARSE_ICMP_ERR) {
		verdict = icmp_reverse_nat(skb, &p, cfg, now, reason);
		struct dpc_pkt q = quoted_pkt(&p);
		/* An error about a flow of this pod is part of that flow. */
		if (verdict == TC_ACT_SHOT || pol_known(&q, skb->ifindex, cfg, now))
			return verdict;
	}
	if (parsed == PARSE_L4)
		verdict = reverse_nat(skb, &p, cfg, now, reason);
	if (verdict == TC_ACT_SHOT)
		return verdict;
	/* After NAT: the pod's view, with the client's own address (never SNATed here) as the peer. */
	bool known = pol_known(&p, skb->ifindex, cfg, now);
	__be32 peer = known ? p.saddr : ingress_peer(&p, cfg, now);
	return pol_verdict(skb->ifindex, DPC_POL_DIR_INGRESS, &p, known, peer, &p, verdict, now, reason);
}

/* Delivers a packet this hook SNATed or un-SNATed: to the node's stack, or as a hop to a local pod. */
static __always_inline int wl_deliver(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				      bool host, __u8 *reason)
{
	int verdict = TC_ACT_SHOT;

	if (host)
		return to_host(skb, reason);
	if (!forward_checks(skb, p, cfg, false, false, &verdict, reason))
		return verdict;
	return deliver_local(p, reason);
}

/* An ICMP error a pod sends about a flow: it follows the flow's replies. */
static __always_inline int wl_ingress_icmp(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					   __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = quote_flow(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct || ct->type != DPC_CT_REV)
		return TC_ACT_OK;
	__u32 flags = ct->flags;
	__be32 tun = ct->tun_ip;
	if (flags & (DPC_CT_SNAT | DPC_CT_TO_HOST)) {
		if (icmp_reverse_snat(skb, p, ct, reason) != TC_ACT_OK)
			return TC_ACT_SHOT;
		return wl_deliver(skb, p, cfg, flags & DPC_CT_TO_HOST, reason);
	}
	if (!(flags & DPC_CT_FROM_TUNNEL))
		return TC_ACT_OK;
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_ICMP_NAT);
	if (icmp_nat(skb, p, false, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	if (dsr_for(cfg, p->daddr))
		return fib_forward(skb, p, reason);
	return tunnel_send(skb, cfg, tun, DPC_VNI_RETURN, reason);
}

/* Service NAT of a packet leaving a pod; `p` is left as the packet now is. */
static __always_inline int wl_ingress_nat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					  __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = tuple_of(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, p)) {
		bool hairpin = ct->flags & DPC_CT_SNAT;
		int verdict = fwd_local(skb, p, ct, cfg, now, reason);

		if (verdict != TC_ACT_OK || !hairpin)
			return verdict;
		return wl_deliver(skb, p, cfg, false, reason);
	}
	if (ct && ct->type == DPC_CT_REV) {
		__u32 flags = ct->flags;

		if (flags & DPC_CT_FROM_TUNNEL)
			return reply_to_frontend_node(skb, p, ct, cfg, reason);
		if (!(flags & (DPC_CT_SNAT | DPC_CT_TO_HOST)))
			return TC_ACT_OK;
		/* The reply to a flow this node SNATed: a host process's, or the pod's own (hairpin). */
		if (reverse_snat(skb, p, ct, reason) != TC_ACT_OK)
			return TC_ACT_SHOT;
		return wl_deliver(skb, p, cfg, flags & DPC_CT_TO_HOST, reason);
	}
	struct dpc_fe_val *fe = fe_lookup(p, p->daddr == cfg->node_ip);
	if (!fe)
		return TC_ACT_OK;
	return new_flow(skb, p, fe, cfg, now, CLIENT_POD, !ct, reason);
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
	if (parsed == PARSE_FRAG_UNKNOWN) {
		*reason = DPC_R_DROP_FRAG;
		return TC_ACT_SHOT;
	}

	__u64 now = bpf_ktime_get_ns();
	if (parsed == PARSE_ICMP_ERR) {
		struct dpc_pkt q = quoted_pkt(&p);
		bool related = pol_known(&q, skb->ifindex, cfg, now);
		int verdict = wl_ingress_icmp(skb, &p, cfg, now, reason);
		struct dpc_pkt sent = p;

		if (related || verdict == TC_ACT_SHOT)
			return verdict;
		return pol_verdict(skb->ifindex, DPC_POL_DIR_EGRESS, &sent, false, p.daddr, &p, verdict, now, reason);
	}
	/* Policy state is kept under the tuple the pod sent, before any NAT. */
	struct dpc_pkt sent = p;
	bool known = pol_known(&sent, skb->ifindex, cfg, now);
	int verdict = parsed == PARSE_L4 ? wl_ingress_nat(skb, &p, cfg, now, reason) : TC_ACT_OK;

	/* Egress policy judges the destination after service NAT: the backend, as Kubernetes does. */
	return pol_verdict(skb->ifindex, DPC_POL_DIR_EGRESS, &sent, known, p.daddr, &p, verdict, now, reason);
}

#endif /* DPC_LIB_HOOKS_WL_H */
