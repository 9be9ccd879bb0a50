/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Connect-time load balancing for the node's own processes (cgroup sock_addr hooks). What a
 * host process sends meets no tc ingress hook of ours, where every other client's service NAT
 * happens, so its services are translated at the socket instead: to the backend at
 * connect/sendmsg, back to the frontend at recvmsg/getpeername, remembered by socket cookie.
 */
#ifndef DPC_LIB_CTLB_H
#define DPC_LIB_CTLB_H

#include "lib/lb.h"

static __always_inline int ctlb_translate(struct bpf_sock_addr *ctx, __u8 proto)
{
	struct dpc_cfg *cfg = get_cfg();
	struct dpc_pkt p = {};
	__u32 ord = 0;

	if (!cfg)
		return 1;
	p.daddr = ctx->user_ip4;
	p.dport = (__be16)ctx->user_port;
	p.proto = proto;
	struct dpc_fe_val *fe = fe_lookup(&p, p.daddr == cfg->node_ip);
	if (!fe || fe->count == 0)
		return 1;
	struct dpc_be_val *be = pick_backend(fe, cfg->node_ip, cfg, bpf_ktime_get_ns(), bpf_get_prandom_u32(), &ord);
	if (!be)
		return 1;
	struct dpc_ctlb_key k = {.cookie = bpf_get_socket_cookie(ctx), .addr = be->addr, .port = be->port};
	struct dpc_ctlb_val v = {.addr = p.daddr, .port = p.dport};
	bpf_map_update_elem(&cali_v4_srmsg, &k, &v, BPF_ANY);
	ctx->user_ip4 = be->addr;
	ctx->user_port = (__u32)be->port;
	return 1;
}

static __always_inline int ctlb_reverse(struct bpf_sock_addr *ctx)
{
	struct dpc_ctlb_key k = {
		.cookie = bpf_get_socket_cookie(ctx),
		.addr = ctx->user_ip4,
		.port = (__be16)ctx->user_port,
	};
	struct dpc_ctlb_val *v = bpf_map_lookup_elem(&cali_v4_srmsg, &k);

	if (v) {
		ctx->user_ip4 = v->addr;
		ctx->user_port = (__u32)v->port;
	}
	return 1;
}

#endif /* DPC_LIB_CTLB_H */
