/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the workload veth hooks (dpc_wl_in, dpc_wl_eg). Policy is judged here, after
 * NAT, because only these hooks see every packet of a pod and know which pod it is.
 */
#ifndef DPC_LIB_HOOKS_WL_H
#define DPC_LIB_HOOKS_WL_H

#include "lib/lb.h"
#include "lib/policy.h"

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

#endif /* DPC_LIB_HOOKS_WL_H */
