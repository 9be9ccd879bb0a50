/**
 * The address and port ranges the embedded control plane allocates from, in one place. They
 * follow kind's defaults, so the same fixtures mean the same addresses on both providers.
 */

/** The cluster-wide pod CIDR (kube-proxy's `--cluster-cidr`). */
export const CLUSTER_CIDR = '10.244.0.0/16';

/** The Service CIDR (kube-apiserver's `--service-cluster-ip-range`). */
export const SERVICE_CIDR = '10.96.0.0/12';

/** The node (fabric) network. */
export const NODE_CIDR = '172.18.0.0/16';

/** A node's pod CIDR: 10.244.<index>.0/24. */
export function podCidrOfNode(index: number): string {
  if (!Number.isInteger(index) || index < 0 || index > 255) {
    throw new RangeError(`node index ${index} has no pod CIDR in ${CLUSTER_CIDR}`);
  }
  return `10.244.${index}.0/24`;
}

/**
 * Host offsets inside a node's /24 that pods get: .1 is left for the node side, .255 is the
 * broadcast address.
 */
export const POD_HOST_FIRST = 2;
export const POD_HOST_LAST = 254;

/**
 * Service addresses the allocator never hands out: the network address, the `kubernetes`
 * Service (first host) and kube-dns (tenth host), as a real cluster reserves them.
 */
export const RESERVED_SERVICE_IPS: readonly string[] = ['10.96.0.0', '10.96.0.1', '10.96.0.10'];

/** The first address the ClusterIP allocator tries. */
export const SERVICE_IP_FIRST = '10.96.0.2';

/** NodePort range (kube-apiserver's `--service-node-port-range` default). */
export const NODE_PORT_MIN = 30000;
export const NODE_PORT_MAX = 32767;

/** LoadBalancer VIP pool on the fabric, as MetalLB would be configured on kind's network. */
export const LB_POOL_FIRST = '172.18.255.200';
export const LB_POOL_LAST = '172.18.255.250';

/** The VIP pool written `first-last`, as the topology reports it. */
export const LB_POOL = `${LB_POOL_FIRST}-${LB_POOL_LAST}`;
