/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The VXLAN side: sending a flow to its backend's node, reading the key of what arrived, and
 * the path of a tunnelled flow's replies (back through the frontend node, or DSR). The outer
 * header is built by the collect-metadata device `vx` from struct bpf_tunnel_key, not by us,
 * so what matters here is a key every supported kernel accepts (DPC_TUNNEL_KEY_SIZE).
 */
#ifndef DPC_LIB_TUNNEL_H
#define DPC_LIB_TUNNEL_H

#include "lib/nat.h"
#include "lib/routing.h"

/*
 * The size of struct bpf_tunnel_key passed to the kernel. Not sizeof: the struct has grown over
 * time (6.0 added local_ipv4, making it 44 bytes in 6.x UAPI headers), and a kernel accepts only
 * its own size or one of the older layouts it knows, failing anything else with -EINVAL. Built
 * with sizeof against new headers, every tunnelled flow was dropped on 5.10. The fields read or
 * written here all come before tunnel_label, and the layout that ends there is one every kernel
 * since 4.x accepts, old or new.
 */
#define DPC_TUNNEL_KEY_SIZE offsetof(struct bpf_tunnel_key, tunnel_label)

/* Using a field at or past tunnel_label needs a bigger size, and with it a newer kernel floor. */
_Static_assert(offsetof(struct bpf_tunnel_key, tunnel_ttl) < DPC_TUNNEL_KEY_SIZE, "tunnel key size");

static __always_inline int tunnel_to(struct __sk_buff *skb, const struct dpc_cfg *cfg, __be32 node_ip, __u32 vni,
				     __u8 *reason)
{
	struct bpf_tunnel_key key = {};

	/* The VXLAN device wants the remote address in host byte order. */
	key.remote_ipv4 = bpf_ntohl(node_ip);
	key.tunnel_id = vni;
	key.tunnel_ttl = 64;
	if (cfg->vx_ifindex == 0 || bpf_skb_set_tunnel_key(skb, &key, DPC_TUNNEL_KEY_SIZE, BPF_F_ZERO_CSUM_TX) < 0) {
		*reason = DPC_R_DROP_TUNNEL;
		return TC_ACT_SHOT;
	}
	test_record(key.remote_ipv4, vni, cfg->vx_ifindex);
	return bpf_redirect(cfg->vx_ifindex, 0);
}

/*
 * Whether a reply to `client` skips the return tunnel. Decided here, on the backend node, from
 * the reply's destination: every node holds the same opt-out list, so the frontend node needs
 * to signal nothing, and a flow whose client is added or removed switches path on its next reply
 * (the frontend node forwards returning replies of its flows in both modes).
 */
static __always_inline bool dsr_for(const struct dpc_cfg *cfg, __be32 client)
{
	struct dpc_dsr_optout_key k = {.prefixlen = 32, .addr = client};

	if (!(cfg->flags & DPC_CFG_DSR))
		return false;
	return bpf_map_lookup_elem(&dpc_dsr_optout, &k) == NULL;
}

/* Backend node, reply of a flow that came through the tunnel: restore the frontend, send it back. */
static __always_inline int reply_to_frontend_node(struct __sk_buff *skb, struct dpc_pkt *p,
						  const struct dpc_ct_val *ct, const struct dpc_cfg *cfg,
						  __u8 *reason)
{
	__be32 tun = ct->tun_ip;

	if (rewrite(skb, p, false, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	/* DSR: the reply goes straight to the client, with the frontend as its source. */
	if (dsr_for(cfg, p->daddr))
		return fib_forward(skb, p, reason);
	return tunnel_to(skb, cfg, tun, DPC_VNI_RETURN, reason);
}

static __always_inline int get_tunnel(struct __sk_buff *skb, __u32 *remote, __u32 *vni)
{
#ifdef DPC_TEST
	return test_tunnel_in(remote, vni);
#else
	struct bpf_tunnel_key key = {};

	if (bpf_skb_get_tunnel_key(skb, &key, DPC_TUNNEL_KEY_SIZE, 0) < 0)
		return -1;
	*remote = key.remote_ipv4;
	*vni = key.tunnel_id;
	return 0;
#endif
}

#endif /* DPC_LIB_TUNNEL_H */
