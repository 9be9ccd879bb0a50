/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Address and port rewriting with checksum fix-ups, and its two uses that need nothing but
 * conntrack: DNAT of a known flow and the reverse NAT of its replies. The tunnel and the
 * balancing decision build on these, so they stay free of either.
 */
#ifndef DPC_LIB_NAT_H
#define DPC_LIB_NAT_H

#include "lib/conntrack.h"
#include "lib/icmp.h"

/*
 * Rewrites the destination (dst) or source address and port, keeping IP and L4 checksums right.
 * A later fragment has no L4 header: only its address changes (its first fragment's checksum
 * already accounts for the whole datagram).
 */
static __always_inline int rewrite(struct __sk_buff *skb, struct dpc_pkt *p, bool dst, __be32 new_ip,
				   __be16 new_port)
{
	__be32 old_ip = dst ? p->daddr : p->saddr;
	__be16 old_port = dst ? p->dport : p->sport;
	__u32 ip_off = dst ? IP_DST_OFF : IP_SRC_OFF;
	__u32 port_off = p->l4_off + (dst ? 2 : 0);

	if (old_ip != new_ip) {
		if (p->csum_off && bpf_l4_csum_replace(skb, p->csum_off, old_ip, new_ip,
						       p->csum_flags | BPF_F_PSEUDO_HDR | sizeof(new_ip)))
			return -1;
		if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, new_ip, sizeof(new_ip)))
			return -1;
		if (bpf_skb_store_bytes(skb, ip_off, &new_ip, sizeof(new_ip), 0))
			return -1;
	}
	if (old_port != new_port && p->csum_off) {
		if (bpf_l4_csum_replace(skb, p->csum_off, old_port, new_port, p->csum_flags | sizeof(new_port)))
			return -1;
		if (bpf_skb_store_bytes(skb, port_off, &new_port, sizeof(new_port), 0))
			return -1;
	}
	if (dst) {
		p->daddr = new_ip;
		p->dport = new_port;
	} else {
		p->saddr = new_ip;
		p->sport = new_port;
	}
	return 0;
}

/* ct_ensure_rev, then the DNAT (and the SNAT, for a flow that needs one) of a packet of a known flow. */
static __always_inline int fwd_local(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_ct_val *ct,
				     const struct dpc_cfg *cfg, __u64 now, __u8 *reason)
{
	__be32 ip = ct->nat_ip;
	__be16 port = ct->nat_port;
	bool snat = ct->flags & DPC_CT_SNAT;
	__be32 sip = ct->snat_ip;
	__be16 sport = ct->snat_port;

	if (ct_ensure_rev(skb, p, ct, cfg, now)) {
		*reason = DPC_R_DROP_CT;
		return TC_ACT_SHOT;
	}
	if (rewrite(skb, p, true, ip, port) || (snat && rewrite(skb, p, false, sip, sport))) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

static __always_inline int nat(struct __sk_buff *skb, struct dpc_pkt *p, bool dst, __be32 ip, __be16 port,
			       __u8 *reason)
{
	if (rewrite(skb, p, dst, ip, port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

/* Undoes the DNAT of a reply on its way to the client; `p` is left as the client will see it. */
static __always_inline int reverse_nat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				       __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = tuple_of(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct || ct->type != DPC_CT_REV || (ct->flags & (DPC_CT_FROM_TUNNEL | DPC_CT_SNAT | DPC_CT_TO_HOST)))
		return TC_ACT_OK;
	return nat(skb, p, false, ct->nat_ip, ct->nat_port, reason);
}

/*
 * The reply of a flow whose client is this node (a host process, or a pod reaching itself): the
 * frontend as its source and, when it was SNATed, the client's own tuple as its destination.
 */
static __always_inline int reverse_snat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_ct_val *ct,
					__u8 *reason)
{
	bool snat = ct->flags & DPC_CT_SNAT;
	__be32 sip = ct->snat_ip;
	__be16 sport = ct->snat_port;

	if (rewrite(skb, p, false, ct->nat_ip, ct->nat_port) || (snat && rewrite(skb, p, true, sip, sport))) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

/*
 * An ICMP error on its way to a client, about a flow whose replies this hook reverse-NATs: the
 * quoted destination (and the sender, when it was the backend) becomes the frontend again.
 */
static __always_inline int icmp_reverse_nat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					    __u64 now, __u8 *reason)
{
	struct dpc_ct_key k = quote_flow(p);
	struct dpc_ct_val *ct = ct_lookup(&k, cfg, now);

	if (!ct || ct->type != DPC_CT_REV || (ct->flags & (DPC_CT_FROM_TUNNEL | DPC_CT_SNAT | DPC_CT_TO_HOST)))
		return TC_ACT_OK;
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_ICMP_NAT);
	if (icmp_nat(skb, p, false, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

/* The same as reverse_snat for an ICMP error: both ends of the quote go back to what the client sent. */
static __always_inline int icmp_reverse_snat(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_ct_val *ct,
					     __u8 *reason)
{
	bool snat = ct->flags & DPC_CT_SNAT;
	__be32 sip = ct->snat_ip;
	__be16 sport = ct->snat_port;

	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_ICMP_NAT);
	if (icmp_nat(skb, p, false, ct->nat_ip, ct->nat_port) || (snat && icmp_nat(skb, p, true, sip, sport))) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	return TC_ACT_OK;
}

#endif /* DPC_LIB_NAT_H */
