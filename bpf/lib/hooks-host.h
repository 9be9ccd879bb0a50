/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the data interface hooks (calico_from_hep, calico_to_hep): service traffic from
 * external clients in, its replies out. Reverse NAT happens on egress, after routing, so the
 * kernel never sees a reply from one of its own addresses on input; replies to flows this node
 * SNATed (its own processes' connections to remote backends) are the exception: they are for
 * the node itself and go to its stack through lo.
 */
#ifndef DPC_LIB_HOOKS_HOST_H
#define DPC_LIB_HOOKS_HOST_H

#include "lib/lb.h"

/* Egress of a data interface, towards an external client. */
static __always_inline int host_egress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	int parsed = parse(skb, &p);

	if (!cfg)
		return TC_ACT_OK;
	if (parsed == PARSE_ICMP_ERR)
		return icmp_reverse_nat(skb, &p, cfg, bpf_ktime_get_ns(), reason);
	if (parsed != PARSE_L4)
		return TC_ACT_OK;
	return reverse_nat(skb, &p, cfg, bpf_ktime_get_ns(), reason);
}

/* An ICMP error arriving from outside, about one of our flows: translated like the flow's packets. */
static __always_inline int host_ingress_icmp(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					     __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = quote_flow(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct)
		return TC_ACT_OK;
	if (ct->type == DPC_CT_REV && (ct->flags & DPC_CT_TO_HOST))
		return icmp_reverse_snat(skb, p, ct, reason) == TC_ACT_OK ? to_host(skb, reason) : TC_ACT_SHOT;
	if (ct->type != DPC_CT_FWD)
		return TC_ACT_OK;
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_ICMP_NAT);
	/* About a reply to a client: the quoted source is the frontend, which the backend was. */
	if (ct->flags & DPC_CT_TUNNEL_OUT)
		return tunnel_send(skb, cfg, ct->tun_ip, ct->ordinal, reason);
	if (icmp_nat(skb, p, true, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

static __always_inline int host_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	int parsed = parse(skb, &p);

	if (!cfg)
		return TC_ACT_OK;
	__u64 now = bpf_ktime_get_ns();
	if (parsed == PARSE_ICMP_ERR)
		return host_ingress_icmp(skb, &p, cfg, now, reason);
	if (parsed == PARSE_FRAG_UNKNOWN) {
		*reason = DPC_R_DROP_FRAG;
		return TC_ACT_SHOT;
	}
	if (parsed != PARSE_L4)
		return TC_ACT_OK;
	/* Our own tunnel traffic. */
	if (p.proto == IPPROTO_UDP && p.dport == bpf_htons(DPC_VXLAN_PORT) && p.daddr == cfg->node_ip)
		return TC_ACT_OK;

	struct dpc_ct_key k = tuple_of(&p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);
	if (ct && ct->type == DPC_CT_FWD && fwd_valid(ct, &p)) {
		if (ct->flags & DPC_CT_TUNNEL_OUT)
			return tunnel_to(skb, &p, cfg, ct->tun_ip, ct->ordinal, reason);
		return fwd_local(skb, &p, ct, cfg, now, reason);
	}
	if (ct && ct->type == DPC_CT_REV) {
		if (!(ct->flags & DPC_CT_TO_HOST))
			return TC_ACT_OK;
		/* The reply to a host process's connection, from a backend on another node. */
		int verdict = reverse_snat(skb, &p, ct, reason);
		return verdict == TC_ACT_OK ? to_host(skb, reason) : verdict;
	}
	struct dpc_fe_val *fe = fe_lookup(&p, p.daddr == cfg->node_ip);
	if (!fe)
		return TC_ACT_OK;
	return new_flow(skb, &p, fe, cfg, now, CLIENT_EXTERNAL, !ct, reason);
}

#endif /* DPC_LIB_HOOKS_HOST_H */
