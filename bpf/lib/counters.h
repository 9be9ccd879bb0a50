/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Per (interface, hook, reason) packet counters. Every program ends in finish() so that the
 * totals and the drop reasons that `dpconform bpf counters dump` and the metrics show are
 * counted the same way by every hook.
 */
#ifndef DPC_LIB_COUNTERS_H
#define DPC_LIB_COUNTERS_H

#include "lib/maps.h"

static __always_inline void count(__u32 ifindex, __u8 hook, __u8 reason)
{
	struct dpc_counter_key k = {.ifindex = ifindex, .hook = hook, .reason = reason};
	__u64 one = 1;
	__u64 *v = bpf_map_lookup_elem(&dpc_counters, &k);

	if (v) {
		__sync_fetch_and_add(v, 1);
		return;
	}
	if (bpf_map_update_elem(&dpc_counters, &k, &one, BPF_NOEXIST) == 0)
		return;
	/* Another CPU created it first. */
	v = bpf_map_lookup_elem(&dpc_counters, &k);
	if (v)
		__sync_fetch_and_add(v, 1);
}

static __always_inline int finish(struct __sk_buff *skb, __u8 hook, int verdict, __u8 reason)
{
	count(skb->ifindex, hook, DPC_R_TOTAL);
	count(skb->ifindex, hook, verdict == TC_ACT_SHOT ? reason : DPC_R_ACCEPTED);
	return verdict;
}

#endif /* DPC_LIB_COUNTERS_H */
