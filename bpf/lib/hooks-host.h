/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the data interface hooks (dpc_host_in, dpc_host_eg): service traffic from
 * external clients in, its replies out. Reverse NAT happens on egress, after routing, so the
 * kernel never sees a reply from one of its own addresses on input.
 */
#ifndef DPC_LIB_HOOKS_HOST_H
#define DPC_LIB_HOOKS_HOST_H

#include "lib/lb.h"

/* Egress of a data interface, towards an external client. */
static __always_inline int host_egress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();

	if (!cfg || parse(skb, &p) != PARSE_L4)
		return TC_ACT_OK;
	return reverse_nat(skb, &p, cfg, bpf_ktime_get_ns(), reason);
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

#endif /* DPC_LIB_HOOKS_HOST_H */
