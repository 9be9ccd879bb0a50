/* SPDX-License-Identifier: GPL-2.0 */
/*
 * ICMP errors. The programs forward some packets themselves, past the kernel's forward path and
 * so past the ICMP errors it would send: a packet too big for the tunnel with DF set gets
 * "fragmentation needed" (so the sender's path MTU discovery works and no outer packet is ever
 * fragmented), one whose TTL runs out gets "time exceeded". And an ICMP error about a NATed
 * flow quotes the packet as its sender saw it: it is translated like the flow, so that the
 * other end recognises its own packet (a port unreachable from a backend comes from the service
 * address, quoting the service address).
 */
#ifndef DPC_LIB_ICMP_H
#define DPC_LIB_ICMP_H

#include "lib/counters.h"
#include "lib/parse.h"

#define ICMP_QUOTE_MAX (IP_MAX_HLEN + sizeof(struct tcphdr))

struct icmp_err_hdr {
	struct iphdr ip;
	__u8 type;
	__u8 code;
	__sum16 check;
	__be16 unused;
	__be16 mtu;
};

static __always_inline __u16 csum_fold32(__s64 sum)
{
	__u32 s = (__u32)sum;

	s = (s & 0xffff) + (s >> 16);
	s = (s & 0xffff) + (s >> 16);
	return (__u16)~s;
}

/*
 * Turns the packet into an ICMP error about itself, from this node to its sender, quoting its IP
 * header and its TCP or UDP header (at least the 8 bytes ICMP asks for, and never less than the
 * kernel lets a packet with a pending L4 checksum be trimmed to), and sends it back out of the
 * interface it came in on (the sender is behind it: an external client on a data interface, a
 * pod on its veth).
 */
static __always_inline int icmp_reply(struct __sk_buff *skb, const struct dpc_pkt *p, const struct dpc_cfg *cfg,
				      __u8 type, __u8 code, __u32 mtu, __u8 *reason)
{
	__u8 quote[ICMP_QUOTE_MAX] = {};
	__u8 macs[2 * ETH_ALEN];
	__u32 qlen = p->ihl4 + (p->proto == IPPROTO_TCP ? sizeof(struct tcphdr) : 8);
	struct icmp_err_hdr h = {};

	*reason = DPC_R_DROP_NAT;
	if (qlen > ICMP_QUOTE_MAX || qlen < sizeof(struct iphdr) + 8 || p->ip_len < qlen)
		return TC_ACT_SHOT;
	if (bpf_skb_load_bytes(skb, 0, macs, sizeof(macs)) || bpf_skb_load_bytes(skb, ETH_HLEN, quote, qlen))
		return TC_ACT_SHOT;
	/* Linearises and drops GSO: what is left is one small packet. */
	if (bpf_skb_change_tail(skb, ETH_HLEN + qlen, 0) ||
	    bpf_skb_adjust_room(skb, sizeof(h), BPF_ADJ_ROOM_MAC, 0))
		return TC_ACT_SHOT;
	h.ip.version = 4;
	h.ip.ihl = 5;
	h.ip.ttl = 64;
	h.ip.protocol = IPPROTO_ICMP;
	h.ip.tot_len = bpf_htons(sizeof(h) + qlen);
	h.ip.saddr = cfg->node_ip;
	h.ip.daddr = p->saddr;
	h.ip.check = csum_fold32(bpf_csum_diff(0, 0, (__be32 *)&h.ip, sizeof(h.ip), 0));
	h.type = type;
	h.code = code;
	h.mtu = bpf_htons(mtu);
	__s64 sum = bpf_csum_diff(0, 0, (__be32 *)&h.type, 8, 0);
	sum = bpf_csum_diff(0, 0, (__be32 *)quote, qlen, sum);
	h.check = csum_fold32(sum);
	if (bpf_skb_store_bytes(skb, ETH_HLEN, &h, sizeof(h), 0) ||
	    bpf_skb_store_bytes(skb, 0, macs + ETH_ALEN, ETH_ALEN, 0) ||
	    bpf_skb_store_bytes(skb, ETH_ALEN, macs, ETH_ALEN, 0))
		return TC_ACT_SHOT;
	if (log_level() >= DPC_LOG_INFO)
		log_packet(skb, DPC_HOOK_INGRESS, DPC_EV_ICMP_SENT, TC_ACT_REDIRECT, 0, 0, 0);
	return bpf_redirect(skb->ifindex, 0);
}

/*
 * Translates an ICMP error about a NATed flow, on one side of the quoted packet: the quoted
 * source (src) or destination becomes (ip, port), and the outer address of the other side
 * follows when it was that same host (an error a backend sends about itself comes from the
 * service address; one a router on the way sends keeps its own address).
 */
static __always_inline int icmp_nat(struct __sk_buff *skb, struct dpc_pkt *p, bool src, __be32 ip, __be16 port)
{
	__u32 q_ip = p->q.ip_off;
	__u32 q_addr_off = q_ip + (src ? offsetof(struct iphdr, saddr) : offsetof(struct iphdr, daddr));
	__u32 q_port_off = q_ip + sizeof(struct iphdr) + (src ? 0 : 2);
	__u32 icmp_csum = p->l4_off + 2;
	__be32 old_ip = src ? p->q.saddr : p->q.daddr;
	__be16 old_port = src ? p->q.sport : p->q.dport;
	__u16 qc_old = 0, qc_new = 0;

	if (old_ip != ip) {
		if (bpf_skb_load_bytes(skb, q_ip + 10, &qc_old, 2) ||
		    bpf_l3_csum_replace(skb, q_ip + 10, old_ip, ip, sizeof(ip)) ||
		    bpf_skb_store_bytes(skb, q_addr_off, &ip, sizeof(ip), 0) ||
		    bpf_skb_load_bytes(skb, q_ip + 10, &qc_new, 2))
			return -1;
		/* The ICMP checksum covers the quote: its address and its header checksum both moved. */
		if (bpf_l4_csum_replace(skb, icmp_csum, old_ip, ip, sizeof(ip)) ||
		    bpf_l4_csum_replace(skb, icmp_csum, qc_old, qc_new, 2))
			return -1;
		/* The outer header on the other side: source for a quoted destination, and back. */
		__be32 outer = src ? p->daddr : p->saddr;
		if (outer == old_ip) {
			if (bpf_l3_csum_replace(skb, IP_CSUM_OFF, old_ip, ip, sizeof(ip)) ||
			    bpf_skb_store_bytes(skb, src ? IP_DST_OFF : IP_SRC_OFF, &ip, sizeof(ip), 0))
				return -1;
			if (src)
				p->daddr = ip;
			else
				p->saddr = ip;
		}
	}
	if (old_port != port) {
		if (bpf_l4_csum_replace(skb, icmp_csum, old_port, port, sizeof(port)) ||
		    bpf_skb_store_bytes(skb, q_port_off, &port, sizeof(port), 0))
			return -1;
	}
	if (src) {
		p->q.saddr = ip;
		p->q.sport = port;
	} else {
		p->q.daddr = ip;
		p->q.dport = port;
	}
	return 0;
}

/* The conntrack key of the flow an ICMP error is about, seen from the error's own direction. */
static __always_inline struct dpc_ct_key quote_flow(const struct dpc_pkt *p)
{
	struct dpc_ct_key k = {
		.saddr = p->q.daddr,
		.daddr = p->q.saddr,
		.sport = p->q.dport,
		.dport = p->q.sport,
		.proto = p->q.proto,
	};
	return k;
}

#endif /* DPC_LIB_ICMP_H */
