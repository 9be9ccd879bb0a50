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

/*
 * Whether a packet fits the tunnel whole. The outer packet must never be fragmented (an underlay
 * that drops fragments would stall the flow): one that would not fit gets "fragmentation
 * needed" with the tunnel's MTU when it says DF, so its sender sends smaller, and is dropped
 * and counted when it does not (a program cannot fragment what it redirects). GSO packets are
 * judged by the segments they become.
 */
static __always_inline bool tunnel_fits(struct __sk_buff *skb, const struct dpc_pkt *p, const struct dpc_cfg *cfg,
					int *verdict, __u8 *reason)
{
	__u32 mtu = cfg->tunnel_mtu;

	if (mtu == 0 || p->seg_len <= mtu)
		return true;
	if (p->df && p->frag == DPC_FRAG_NONE) {
		*verdict = icmp_reply(skb, p, cfg, ICMP_T_UNREACH, ICMP_C_FRAG_NEEDED, mtu, reason);
		if (*verdict != TC_ACT_SHOT)
			count(skb->ifindex, DPC_HOOK_INGRESS, DPC_R_FRAG_NEEDED);
		return false;
	}
	*reason = DPC_R_DROP_TOO_BIG;
	*verdict = TC_ACT_SHOT;
	return false;
}

/* Sends the packet as it is to node_ip in the tunnel; nothing is checked here (see tunnel_forward). */
static __always_inline int tunnel_send(struct __sk_buff *skb, const struct dpc_cfg *cfg, __be32 node_ip, __u32 vni,
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
 * The checks of a hop the program forwards itself: the TTL, then whether the packet fits the
 * tunnel when it goes into one, then the TTL decrement (the kernel's own order). `reply`: the
 * sender is behind the interface the packet came in on, so ICMP errors can go straight back.
 * False when the packet does not go on; *verdict then says what became of it.
 */
static __always_inline bool forward_checks(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
					   bool tunnel, bool reply, int *verdict, __u8 *reason)
{
	if (p->ttl <= 1)
		return ttl_forward(skb, p, cfg, reply, verdict, reason);
	if (tunnel && !tunnel_fits(skb, p, cfg, verdict, reason))
		return false;
	return ttl_forward(skb, p, cfg, reply, verdict, reason);
}

/* Forwards a packet of this node's flow to node_ip in the tunnel, as a router hop. */
static __always_inline int tunnel_to(struct __sk_buff *skb, struct dpc_pkt *p, const struct dpc_cfg *cfg,
				     __be32 node_ip, __u32 vni, __u8 *reason)
{
	int verdict = TC_ACT_SHOT;

	if (!forward_checks(skb, p, cfg, true, true, &verdict, reason))
		return verdict;
	return tunnel_send(skb, cfg, node_ip, vni, reason);
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
	return bpf_map_lookup_elem(&cali_v4_dsr_opt, &k) == NULL;
}

/*
 * Backend node, reply of a flow that came through the tunnel: restore the frontend, send it back
 * to the frontend node (or, DSR, straight to the client). The hop's checks come first, so that
 * an ICMP error to the pod quotes the packet as the pod sent it.
 */
static __always_inline int reply_to_frontend_node(struct __sk_buff *skb, struct dpc_pkt *p,
						  const struct dpc_ct_val *ct, const struct dpc_cfg *cfg,
						  __u8 *reason)
{
	__be32 tun = ct->tun_ip;
	bool dsr = dsr_for(cfg, p->daddr);
	int verdict = TC_ACT_SHOT;

	if (!forward_checks(skb, p, cfg, !dsr, true, &verdict, reason))
		return verdict;
	if (rewrite(skb, p, false, ct->nat_ip, ct->nat_port)) {
		*reason = DPC_R_DROP_NAT;
		return TC_ACT_SHOT;
	}
	/* DSR: the reply goes straight to the client, with the frontend as its source. */
	if (dsr)
		return fib_forward(skb, p, reason);
	return tunnel_send(skb, cfg, tun, DPC_VNI_RETURN, reason);
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
