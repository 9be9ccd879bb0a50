/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per (interface, hook, reason) packet counters. Every program ends in finish() so that the
 * totals and the drop reasons that `dpconform bpf counters dump` and the metrics show are
 * counted (and, at bpfLogLevel Info or Debug, logged) the same way by every hook.
 */
#ifndef DPC_LIB_COUNTERS_H
#define DPC_LIB_COUNTERS_H

#include "lib/log.h"

static __always_inline void count(__u32 ifindex, __u8 hook, __u8 reason)
{
	struct dpc_counter_key k = {.ifindex = ifindex, .hook = hook, .reason = reason};
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(&cali_counters, &k);

	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(&cali_counters, &k, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first. */
	v = bpf_map_lookup_elem(&cali_counters, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int finish(struct __sk_buff *skb, __u8 hook, int verdict, __u8 reason)
{
	__u32 level = log_level();

	count(skb->ifindex, hook, DPC_R_TOTAL);
	count(skb->ifindex, hook, verdict == TC_ACT_SHOT ? reason : DPC_R_ACCEPTED);
	if (level >= DPC_LOG_DEBUG || (level >= DPC_LOG_INFO && verdict == TC_ACT_SHOT))
		log_packet(skb, hook, verdict == TC_ACT_SHOT ? DPC_EV_DROP : DPC_EV_PACKET, verdict, reason, 0, 0);
	return verdict;
}

#endif /* DPC_LIB_COUNTERS_H */
