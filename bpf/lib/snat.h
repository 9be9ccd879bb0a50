/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Source NAT, which this dataplane does only where a flow cannot work without it: a pod whose
 * Service sends it back to itself (hairpin: it would see its own address as the source) and a
 * host process whose packets leave with an address the backend cannot answer (a ClusterIP, lo).
 * The source becomes the node's address and a port from bpfPSNATPorts that no other flow to the
 * same backend holds, so that the reply's conntrack key is unique.
 */
#ifndef DPC_LIB_SNAT_H
#define DPC_LIB_SNAT_H

#include "lib/conntrack.h"

#define PSNAT_DEFAULT_LO 20000
#define PSNAT_DEFAULT_HI 29999
/* Ports tried before giving up: a range that full means something is wrong, not busy. */
#define PSNAT_TRIES 16

/* Picks a free source port for (snat_ip -> backend); 0 when every port tried is taken. */
static __always_inline __be16 psnat_pick(const struct dpc_cfg *cfg, __be32 snat_ip, __be32 be_ip, __be16 be_port,
					  __u8 proto, __u32 hash, __u64 now)
{
	__u32 lo = cfg->psnat_lo;
	__u32 hi = cfg->psnat_hi;

	if (lo == 0 || hi < lo) {
		lo = PSNAT_DEFAULT_LO;
		hi = PSNAT_DEFAULT_HI;
	}
	__u32 span = hi - lo + 1;
	for (__u32 i = 0; i < PSNAT_TRIES; i++) {
		__be16 port = bpf_htons((__u16)(lo + (hash + i) % span));
		struct dpc_ct_key rk = {
			.saddr = be_ip,
			.daddr = snat_ip,
			.sport = be_port,
			.dport = port,
			.proto = proto,
		};
		/* An expired entry frees its port. */
		if (!ct_lookup(&rk, cfg, now))
			return port;
	}
	return 0;
}

#endif /* DPC_LIB_SNAT_H */
