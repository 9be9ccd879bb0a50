/* SPDX-License-Identifier: GPL-2.0 */
/*
 * What test builds (-DDPC_TEST) add, kept in one header so that a production object holds no
 * test map and its test_record() compiles to nothing. BPF_PROG_TEST_RUN cannot attach tunnel
 * metadata to a packet, nor show where a redirect went: test builds read the received key from
 * cali_test_tun and record what they sent in cali_test_tx, which the integration tests inspect.
 */
#ifndef DPC_LIB_TEST_HOOKS_H
#define DPC_LIB_TEST_HOOKS_H

#include "lib/maps.h"

#ifdef DPC_TEST
/* Not in dpc.h: only the tests read it, and they know its layout (TEST_MAP in layout.ts). */
struct dpc_test_tx {
	__u32 remote_ipv4;
	__u32 vni;
	__u32 ifindex;
	__u32 calls;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_test_tun);
} cali_test_tun SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_test_tx);
} cali_test_tx SEC(".maps");

static __always_inline void test_record(__u32 remote, __u32 vni, __u32 ifindex)
{
	__u32 zero = 0;
	struct dpc_test_tx *tx = bpf_map_lookup_elem(&cali_test_tx, &zero);

	if (tx) {
		tx->remote_ipv4 = remote;
		tx->vni = vni;
		tx->ifindex = ifindex;
		tx->calls++;
	}
}

/* The tunnel key the test pretends the vx device received (see get_tunnel in tunnel.h). */
static __always_inline int test_tunnel_in(__u32 *remote, __u32 *vni)
{
	__u32 zero = 0;
	struct dpc_test_tun *t = bpf_map_lookup_elem(&cali_test_tun, &zero);

	if (!t)
		return -1;
	*remote = t->remote_ipv4;
	*vni = t->vni;
	return 0;
}
#else
static __always_inline void test_record(__u32 remote, __u32 vni, __u32 ifindex)
{
}
#endif

#endif /* DPC_LIB_TEST_HOOKS_H */
