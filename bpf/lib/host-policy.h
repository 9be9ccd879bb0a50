/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Host endpoint policy on the data interfaces (Calico's HostEndpoint, GlobalNetworkPolicy).
 * It wraps the data interface hooks of hooks-host.h rather than living inside them: ingress is
 * judged once before service NAT (pre-DNAT policy, on the packet as it arrived) and once after
 * (normal policy, to the host or, with applyOnForward, forwarded), egress after reverse NAT.
 * Each stage of an endpoint is an ordered rule list (src set, dst set, protocol, destination
 * ports -> allow or deny), walked in a bounded loop.
 * Flows let through are remembered in the policy conntrack under the interface's ifindex, as
 * workload policy does on veths, so replies and later packets are not judged again. The
 * control plane puts failsafe ports first in the stages that see the host's own traffic.
 */
#ifndef DPC_LIB_HOST_POLICY_H
#define DPC_LIB_HOST_POLICY_H

#include "lib/hooks-host.h"
#include "lib/policy.h"
#include "lib/routing.h"

#define DPC_HEP_SIZE 256	/* (interface, stage) pairs */
#define DPC_HEP_RULES_SIZE 16384
#define DPC_HEP_NETS_SIZE 16384
#define DPC_HEP_MAX_RULES 64	/* per interface and stage; the control plane refuses more */
#define DPC_HEP_PORTS 8		/* port ranges per rule; the control plane splits longer lists */

/* Stages, as host-policy-plan.ts numbers them. */
#define DPC_HEP_PRE_DNAT 0
#define DPC_HEP_INGRESS 1
#define DPC_HEP_EGRESS 2
#define DPC_HEP_FWD_INGRESS 3
#define DPC_HEP_FWD_EGRESS 4

/* Verdicts and rule actions. */
#define DPC_HEP_ALLOW 1
#define DPC_HEP_DENY 2

/* Rule flags. */
#define DPC_HEP_NOT_PROTO 0x1

/* cali_v4_hep: (interface, stage) -> how many rules, which version of them, the verdict of no match. */
struct dpc_hep_key {
	__u32 ifindex;
	__u32 stage;
};

struct dpc_hep_val {
	__u32 count;
	__u16 version; /* rules are written under a new version, then this switches to it */
	__u8 otherwise;
	__u8 pad;
};

/* cali_v4_hep_rul: (interface, stage, version, index) -> one rule. */
struct dpc_hep_rule_key {
	__u32 ifindex;
	__u16 stage;
	__u16 version;
	__u32 index;
};

struct dpc_hep_port {
	__u16 lo;
	__u16 hi;
};

struct dpc_hep_rule {
	__u8 action;
	__u8 proto; /* 0: every protocol */
	__u8 flags;
	__u8 nports; /* 0: every port */
	__u32 src_set; /* 0: every address; else an id in cali_v4_hep_net */
	__u32 dst_set;
	__u32 pad;
	struct dpc_hep_port ports[DPC_HEP_PORTS];
};

/* cali_v4_hep_net, an LPM trie: (set id, address) -> present. prefixlen = 32 + the CIDR's. */
struct dpc_hep_net_key {
	__u32 prefixlen;
	__u32 set; /* always inside the prefix: byte order does not matter */
	__be32 addr;
};

_Static_assert(sizeof(struct dpc_hep_key) == 8, "hep key");
_Static_assert(sizeof(struct dpc_hep_val) == 8, "hep val");
_Static_assert(sizeof(struct dpc_hep_rule_key) == 12, "hep rule key");
_Static_assert(sizeof(struct dpc_hep_rule) == 16 + 4 * DPC_HEP_PORTS, "hep rule");
_Static_assert(sizeof(struct dpc_hep_net_key) == 12, "hep net key");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_HEP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_hep_key);
	__type(value, struct dpc_hep_val);
} cali_v4_hep SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_HEP_RULES_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_hep_rule_key);
	__type(value, struct dpc_hep_rule);
} cali_v4_hep_rul SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_HEP_NETS_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_hep_net_key);
	__type(value, __u32);
} cali_v4_hep_net SEC(".maps");

/*
 * Scratch space for what the hooks below keep while they work. The data interface hooks use
 * nearly all of a program's 512 bytes of stack for service NAT, so host endpoint policy keeps
 * its packet copy and map keys here instead. A tc program runs to completion on its CPU.
 */
struct dpc_hep_scratch {
	struct dpc_pkt p;
	struct dpc_pol_ct_key seen;
	struct dpc_hep_key hk;
	struct dpc_hep_rule_key rk;
	struct dpc_hep_net_key nk;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_hep_scratch);
} cali_v4_hep_scr SEC(".maps");

static __always_inline struct dpc_hep_scratch *hep_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cali_v4_hep_scr, &zero);
}

static __always_inline bool hep_in_set(struct dpc_hep_scratch *s, __u32 set, __be32 addr)
{
	if (set == 0)
		return true;
	s->nk.prefixlen = 64;
	s->nk.set = set;
	s->nk.addr = addr;
	return bpf_map_lookup_elem(&cali_v4_hep_net, &s->nk) != NULL;
}

static __always_inline bool hep_rule_matches(struct dpc_hep_scratch *s, const struct dpc_hep_rule *r, __u8 proto,
					     __u16 port)
{
	bool not_proto = r->flags & DPC_HEP_NOT_PROTO;

	if (r->proto && ((r->proto == proto) == not_proto))
		return false;
	if (!hep_in_set(s, r->src_set, s->p.saddr) || !hep_in_set(s, r->dst_set, s->p.daddr))
		return false;
	if (r->nports == 0)
		return true;
	for (int i = 0; i < DPC_HEP_PORTS; i++) {
		if (i >= r->nports)
			break;
		if (port >= r->ports[i].lo && port <= r->ports[i].hi)
			return true;
	}
	return false;
}

/*
 * Whether stage `stage` of the endpoint on `ifindex` lets the packet in `s->p` through: the
 * action of the first matching rule, else the stage's default; a stage with no entry allows.
 */
static __always_inline bool hep_allows(struct dpc_hep_scratch *s, __u32 ifindex, __u32 stage)
{
	s->hk.ifindex = ifindex;
	s->hk.stage = stage;
	struct dpc_hep_val *h = bpf_map_lookup_elem(&cali_v4_hep, &s->hk);

	if (!h)
		return true;
	__u32 count = h->count;
	int verdict = h->otherwise;
	__u8 proto = s->p.proto;
	__u16 port = bpf_ntohs(s->p.dport);

	s->rk.ifindex = ifindex;
	s->rk.stage = stage;
	s->rk.version = h->version;
	for (__u32 i = 0; i < DPC_HEP_MAX_RULES; i++) {
		if (i >= count)
			break;
		s->rk.index = i;
		struct dpc_hep_rule *r = bpf_map_lookup_elem(&cali_v4_hep_rul, &s->rk);

		if (!r)
			break;
		if (hep_rule_matches(s, r, proto, port)) {
			verdict = r->action;
			break;
		}
	}
	return verdict != DPC_HEP_DENY;
}

/* True when a host endpoint owns the interface (every bound interface has an ingress entry). */
static __always_inline bool hep_bound(__u32 ifindex)
{
	struct dpc_hep_key hk = {.ifindex = ifindex, .stage = DPC_HEP_INGRESS};

	return bpf_map_lookup_elem(&cali_v4_hep, &hk) != NULL;
}

/* An address of this node itself (or one it answers for with a local route). */
static __always_inline bool hep_is_host(__be32 addr, const struct dpc_cfg *cfg)
{
	if (addr == cfg->node_ip)
		return true;
	struct dpc_route_val *rt = route_of(addr);

	return !rt || rt->type == DPC_RT_LOCAL_HOST;
}

/* Packets host endpoint policy judges: TCP, UDP and other IP protocols; not ICMP errors or our tunnel. */
static __always_inline bool hep_judged(int parsed, const struct dpc_pkt *p, const struct dpc_cfg *cfg)
{
	if (parsed != PARSE_L4 && parsed != PARSE_OTHER)
		return false;
	if (p->proto == IPPROTO_UDP && p->dport == bpf_htons(DPC_VXLAN_PORT) &&
	    (p->daddr == cfg->node_ip || p->saddr == cfg->node_ip))
		return false;
	return true;
}

/* Remembers the flow `k` (as the interface saw it) as let through. */
static __always_inline void hep_remember(const struct dpc_pol_ct_key *k)
{
	struct dpc_pol_ct_val v = {.last_seen = bpf_ktime_get_ns()};

	bpf_map_update_elem(&cali_v4_pol_ct, k, &v, BPF_ANY);
}

/* tc ingress of a data interface: pre-DNAT policy, the service hook, then normal policy. */
static __always_inline int hep_ingress(struct __sk_buff *skb, __u8 *reason)
{
	struct dpc_cfg *cfg = get_cfg();
	struct dpc_hep_scratch *s = hep_scratch();

	if (!cfg || !s || !hep_bound(skb->ifindex))
		return host_ingress(skb, reason);
	int parsed = parse(skb, &s->p);
	bool judge = hep_judged(parsed, &s->p, cfg) && !pol_known(&s->p, skb->ifindex, cfg, bpf_ktime_get_ns());
	if (judge) {
		if (!hep_allows(s, skb->ifindex, DPC_HEP_PRE_DNAT)) {
			*reason = DPC_R_DROP_POLICY;
			return TC_ACT_SHOT;
		}
		s->seen = pol_ct_key(&s->p, skb->ifindex, false);
	}
	int verdict = host_ingress(skb, reason);
	/* Service NAT may have used the scratch's CPU for nothing else: it is still ours. */
	s = hep_scratch();
	if (!judge || !s || verdict == TC_ACT_SHOT || parse(skb, &s->p) < 0)
		return verdict;
	/* As service NAT left it: tunnelled, or DNATed to a workload, means forwarded. */
	bool forwarded = verdict == TC_ACT_REDIRECT || !hep_is_host(s->p.daddr, cfg);
	if (!hep_allows(s, skb->ifindex, forwarded ? DPC_HEP_FWD_INGRESS : DPC_HEP_INGRESS)) {
		*reason = DPC_R_DROP_POLICY;
		return TC_ACT_SHOT;
	}
	hep_remember(&s->seen);
	return verdict;
}

/* tc egress of a data interface: reverse NAT first, then the host's or forwarded egress policy. */
static __always_inline int hep_egress(struct __sk_buff *skb, __u8 *reason)
{
	int verdict = host_egress(skb, reason);
	struct dpc_cfg *cfg = get_cfg();
	struct dpc_hep_scratch *s = hep_scratch();

	if (verdict == TC_ACT_SHOT || !cfg || !s || !hep_bound(skb->ifindex))
		return verdict;
	int parsed = parse(skb, &s->p);
	if (!hep_judged(parsed, &s->p, cfg) || pol_known(&s->p, skb->ifindex, cfg, bpf_ktime_get_ns()))
		return verdict;
	if (!hep_allows(s, skb->ifindex, hep_is_host(s->p.saddr, cfg) ? DPC_HEP_EGRESS : DPC_HEP_FWD_EGRESS)) {
		*reason = DPC_R_DROP_POLICY;
		return TC_ACT_SHOT;
	}
	s->seen = pol_ct_key(&s->p, skb->ifindex, false);
	hep_remember(&s->seen);
	return verdict;
}

#endif /* DPC_LIB_HOST_POLICY_H */
