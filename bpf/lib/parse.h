/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Packet parsing. The fields the programs act on are copied into struct dpc_pkt once, because
 * helpers that rewrite or pull the packet invalidate every pointer into it. IP options move the
 * L4 header, so its offset is kept per packet. A later IP fragment has no L4 header: it borrows
 * the ports its datagram's first fragment had (cali_v4_frags), so that every fragment of a NATed
 * flow is NATed alike; one whose first fragment was not seen cannot be, and is told apart. An
 * ICMP error is parsed down to the packet it quotes, whose flow decides what becomes of it.
 */
#ifndef DPC_LIB_PARSE_H
#define DPC_LIB_PARSE_H

#include "lib/maps.h"

#define IP_TTL_OFF (ETH_HLEN + offsetof(struct iphdr, ttl))
#define IP_CSUM_OFF (ETH_HLEN + offsetof(struct iphdr, check))
#define IP_SRC_OFF (ETH_HLEN + offsetof(struct iphdr, saddr))
#define IP_DST_OFF (ETH_HLEN + offsetof(struct iphdr, daddr))
#define IP_MAX_HLEN 60
/*
 * What parse() needs in the linear part of the packet: Ethernet, IP and TCP headers (more only
 * when the IP header has options). Never more, since pulling payload in costs a copy per packet.
 */
#define PARSE_PULL (ETH_HLEN + sizeof(struct iphdr) + sizeof(struct tcphdr))

#define DPC_FRAG_NONE 0
#define DPC_FRAG_FIRST 1 /* offset 0, more fragments: it has the L4 header */
#define DPC_FRAG_LATER 2 /* offset > 0: no L4 header */

/*
 * ICMP types whose message quotes the packet that caused them, and the codes sent here
 * (<linux/icmp.h> would drag libc's socket headers into the bpf target).
 */
#define ICMP_T_UNREACH 3
#define ICMP_T_TIME_EXCEEDED 11
#define ICMP_T_PARAMPROB 12
#define ICMP_C_FRAG_NEEDED 4
#define ICMP_C_TTL_EXCEEDED 0

/* An ICMP header as far as the type and code. */
struct dpc_icmp {
	__u8 type;
	__u8 code;
	__sum16 check;
	__be32 rest;
};

/* The packet an ICMP error quotes: its tuple as it travelled, and where its fields sit. */
struct dpc_quote {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 pad;
	__u16 ip_off; /* quoted IP header, from the start of the frame */
};

/* What the programs need of one IPv4 packet, copied out so that helpers may move the data. */
struct dpc_pkt {
	__be32 saddr;
	__be32 daddr;
	__be16 sport;
	__be16 dport;
	__u8 proto;
	__u8 syn; /* TCP SYN without ACK: the first packet of a connection */
	__u8 ttl;
	__u8 df;   /* Don't Fragment */
	__u8 frag; /* DPC_FRAG_* */
	__u8 ihl4; /* IP header bytes */
	__u16 l4_off;
	__u16 seg_len; /* IP length of the largest packet this one becomes once segmented (GSO) */
	__u16 ip_len;
	__u32 csum_off; /* the L4 checksum; 0 when the packet carries no L4 header */
	__u64 csum_flags;
	struct dpc_quote q; /* PARSE_ICMP_ERR only */
};

enum parse_result {
	PARSE_NOT_IPV4 = -1,
	PARSE_L4 = 0,          /* TCP or UDP with its ports (a later fragment: its first fragment's) */
	PARSE_OTHER = 1,       /* IPv4, addresses filled in, nothing else */
	PARSE_ICMP_ERR = 2,    /* an ICMP error quoting a TCP or UDP packet: see p->q */
	PARSE_FRAG_UNKNOWN = 3 /* a later TCP/UDP fragment whose first fragment was not seen here */
};

static __always_inline struct dpc_frag_key frag_key(const struct dpc_pkt *p, __be16 id)
{
	struct dpc_frag_key k = {.saddr = p->saddr, .daddr = p->daddr, .id = id, .proto = p->proto};
	return k;
}

static __always_inline int parse_quote(struct __sk_buff *skb, struct dpc_pkt *p)
{
	struct {
		struct iphdr ip;
		__be16 ports[2];
	} q;
	__u32 off = p->l4_off + 8;

	if (bpf_skb_load_bytes(skb, off, &q, sizeof(q)))
		return PARSE_OTHER;
	if (q.ip.ihl != 5 || (q.ip.protocol != IPPROTO_TCP && q.ip.protocol != IPPROTO_UDP))
		return PARSE_OTHER;
	p->q.saddr = q.ip.saddr;
	p->q.daddr = q.ip.daddr;
	p->q.proto = q.ip.protocol;
	p->q.sport = q.ports[0];
	p->q.dport = q.ports[1];
	p->q.ip_off = off;
	return PARSE_ICMP_ERR;
}

static __always_inline int parse(struct __sk_buff *skb, struct dpc_pkt *p)
{
	void *data = (void *)(long)skb->data;
	void *end = (void *)(long)skb->data_end;

	if (data + PARSE_PULL > end) {
		/* Fails harmlessly for short packets; the bounds checks below decide. */
		bpf_skb_pull_data(skb, PARSE_PULL);
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return PARSE_NOT_IPV4;
	struct iphdr *ip = (void *)(eth + 1);
	if ((void *)(ip + 1) > end)
		return PARSE_NOT_IPV4;
	__builtin_memset(p, 0, sizeof(*p));
	p->saddr = ip->saddr;
	p->daddr = ip->daddr;
	p->proto = ip->protocol;
	p->ttl = ip->ttl;
	p->df = (ip->frag_off & bpf_htons(0x4000)) != 0;
	p->ip_len = bpf_ntohs(ip->tot_len);
	p->seg_len = p->ip_len;
	__u32 ihl4 = ip->ihl * 4;
	if (ihl4 < sizeof(struct iphdr) || ihl4 > IP_MAX_HLEN)
		return PARSE_OTHER;
	p->ihl4 = ihl4;
	p->l4_off = ETH_HLEN + ihl4;
	__be16 id = ip->id;
	if (ip->frag_off & bpf_htons(0x1fff)) {
		p->frag = DPC_FRAG_LATER;
		if (p->proto != IPPROTO_TCP && p->proto != IPPROTO_UDP)
			return PARSE_OTHER;
		struct dpc_frag_key fk = frag_key(p, id);
		struct dpc_frag_val *fv = bpf_map_lookup_elem(&cali_v4_frags, &fk);
		if (!fv)
			return PARSE_FRAG_UNKNOWN;
		p->sport = fv->sport;
		p->dport = fv->dport;
		return PARSE_L4;
	}
	if (ip->frag_off & bpf_htons(0x2000))
		p->frag = DPC_FRAG_FIRST;
	if (ihl4 > sizeof(struct iphdr) && data + ETH_HLEN + ihl4 + sizeof(struct tcphdr) > end) {
		bpf_skb_pull_data(skb, ETH_HLEN + ihl4 + sizeof(struct tcphdr));
		data = (void *)(long)skb->data;
		end = (void *)(long)skb->data_end;
	}
	void *l4 = data + ETH_HLEN + ihl4;
	if (p->proto == IPPROTO_ICMP) {
		struct dpc_icmp *ih = l4;
		if ((void *)(ih + 1) > end)
			return PARSE_OTHER;
		if (ih->type != ICMP_T_UNREACH && ih->type != ICMP_T_TIME_EXCEEDED && ih->type != ICMP_T_PARAMPROB)
			return PARSE_OTHER;
		return parse_quote(skb, p);
	}
	if (p->proto == IPPROTO_TCP) {
		struct tcphdr *th = l4;
		if ((void *)(th + 1) > end)
			return PARSE_OTHER;
		p->sport = th->source;
		p->dport = th->dest;
		p->syn = th->syn && !th->ack;
		p->csum_off = p->l4_off + offsetof(struct tcphdr, check);
		if (skb->gso_size)
			p->seg_len = ihl4 + th->doff * 4 + skb->gso_size;
	} else if (p->proto == IPPROTO_UDP) {
		struct udphdr *uh = l4;
		if ((void *)(uh + 1) > end)
			return PARSE_OTHER;
		p->sport = uh->source;
		p->dport = uh->dest;
		p->csum_off = p->l4_off + offsetof(struct udphdr, check);
		/* A zero UDP checksum means "none" and must stay zero. */
		p->csum_flags = BPF_F_MARK_MANGLED_0;
		if (skb->gso_size)
			p->seg_len = ihl4 + sizeof(struct udphdr) + skb->gso_size;
	} else {
		return PARSE_OTHER;
	}
	if (p->frag == DPC_FRAG_FIRST) {
		struct dpc_frag_key fk = frag_key(p, id);
		struct dpc_frag_val fv = {.sport = p->sport, .dport = p->dport};
		/* A full map evicts the oldest; a failed write only strands this datagram's rest. */
		bpf_map_update_elem(&cali_v4_frags, &fk, &fv, BPF_ANY);
	}
	return PARSE_L4;
}

#endif /* DPC_LIB_PARSE_H */
