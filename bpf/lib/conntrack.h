/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Service conntrack (cali_v4_ct): lookups that honour the idle timeouts, the test that a forward
 * entry still names a live backend, and putting back a reply entry that LRU eviction took.
 * Kept in one place because every hook relies on the same notion of a live flow.
 */
#ifndef DPC_LIB_CONNTRACK_H
#define DPC_LIB_CONNTRACK_H

#include "lib/counters.h"
#include "lib/parse.h"

static __always_inline struct dpc_ct_key tuple_of(const struct dpc_pkt *p)
{
	struct dpc_ct_key k = {
		.saddr = p->saddr,
		.daddr = p->daddr,
		.sport = p->sport,
		.dport = p->dport,
		.proto = p->proto,
	};
	return k;
}

static __always_inline __u64 ct_timeout_ns(const struct dpc_cfg *cfg, __u8 proto)
{
	__u32 s = proto == IPPROTO_TCP ? cfg->tcp_timeout_s : cfg->udp_timeout_s;

	if (s == 0)
		s = proto == IPPROTO_TCP ? 3600 : 60;
	return (__u64)s * NS_PER_SEC;
}

/* A live entry, refreshed; a stale one counts as a miss and is overwritten by the next flow. */
static __always_inline struct dpc_ct_val *ct_lookup(const struct dpc_ct_key *k, const struct dpc_cfg *cfg,
						    __u64 now)
{
	struct dpc_ct_val *v = bpf_map_lookup_elem(&cali_v4_ct, k);

	if (!v)
		return NULL;
	if (now - v->last_seen > ct_timeout_ns(cfg, k->proto))
		return NULL;
	v->last_seen = now;
	return v;
}

/* How many ordinals of a service fwd_valid looks through for a backend whose ordinal moved. */
#define DPC_BE_SCAN_MAX 64

/*
 * A FWD entry still holds for this packet unless the packet opens a new TCP connection on a
 * reused tuple, or the backend the entry names is no longer one of its service's (service
 * deleted, endpoint removed, ClusterIP handed to another service): then the flow is balanced
 * afresh. Adding or removing other endpoints renumbers the backends, so a backend not found at
 * its ordinal is looked for at the others, and the entry takes its new ordinal: an established
 * connection keeps its backend while the endpoints around it change.
 */
static __always_inline bool fwd_valid(struct dpc_ct_val *ct, const struct dpc_pkt *p)
{
	if (p->syn)
		return false;
	struct dpc_be_key bk = {.svc_id = ct->svc_id, .ordinal = ct->ordinal};
	struct dpc_be_val *be = bpf_map_lookup_elem(&cali_v4_nat_be, &bk);

	if (be && be->addr == ct->nat_ip && be->port == ct->nat_port)
		return true;
	for (__u32 i = 0; i < DPC_BE_SCAN_MAX; i++) {
		bk.ordinal = i;
		be = bpf_map_lookup_elem(&cali_v4_nat_be, &bk);
		/* Ordinals run from 0 without gaps: the first missing one ends the service. */
		if (!be)
			return false;
		if (be->addr == ct->nat_ip && be->port == ct->nat_port) {
			ct->ordinal = i;
			return true;
		}
	}
	return false;
}

/* A TCP packet other than the opening SYN: conntrack should already know its connection. */
static __always_inline bool mid_connection(const struct dpc_pkt *p)
{
	return p->proto == IPPROTO_TCP && !p->syn;
}

/*
 * The reply-direction entry of a flow whose forward entry `fwd` just matched `p` (before DNAT).
 * LRU eviction takes entries one at a time, so a flow can lose its REV entry and keep its FWD
 * entry; without putting it back the replies would leave un-NATed and the client would reset
 * the connection. Returns 0, or -1 when the entry could not be written.
 */
static __always_inline int ct_ensure_rev(struct __sk_buff *skb, const struct dpc_pkt *p,
					 const struct dpc_ct_val *fwd, const struct dpc_cfg *cfg, __u64 now)
{
	bool tunnelled = fwd->flags & DPC_CT_FROM_TUNNEL;
	bool snat = fwd->flags & DPC_CT_SNAT;
	struct dpc_ct_key rk = {
		.saddr = fwd->nat_ip,
		.daddr = snat ? fwd->snat_ip : p->saddr,
		.sport = fwd->nat_port,
		.dport = snat ? fwd->snat_port : p->sport,
		.proto = p->proto,
	};
	struct dpc_ct_val *rv = ct_lookup(&rk, cfg, now);

	if (rv && rv->type == DPC_CT_REV)
		return 0;
	struct dpc_ct_val nv = {
		.last_seen = now,
		.type = DPC_CT_REV,
		.flags = fwd->flags & (DPC_CT_FROM_TUNNEL | DPC_CT_SNAT | DPC_CT_TO_HOST),
		.nat_ip = p->daddr,
		.nat_port = p->dport,
		.tun_ip = tunnelled ? fwd->tun_ip : 0,
		.ordinal = tunnelled ? fwd->ordinal : 0,
		.snat_ip = snat ? p->saddr : 0,
		.snat_port = snat ? p->sport : 0,
	};
	if (bpf_map_update_elem(&cali_v4_ct, &rk, &nv, BPF_ANY))
		return -1;
	count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_CT_RECREATED);
	return 0;
}

#endif /* DPC_LIB_CONNTRACK_H */
