/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Kernel-feature probes that cannot lie: the dataplane's own tunnel_send() and get_tunnel(), so
 * the kernel judges the struct bpf_tunnel_key size bpf/ really passes (DPC_TUNNEL_KEY_SIZE),
 * where probing the helpers by name only says they exist.
 *
 * dpc_probe_tunnel_key runs on one test packet (BPF_PROG_TEST_RUN). Its return value is 256 *
 * the key size plus a status: 0 the key was set and read back, 1 the kernel refused to set it,
 * 2 refused to read it, 3 read back another VNI.
 *
 * dpc_probe_tunnel_send and dpc_probe_tunnel_recv carry one real packet through a
 * collect-metadata VXLAN device to another namespace, as a tunnelled flow goes: the sender sets
 * the key and redirects to the device, the receiver reads the key on the device's ingress and
 * counts packets that came with the probe's VNI.
 */
#include "lib/tunnel.h"

#define PROBE_NODE_IP 0xac120003 /* 172.18.0.3, host byte order as the device wants it */
#define PROBE_PEER_IP 0x0afffe02 /* 10.255.254.2: the receiving namespace's underlay address */
#define PROBE_VNI 0x2a

/* [0]: the sending namespace's VXLAN ifindex (set by the harness); [1]: packets received with the VNI. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} dpc_probe_path SEC(".maps");

SEC("tc")
int dpc_probe_tunnel_key(struct __sk_buff *skb)
{
	struct dpc_cfg cfg = {.vx_ifindex = 1};
	__u32 size = (__u32)DPC_TUNNEL_KEY_SIZE << 8;
	__u32 remote = 0, vni = 0;
	__u8 reason = 0;

	if (tunnel_send(skb, &cfg, bpf_htonl(PROBE_NODE_IP), PROBE_VNI, &reason) != TC_ACT_REDIRECT)
		return size | 1;
	if (get_tunnel(skb, &remote, &vni) < 0)
		return size | 2;
	/* Read back, the key is the received side's: remote is the packet's source, so only the VNI compares. */
	if (vni != PROBE_VNI)
		return size | 3;
	return size;
}

SEC("tc")
int dpc_probe_tunnel_send(struct __sk_buff *skb)
{
	__u32 zero = 0;
	__u32 *vx = bpf_map_lookup_elem(&dpc_probe_path, &zero);
	struct dpc_cfg cfg = {};
	__u8 reason = 0;

	if (!vx || *vx == 0)
		return TC_ACT_SHOT;
	cfg.vx_ifindex = *vx;
	return tunnel_send(skb, &cfg, bpf_htonl(PROBE_PEER_IP), PROBE_VNI, &reason);
}

SEC("tc")
int dpc_probe_tunnel_recv(struct __sk_buff *skb)
{
	__u32 one = 1, remote = 0, vni = 0;
	__u32 *seen;

	if (get_tunnel(skb, &remote, &vni) == 0 && vni == PROBE_VNI) {
		seen = bpf_map_lookup_elem(&dpc_probe_path, &one);
		if (seen)
			__sync_fetch_and_add(seen, 1);
	}
	return TC_ACT_SHOT;
}

char _license[] SEC("license") = "GPL";
