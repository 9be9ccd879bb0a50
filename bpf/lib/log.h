/* SPDX-License-Identifier: GPL-2.0 */
/*
 * bpfLogLevel: the programs log into cali_log, a ring of fixed records that `dpconform bpf log`
 * reads back, rather than into the kernel's trace buffer, which every node (and every other
 * program on the machine) shares. Info logs what an operator follows a flow by (new flows,
 * drops, ICMP errors sent); Debug adds every packet with its verdict. The level is read from
 * cali_cfg on every packet, so a change takes effect at once, without reloading anything.
 */
#ifndef DPC_LIB_LOG_H
#define DPC_LIB_LOG_H

#include "lib/maps.h"

static __always_inline __u32 log_level(void)
{
	struct dpc_cfg *cfg = get_cfg();

	return cfg ? cfg->log_level : DPC_LOG_OFF;
}

/* Writes one record into this CPU's ring; the reader orders every CPU's records by time. */
static __always_inline void log_write(struct dpc_log_rec *r)
{
	__u32 zero = 0;
	__u32 *cur = bpf_map_lookup_elem(&cali_log_seq, &zero);

	if (!cur)
		return;
	__u32 seq = *cur + 1;
	__u32 slot = seq % DPC_LOG_SLOTS;
	struct dpc_log_rec *dst = bpf_map_lookup_elem(&cali_log, &slot);

	if (!dst)
		return;
	*cur = seq;
	r->ts = bpf_ktime_get_ns();
	r->seq = seq;
	__builtin_memcpy(dst, r, sizeof(*r));
}

/* Logs an event about the packet as it is now (addresses and, when it has them, ports). */
static __always_inline void log_packet(struct __sk_buff *skb, __u8 hook, __u8 event, int verdict, __u8 reason,
				       __be32 nat_ip, __be16 nat_port)
{
	struct dpc_log_rec r = {
		.ifindex = skb->ifindex,
		.hook = hook,
		.event = event,
		.reason = reason,
		.verdict = verdict,
		.nat_ip = nat_ip,
		.nat_port = nat_port,
	};
	struct iphdr ip;

	if (skb->protocol != bpf_htons(ETH_P_IP) || bpf_skb_load_bytes(skb, ETH_HLEN, &ip, sizeof(ip)))
		return;
	r.saddr = ip.saddr;
	r.daddr = ip.daddr;
	r.proto = ip.protocol;
	if ((ip.protocol == IPPROTO_TCP || ip.protocol == IPPROTO_UDP) && ip.ihl == 5 &&
	    !(ip.frag_off & bpf_htons(0x1fff))) {
		__be16 ports[2];

		if (bpf_skb_load_bytes(skb, ETH_HLEN + sizeof(ip), ports, sizeof(ports)) == 0) {
			r.sport = ports[0];
			r.dport = ports[1];
		}
	}
	log_write(&r);
}

#endif /* DPC_LIB_LOG_H */
