/**
 * The netns topology as data, and the `ip` batch lines that build it. Pure, so the address plan
 * and the wiring can be unit-tested without touching the system.
 */
import type { PodState } from '../../k8s/model.ts';
import type { ClientInfo, NodeInfo, PodInfo, Topology } from '../types.ts';
import {
  clientIp,
  clientName,
  clientNetns,
  FABRIC_BRIDGE,
  FABRIC_PREFIX_LEN,
  fabricClientPort,
  fabricNetns,
  fabricNodePort,
  MAX_CLIENTS,
  MAX_NODES,
  nodeIp,
  nodeName,
  nodeNetns,
  nodePodCidr,
  POD_GATEWAY,
  podNetns,
} from './address-plan.ts';

/** The fabric's gateway, on the bridge: gives nodes a default route, forwards nothing. */
export const FABRIC_GATEWAY = '172.18.0.1';

/** LoadBalancer VIP pool on the fabric. */
export const VIP_POOL = '172.18.255.200-172.18.255.250';

/** Service CIDR and cluster (pod) CIDR, as kind sets them. */
export const SERVICE_CIDR = '10.96.0.0/12';
export const CLUSTER_CIDR = '10.244.0.0/16';

/** What a bring-up was asked for. */
export interface TopologyRequest {
  runId: string;
  nodes: number;
  clients: number;
}

/** Computes the topology (without pods) for a request; rejects impossible sizes. */
export function planTopology(req: TopologyRequest): Topology {
  if (!Number.isInteger(req.nodes) || req.nodes < 1 || req.nodes > MAX_NODES) {
    throw new RangeError(`--nodes must be an integer from 1 to ${MAX_NODES}, got ${req.nodes}`);
  }
  if (!Number.isInteger(req.clients) || req.clients < 1 || req.clients > MAX_CLIENTS) {
    throw new RangeError(`--clients must be an integer from 1 to ${MAX_CLIENTS}, got ${req.clients}`);
  }
  const nodes: NodeInfo[] = Array.from({ length: req.nodes }, (_, i) => {
    const name = nodeName(i);
    return {
      name,
      index: i,
      ip: nodeIp(i),
      podCidr: nodePodCidr(i),
      where: `netns ${nodeNetns(req.runId, name)}`,
      iface: 'eth0',
    };
  });
  const clients: ClientInfo[] = Array.from({ length: req.clients }, (_, j) => {
    const name = clientName(j);
    return { name, ip: clientIp(j), where: `netns ${clientNetns(req.runId, name)}`, iface: 'eth0' };
  });
  return {
    runId: req.runId,
    provider: 'netns',
    network: `netns ${fabricNetns(req.runId)} (bridge ${FABRIC_BRIDGE})`,
    nodes,
    clients,
    pods: [],
    vipPool: VIP_POOL,
    serviceCidr: SERVICE_CIDR,
    clusterCidr: CLUSTER_CIDR,
  };
}

/** Every namespace of the topology except pods. */
export function infraNetns(t: Topology): string[] {
  return [
    fabricNetns(t.runId),
    ...t.nodes.map((n) => nodeNetns(t.runId, n.name)),
    ...t.clients.map((c) => clientNetns(t.runId, c.name)),
  ];
}

/** Fabric namespace: the bridge, and one veth per node and client whose far end is that host's eth0. */
export function fabricLines(t: Topology): string[] {
  const lines = [
    `link add ${FABRIC_BRIDGE} type bridge`,
    `addr add ${FABRIC_GATEWAY}/${FABRIC_PREFIX_LEN} dev ${FABRIC_BRIDGE}`,
    `link set ${FABRIC_BRIDGE} up`,
  ];
  const attach = (port: string, netns: string) => [
    `link add ${port} type veth peer name eth0 netns ${netns}`,
    `link set ${port} master ${FABRIC_BRIDGE}`,
    `link set ${port} up`,
  ];
  t.nodes.forEach((n) => {
    lines.push(...attach(fabricNodePort(n.index), nodeNetns(t.runId, n.name)));
  });
  t.clients.forEach((c, j) => {
    lines.push(...attach(fabricClientPort(j), clientNetns(t.runId, c.name)));
  });
  return lines;
}

/** A node: its address, a default route to the fabric gateway, native routes to the other nodes' pods. */
export function nodeLines(t: Topology, node: NodeInfo): string[] {
  const lines = [
    'link set lo up',
    `addr add ${node.ip}/${FABRIC_PREFIX_LEN} dev eth0`,
    'link set eth0 up',
    `route add default via ${FABRIC_GATEWAY} dev eth0`,
  ];
  for (const other of t.nodes) {
    if (other.index !== node.index) lines.push(`route add ${other.podCidr} via ${other.ip} dev eth0`);
  }
  return lines;
}

/** An external client: just its address on the fabric. */
export function clientLines(c: ClientInfo): string[] {
  return ['link set lo up', `addr add ${c.ip}/${FABRIC_PREFIX_LEN} dev eth0`, 'link set eth0 up'];
}

/** Sysctls every namespace of ours gets: no IPv6 chatter in captures. */
export const QUIET_SYSCTLS: Readonly<Record<string, number>> = {
  'net.ipv6.conf.all.disable_ipv6': 1,
  'net.ipv6.conf.default.disable_ipv6': 1,
};

/**
 * Sysctls of a node: a router with no reverse-path filtering (DSR replies are asymmetric), and
 * no rate limit on ICMP errors: the kernel otherwise sends at most about one port-unreachable a
 * second to a client, and a suite that checks several refusals in a row would see the later
 * ones arrive only on the SYN retransmission a second later.
 */
export const NODE_SYSCTLS: Readonly<Record<string, number>> = {
  ...QUIET_SYSCTLS,
  'net.ipv4.icmp_ratelimit': 0,
  'net.ipv4.ip_forward': 1,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
};

/** Sysctls of a client: flows spread over ECMP routes by port, not only by address. */
export const CLIENT_SYSCTLS: Readonly<Record<string, number>> = {
  ...QUIET_SYSCTLS,
  'net.ipv4.conf.all.rp_filter': 0,
  'net.ipv4.conf.default.rp_filter': 0,
  'net.ipv4.fib_multipath_hash_policy': 1,
};

/** The pod as the harness reaches it. */
export function podInfo(runId: string, pod: PodState): PodInfo {
  return {
    namespace: pod.namespace,
    name: pod.name,
    nodeName: pod.nodeName,
    ip: pod.ip,
    labels: pod.labels,
    where: `netns ${podNetns(runId, pod.hostIface)}`,
    iface: 'eth0',
    hostIface: pod.hostIface,
  };
}

/** Node side of a pod (Calico style): the veth, a /32 route to it. */
export function podNodeLines(runId: string, pod: PodInfo): string[] {
  return [
    `link add ${pod.hostIface} type veth peer name eth0 netns ${podNetns(runId, pod.hostIface)}`,
    `link set ${pod.hostIface} up`,
    `route add ${pod.ip}/32 dev ${pod.hostIface}`,
  ];
}

/** Node-side sysctls of a pod's veth: answer ARP for the gateway at once. */
export function podNodeSysctls(pod: PodInfo): Record<string, number> {
  // Without proxy_delay=0 the kernel delays proxy ARP replies by up to 0.8 s.
  return {
    [`net.ipv4.conf.${pod.hostIface}.proxy_arp`]: 1,
    [`net.ipv4.neigh.${pod.hostIface}.proxy_delay`]: 0,
    [`net.ipv4.conf.${pod.hostIface}.rp_filter`]: 0,
  };
}

/** Pod side: its /32 and a default route through the link-local gateway. */
export function podLines(pod: PodInfo): string[] {
  return [
    'link set lo up',
    `addr add ${pod.ip}/32 dev eth0`,
    'link set eth0 up',
    `route add ${POD_GATEWAY} dev eth0 scope link`,
    `route add default via ${POD_GATEWAY} dev eth0`,
  ];
}

/** Route lines on a client for a VIP (or external IP) advertised by the given nodes (ECMP). */
export function vipRouteLine(vip: string, via: readonly NodeInfo[]): string {
  if (via.length === 0) return `route replace unreachable ${vip}/32`;
  if (via.length === 1) return `route replace ${vip}/32 via ${via[0]!.ip} dev eth0`;
  return `route replace ${vip}/32 ${via.map((n) => `nexthop via ${n.ip} dev eth0`).join(' ')}`;
}
