/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing. The fields the programs act on are copied into struct dpc_pkt once, because
 * helpers that rewrite or pull the packet invalidate every pointer into it; the fixed offsets
 * below are valid only for the packets parse() calls NAT-able (no IP options).
 */
#ifndef DPC_LIB_PARSE_H
#define DPC_LIB_PARSE_H

#include "lib/base.h"

#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define L4_OFF (ETH_HLEN + sizeof(struct iphdr))
#define L4_SPORT_OFF (L4_OFF)
#define L4_DPORT_OFF (L4_OFF + 2)

/* What the programs need of one IPv4 packet, copied out so that helpers may move the data. */
struct dpc_pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 syn; /* TCP SYN without ACK: the first packet of a connection */
	__u32 csum_off;
	__u64 csum_flags;
};

enum parse_result {
	PARSE_NOT_IPV4 = -1,
	PARSE_L4 = 0,     /* TCP or UDP, no options, not a fragment: NAT-able */
	PARSE_OTHER = 1,  /* IPv4, addresses filled in, nothing else */
};

static __always_inline int parse(struct __sk_buff *skb, struct dpc_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + L4_OFF + sizeof(struct tcphdr) > end) {
		/* Fails harmlessly for short packets; the bounds checks below decide. */
		bpf_skb_pull_data(skb, L4_OFF + sizeof(struct tcphdr));
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return PARSE_NOT_IPV4;
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->sport = 0;
	p->dport = 0;
	p->syn = 0;
	p->csum_off = 0;
	p->csum_flags = 0;
	if (ip->ihl != 5 || (ip->frag_off & bpf_htons(0x3fff)))
		return PARSE_OTHER;
	if (ip->protocol == IPPROTO_TCP) {
		struct tcphdr *th = (void *)(ip + 1);
		if ((void *)(th + 1) > end)
			return PARSE_OTHER;
		p->sport = th->source;
		p->dport = th->dest;
		p->syn = th->syn && !th->ack;
		p->csum_off = L4_OFF + offsetof(struct tcphdr, check);
		return PARSE_L4;
	}
	if (ip->protocol == IPPROTO_UDP) {
		struct udphdr *uh = (void *)(ip + 1);
		if ((void *)(uh + 1) > end)
			return PARSE_OTHER;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = L4_OFF + offsetof(struct udphdr, check);
		/* A zero UDP checksum means "none" and must stay zero. */
		p->csum_flags = BPF_F_MARK_MANGLED_0;
		return PARSE_L4;
	}
	return PARSE_OTHER;
}

#endif /* DPC_LIB_PARSE_H */
