/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The logic of the VXLAN device hook (calico_vxlan_in). One hook plays two roles, told apart by
 * the VNI: on the backend node it DNATs a tunnelled flow (the VNI names the backend); on the
 * frontend node it forwards only replies of flows that node itself tunnelled out. Either way
 * the node forwards the decapsulated packet itself, as a router hop (TTL).
 */
#ifndef DPC_LIB_HOOKS_VX_H
#define DPC_LIB_HOOKS_VX_H

#include "lib/lb.h"

/* Frontend node: a reply (or an ICMP error about the flow) of a flow this node tunnelled to `remote`. */
static __always_inline int vx_return(struct __sk_buff *skb, struct dpc_pkt *p, int parsed, const struct dpc_cfg *cfg,
				     __be32 remote, __u64 now, __u8 *reason)
{
	/* The flow's forward entry: the client's own tuple, which an ICMP error quotes as it is. */
	struct dpc_ct_key k = {
		.saddr = p->daddr,
		.daddr = p->saddr,
		.sport = p->dport,
		.dport = p->sport,
		.proto = p->proto,
	};
	if (parsed == PARSE_ICMP_ERR) {
		k.saddr = p->q.saddr;
		k.daddr = p->q.daddr;
		k.sport = p->q.sport;
		k.dport = p->q.dport;
		k.proto = p->q.proto;
	}
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);
	int verdict = TC_ACT_SHOT;

	if (!ct || ct->type != DPC_CT_FWD || !(ct->flags & DPC_CT_TUNNEL_OUT) || ct->tun_ip != remote) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	if (!forward_checks(skb, p, cfg, false, false, &verdict, reason))
		return verdict;
	return fib_forward(skb, p, reason);
}

/* Backend node: an ICMP error the client sent about the flow's replies, forwarded by the frontend node. */
static __always_inline int vx_icmp_in(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				      __be32 remote, __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = quote_flow(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct || ct->type != DPC_CT_FWD || !(ct->flags & DPC_CT_FROM_TUNNEL) || ct->tun_ip != remote) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_ICMP_NAT);
	if (icmp_nat(skb, p, true, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return deliver_local(p, reason);
}

/* Backend node: hands the DNATed packet to its backend, as a hop. */
static __always_inline int vx_deliver(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				      __u8 *reason)
{
	int verdict = TC_ACT_SHOT;

	if (!forward_checks(skb, p, cfg, false, false, &verdict, reason))
		return verdict;
	return deliver_local(p, reason);
}

static __always_inline int vx_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_pkt p;
	struct dpc_cfg *cfg = get_cfg();
	__u32 remote_h = 0, vni = 0;
	int parsed = parse(skb, &p);

	if (!cfg)
		return TC_ACT_OK;
	if (parsed == PARSE_FRAG_UNKNOWN) {
		*reason = DPC_R_DROP_FRAG;
		return TC_ACT_SHOT;
	}
	if (parsed != PARSE_L4 && parsed != PARSE_ICMP_ERR)
		return TC_ACT_OK;
	if (get_tunnel(skb, &remote_h, &vni) < 0) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	__be32 remote = bpf_htonl(remote_h);
	__u64 now = bpf_ktime_get_ns();

	if (vni == DPC_VNI_RETURN)
		return vx_return(skb, &p, parsed, cfg, remote, now, reason);
	if (parsed == PARSE_ICMP_ERR)
		return vx_icmp_in(skb, &p, cfg, remote, now, reason);

	/* Backend node. */
	struct dpc_ct_key fk = tuple_of(&p);
	struct dpc_ct_val *ct = ct_lookup(&fk, cfg, now);
	/*
	 * The VNI (the entry node's ordinal for the backend) is not compared with the entry's: the
	 * two nodes renumber their backends when endpoints change, each at its own moment, and an
	 * established connection must not be balanced again in between.
	 */
	if (ct && ct->type == DPC_CT_FWD && (ct->flags & DPC_CT_FROM_TUNNEL) && ct->tun_ip == remote &&
	    fwd_valid(ct, &p)) {
		int verdict = fwd_local(skb, &p, ct, cfg, now, reason);

		if (verdict != TC_ACT_OK)
			return verdict;
		return vx_deliver(skb, &p, cfg, reason);
	}
	struct dpc_fe_val *fe = fe_lookup(&p, is_node_addr(p.daddr));
	if (!fe) {
		*reason = DPC_R_DROP_NO_BACKEND;
		return TC_ACT_SHOT;
	}
	struct dpc_be_key bk = {.svc_id = fe->svc_id, .ordinal = vni};
	struct dpc_be_val *be = bpf_map_lookup_elem(&cali_v4_nat_be, &bk);
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
	if (new_flow_ct(&p, &fv, &rk, &rv, reason))
		return TC_ACT_SHOT;
	if (!ct && mid_connection(&p))
		count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_NEW_CONN);
	if (log_level() >= DPC_LOG_INFO)
		log_packet(skb, DPC_HOOK_INGRESS, DPC_EV_NEW_FLOW, 0, 0, be_ip, be_port);
	if (rewrite(skb, &p, true, be_ip, be_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return vx_deliver(skb, &p, cfg, reason);
}

#endif /* DPC_LIB_HOOKS_VX_H */
