/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the loopback hook (calico_from_lo): Services for the node's own processes when
 * connect-time load balancing does not translate them (bpfConnectTimeLoadBalancingEnabled false,
 * bpfHostNetworkedNATWithoutCTLB Enabled). A host process's packet to a ClusterIP, a VIP or its
 * own node's NodePort is routed to a `local` route, so it crosses lo and no other hook of ours:
 * here it is NATed like any client's and sent on to its backend. Its source is then whatever the
 * kernel picked for a local destination (the service address itself), which no backend can
 * answer, so it is SNATed to the node's address with a bpfPSNATPorts port. Replies come back
 * to the hook that meets them first and are handed to the stack through lo (see to_host).
 */
#ifndef DPC_LIB_HOOKS_LO_H
#define DPC_LIB_HOOKS_LO_H

#include "lib/lb.h"

static __always_inline int lo_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();

	/* Replies this dataplane hands to the stack are done; so is anything without the setting. */
	if (!cfg || !(cfg->flags & DPC_CFG_HOST_NAT) || skb->mark == DPC_MARK_TO_HOST)
		return TC_ACT_OK;
	if (parse(skb, &p) != PARSE_L4)
		return TC_ACT_OK;
	__u64 now = bpf_ktime_get_ns();
	struct dpc_ct_key k = tuple_of(&p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (ct && ct->type == DPC_CT_FWD && (ct->flags & DPC_CT_TO_HOST) && fwd_valid(ct, &p)) {
		int verdict = fwd_local(skb, &p, ct, cfg, now, reason);

		if (verdict != TC_ACT_OK)
			return verdict;
		return fib_forward(skb, &p, reason);
	}
	if (ct && ct->type == DPC_CT_REV)
		return TC_ACT_OK;
	struct dpc_fe_val *fe = fe_lookup(&p, p.daddr == cfg->node_ip);
	if (!fe)
		return TC_ACT_OK;
	return new_flow(skb, &p, fe, cfg, now, CLIENT_HOST, !ct, reason);
}

#endif /* DPC_LIB_HOOKS_LO_H */
