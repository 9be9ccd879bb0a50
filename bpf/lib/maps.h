/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Every map the programs share with the control plane. They sit together because their names,
 * types and sizes are the contract with src/dataplane/bpf (it pins, reads and sizes them by
 * name), and because the order they are defined in is the order they have in the object.
 * The names are Calico's where Calico has the same map (`bpftool map dump name cali_v4_nat_fe`
 * works as the guide shows), and fit the kernel's 15 characters. Test-only maps live in
 * test-hooks.h.
 */
#ifndef DPC_LIB_MAPS_H
#define DPC_LIB_MAPS_H

#include "lib/base.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_NAT_FE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_fe_key);
	__type(value, struct dpc_fe_val);
} cali_v4_nat_fe SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_NAT_BE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_be_key);
	__type(value, struct dpc_be_val);
} cali_v4_nat_be SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_NAT_AFF_SIZE);
	__type(key, struct dpc_aff_key);
	__type(value, struct dpc_aff_val);
} cali_v4_nat_aff SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_CT_SIZE);
	__type(key, struct dpc_ct_key);
	__type(value, struct dpc_ct_val);
} cali_v4_ct SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_ROUTE_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_route_key);
	__type(value, struct dpc_route_val);
} cali_v4_routes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_COUNTERS_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_counter_key);
	__type(value, __u64);
} cali_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dpc_cfg);
} cali_cfg SEC(".maps");

/* Connect-time load balancing: (socket, backend) -> the frontend it was asked for. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_CTLB_SIZE);
	__type(key, struct dpc_ctlb_key);
	__type(value, struct dpc_ctlb_val);
} cali_v4_srmsg SEC(".maps");

/* bpfDSROptoutCIDRs: clients (the destination of a reply) that get Tunnel behaviour in DSR mode. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_DSR_OPTOUT_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_dsr_optout_key);
	__type(value, __u32);
} cali_v4_dsr_opt SEC(".maps");

/* NetworkPolicy: which workload veths are isolated, in which direction. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, DPC_POL_EP_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, __u32);
	__type(value, struct dpc_pol_ep_val);
} cali_v4_pol_ep SEC(".maps");

/* NetworkPolicy: (veth, direction, peer prefix) -> the port ranges allowed. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, DPC_POL_RULES_SIZE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct dpc_pol_key);
	__type(value, struct dpc_pol_val);
} cali_v4_pol_rul SEC(".maps");

/* NetworkPolicy: flows the workload hooks have let through, so only new flows are judged. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_POL_CT_SIZE);
	__type(key, struct dpc_pol_ct_key);
	__type(value, struct dpc_pol_ct_val);
} cali_v4_pol_ct SEC(".maps");

/* IP fragments: the ports of each datagram's first fragment, which its later fragments lack. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DPC_FRAGS_SIZE);
	__type(key, struct dpc_frag_key);
	__type(value, struct dpc_frag_val);
} cali_v4_frags SEC(".maps");

/*
 * bpfLogLevel: the programs' log, a ring of records per CPU (no CPU waits for another, and none
 * needs an atomic the 5.10 floor lacks), and each CPU's count of records written.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, DPC_LOG_SLOTS);
	__type(key, __u32);
	__type(value, struct dpc_log_rec);
} cali_log SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} cali_log_seq SEC(".maps");

static __always_inline struct dpc_cfg *get_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&cali_cfg, &zero);
}

#endif /* DPC_LIB_MAPS_H */
