// SPDX-License-Identifier: GPL-2.0
/*
 * The reference service dataplane: kube-proxy replacement with tc programs on node data
 * interfaces, workload veths and the node's collect-metadata VXLAN device, plus connect-time
 * load balancing for the node's own processes. IPv4, TCP and UDP.
 *
 * Flow of a NodePort packet in Tunnel mode, client C, frontend node A, backend node B:
 *   A eth0 ingress: frontend hit, backend on B -> conntrack FWD (TUNNEL_OUT), VXLAN to B, VNI = ordinal
 *   B vx ingress:   frontend lookup on the original destination, backend by VNI, DNAT,
 *                   conntrack FWD + REV (FROM_TUNNEL, A), straight to the backend's veth
 *   B backend veth ingress (reply): REV hit -> source back to A's frontend, VXLAN to A, VNI RETURN
 *   A vx ingress:   conntrack confirms the flow, FIB lookup, out of eth0 to C
 * In DSR mode B instead routes the reply straight to C, unless C is in cali_v4_dsr_opt.
 * Local backends (and pod clients) are NATed in place and the kernel routes the packet; their
 * replies are reverse-NATed on the egress hook that leads to the client (after routing, so the
 * kernel never sees a reply whose source is one of its own addresses on input).
 *
 * Program names carry "calico" (and fit the kernel's 15 characters) so that the guide's
 * `bpftool prog list | grep calico` finds them.
 *
 * This file holds only the entry points; what each one does lives in lib/ (see README.md).
 */
#include "lib/ctlb.h"
#include "lib/host-policy.h"
#include "lib/hooks-lo.h"
#include "lib/hooks-vx.h"
#include "lib/hooks-wl.h"

/* tc ingress of a workload's host-side veth: packets leaving the pod. */
SEC("tc")
int calico_from_wl(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = wl_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* tc egress of a workload's host-side veth: packets going into the pod. */
SEC("tc")
int calico_to_wl(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = wl_egress(skb, &reason);

	return finish(skb, DPC_HOOK_EGRESS, verdict, reason);
}

/* tc ingress of a node data interface (bpfDataIfacePattern). */
SEC("tc")
int calico_from_hep(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = hep_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* tc egress of a node data interface. */
SEC("tc")
int calico_to_hep(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = hep_egress(skb, &reason);

	return finish(skb, DPC_HOOK_EGRESS, verdict, reason);
}

/* tc ingress of lo: the node's own processes' packets to Services (bpfHostNetworkedNATWithoutCTLB). */
SEC("tc")
int calico_from_lo(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = lo_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

/* tc ingress of the node's collect-metadata VXLAN device `vx`. */
SEC("tc")
int calico_vxlan_in(struct __sk_buff *skb)
{
	__u8 reason = 0;
	int verdict = vx_ingress(skb, &reason);

	return finish(skb, DPC_HOOK_INGRESS, verdict, reason);
}

SEC("cgroup/connect4")
int calico_connect4(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_STREAM)
		return ctlb_translate(ctx, IPPROTO_TCP);
	if (ctx->type == SOCK_DGRAM)
		return ctlb_translate(ctx, IPPROTO_UDP);
	return 1;
}

SEC("cgroup/sendmsg4")
int calico_sendmsg4(struct bpf_sock_addr *ctx)
{
	if (ctx->type == SOCK_DGRAM)
		return ctlb_translate(ctx, IPPROTO_UDP);
	return 1;
}

SEC("cgroup/recvmsg4")
int calico_recvmsg4(struct bpf_sock_addr *ctx)
{
	return ctlb_reverse(ctx);
}

SEC("cgroup/getpeername4")
int calico_getpeer4(struct bpf_sock_addr *ctx)
{
	return ctlb_reverse(ctx);
}

char LICENSE[] SEC("license") = "GPL";
