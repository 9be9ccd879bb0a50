/**
 * The CNI configuration the harness installs in each kind node, pure: the standard `ptp` plugin
 * with `host-local` addresses from the node's pod CIDR (both ship in kind's node image), so a
 * pod is a /32 behind a veth with a host route to it, as Calico wires pods. ptp names the node
 * side `veth…`; the harness renames it `cali` + 11 hex digits, Calico's name, which is what the
 * dataplane recognises as a workload interface.
 */
import { hostIfaceName } from '../../k8s/naming.ts';

/** Where the configuration goes in a node (kubelet takes the first file in name order). */
export const CNI_CONFIG_PATH = '/etc/cni/net.d/10-dpconform.conflist';

/** The network's name in the configuration (and in host-local's allocation directory). */
export const CNI_NETWORK = 'dpconform';

/** A node's CNI configuration list, as the JSON a node reads. */
export function cniConflist(podCidr: string, mtu = 1500): string {
  const conf = {
    cniVersion: '1.0.0',
    name: CNI_NETWORK,
    plugins: [
      {
        type: 'ptp',
        ipMasq: false,
        mtu,
        ipam: {
          type: 'host-local',
          ranges: [[{ subnet: podCidr }]],
          routes: [{ dst: '0.0.0.0/0' }],
        },
      },
    ],
  };
  return `${JSON.stringify(conf, null, 2)}\n`;
}

/** The node-side interface name a pod should have: Calico's. */
export function calicoIfaceOf(namespace: string, pod: string): string {
  return hostIfaceName(namespace, pod);
}

/**
 * `ip` lines that rename a pod's node-side veth to Calico's name. A link is renamed only while
 * down, and going down takes its routes with it, so the /32 route to the pod is put back.
 */
export function renameVethLines(podIp: string, current: string, wanted: string): string[] {
  if (current === wanted) return [];
  for (const name of [current, wanted])
    if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name))
      throw new Error(`not an interface name: ${JSON.stringify(name)}`);
  return [
    `link set dev ${current} down`,
    `link set dev ${current} name ${wanted}`,
    `link set dev ${wanted} up`,
    `route replace ${podIp}/32 dev ${wanted}`,
  ];
}
