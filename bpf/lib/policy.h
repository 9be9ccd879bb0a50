/* SPDX-License-Identifier: GPL-2.0 */
/*
 * NetworkPolicy on workload veths: a flow is judged once, when the hook first sees it, and
 * remembered in cali_v4_pol_ct so that its later packets and its replies pass without a verdict.
 * It is separate from service conntrack because it is keyed as the pod sees the flow, per veth.
 */
#ifndef DPC_LIB_POLICY_H
#define DPC_LIB_POLICY_H

#include "lib/conntrack.h"

static __always_inline struct dpc_pol_ct_key pol_ct_key(const struct dpc_pkt *p, __u32 ifindex, bool reversed)
{
	struct dpc_pol_ct_key k = {
		.saddr = reversed ? p->daddr : p->saddr,
		.daddr = reversed ? p->saddr : p->daddr,
		.sport = reversed ? p->dport : p->sport,
		.dport = reversed ? p->sport : p->dport,
		.proto = p->proto,
		.ifindex = ifindex,
	};
	return k;
}

static __always_inline bool pol_ct_hit(const struct dpc_pol_ct_key *k, const struct dpc_cfg *cfg, __u64 now)
{
	struct dpc_pol_ct_val *v = bpf_map_lookup_elem(&cali_v4_pol_ct, k);

	if (!v || now - v->last_seen > ct_timeout_ns(cfg, k->proto))
		return false;
	v->last_seen = now;
	return true;
}

/*
 * Whether `p` (as the pod on `ifindex` sees it) belongs to a flow this veth already let through,
 * in either direction: a later packet of a flow, or a reply to it.
 */
static __always_inline bool pol_known(const struct dpc_pkt *p, __u32 ifindex, const struct dpc_cfg *cfg,
				      __u64 now)
{
	struct dpc_pol_ct_key fk = pol_ct_key(p, ifindex, false);
	struct dpc_pol_ct_key rk = pol_ct_key(p, ifindex, true);

	return pol_ct_hit(&fk, cfg, now) || pol_ct_hit(&rk, cfg, now);
}

static __always_inline bool pol_ports_admit(const struct dpc_pol_val *v, __u8 proto, __u16 port)
{
	__u32 n = v->count;

	for (int i = 0; i < DPC_POL_PORTS; i++) {
		if (i >= n)
			break;
		const struct dpc_pol_port *r = &v->ports[i];
		if (r->proto == DPC_POL_ANY_PROTO)
			return true;
		if (r->proto == proto && port >= r->lo && port <= r->hi)
			return true;
	}
	return false;
}

/*
 * Whether NetworkPolicy lets a new flow through the workload veth `ifindex` in direction `dir`:
 * `peer` is the other end (source for ingress, destination after service NAT for egress) and
 * `port` the destination port (network order; 0 for packets without one).
 */
static __always_inline bool pol_admits(__u32 ifindex, __u32 dir, __be32 peer, __u8 proto, __be16 port)
{
	struct dpc_pol_ep_val *ep = bpf_map_lookup_elem(&cali_v4_pol_ep, &ifindex);
	__u32 flag = dir == DPC_POL_DIR_INGRESS ? DPC_POL_ISOLATED_INGRESS : DPC_POL_ISOLATED_EGRESS;

	if (!ep || !(ep->flags & flag))
		return true;
	struct dpc_pol_key k = {.prefixlen = 96, .ifindex = ifindex, .dir = dir, .addr = peer};
	struct dpc_pol_val *v = bpf_map_lookup_elem(&cali_v4_pol_rul, &k);

	return v && pol_ports_admit(v, proto, bpf_ntohs(port));
}

/*
 * The policy verdict of a workload hook, once NAT has had its say: a packet of a flow this veth
 * already let through keeps `verdict`; a new flow is judged and, when allowed, remembered under
 * `pod_view` (the tuple as the pod sees it), also when its pod is not isolated, so that replies
 * and flows that predate a policy pass later. A refused packet is dropped, never rejected.
 */
static __always_inline int pol_verdict(__u32 ifindex, __u32 dir, const struct dpc_pkt *pod_view, bool known,
				       __be32 peer, const struct dpc_pkt *judged, int verdict, __u64 now,
				       __u8 *reason)
{
	if (verdict == TC_ACT_SHOT || known)
		return verdict;
	if (!pol_admits(ifindex, dir, peer, judged->proto, judged->dport)) {
		*reason = DPC_R_DROP_POLICY;
		return TC_ACT_SHOT;
	}
	struct dpc_pol_ct_key k = pol_ct_key(pod_view, ifindex, false);
	struct dpc_pol_ct_val v = {.last_seen = now};
	/* A full LRU map evicts; a failed write only means the next packet is judged again. */
	bpf_map_update_elem(&cali_v4_pol_ct, &k, &v, BPF_ANY);
	return verdict;
}

#endif /* DPC_LIB_POLICY_H */
