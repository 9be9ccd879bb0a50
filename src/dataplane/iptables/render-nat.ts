/**
 * The nat table of kube-proxy's iptables mode for one node: capture of every service frontend
 * (cluster IP, externalIPs, LoadBalancer VIPs, NodePorts), the Cluster/Local policy chains that
 * spread over endpoints, per-endpoint DNAT, and the masquerade machinery.
 */
import type { ClusterModel, NodeState } from '../../k8s/model.ts';
import { probability, protoWord } from './chain-names.ts';
import { KUBE_MARK_MASQ, KUBE_NODEPORTS, KUBE_POSTROUTING, KUBE_SERVICES, MASQ_MARK } from './kube-chains.ts';
import { type ChainBodies, chainBodies, reconcile, unchangedSince } from './reconcile.ts';
import { TableSection } from './restore-text.ts';
import type { SavedTable } from './save-parse.ts';
import { type EndpointView, type ServicePortView, servicePortsFor } from './service-ports.ts';

/** What the renderers need besides the model. */
export interface RenderOptions {
  /** The node's table as iptables-save shows it now; absent means an empty table. */
  current?: SavedTable;
  /** Chains as this dataplane last wrote them; unchanged ones are left out of the restore. */
  previous?: ChainBodies;
}

/** Restore input plus what it asks for, to be remembered once the restore succeeded. */
export interface RenderedTable {
  text: string;
  /** Every chain the table should hold, with its rules. */
  chains: Map<string, string>;
}

function comment(text: string): string[] {
  return ['-m', 'comment', '--comment', text];
}

/** `-m tcp -p tcp -d <ip> --dport <port>`: the frontend match kube-proxy writes. */
function frontend(sp: ServicePortView, ip: string, port: number): string[] {
  const proto = protoWord(sp.protocol);
  return ['-m', proto, '-p', proto, '-d', ip, '--dport', String(port)];
}

function writeBase(nat: TableSection): void {
  nat.chain(KUBE_SERVICES);
  nat.chain(KUBE_NODEPORTS);
  nat.chain(KUBE_POSTROUTING);
  nat.chain(KUBE_MARK_MASQ);
  // Unmarked packets leave untouched; marked ones lose the mark (so it does not leak into a
  // re-routed packet) and are masqueraded with a fully random source port.
  nat.append(KUBE_POSTROUTING, ['-m', 'mark', '!', '--mark', `${MASQ_MARK}/${MASQ_MARK}`, '-j', 'RETURN']);
  nat.append(KUBE_POSTROUTING, ['-j', 'MARK', '--xor-mark', MASQ_MARK]);
  nat.append(KUBE_POSTROUTING, [
    ...comment('kubernetes service traffic requiring SNAT'),
    '-j',
    'MASQUERADE',
    '--random-fully',
  ]);
  nat.append(KUBE_MARK_MASQ, ['-j', 'MARK', '--or-mark', MASQ_MARK]);
}

/** Affinity lookups first (a client sticks to its last endpoint), then the random spread. */
function writeSpread(nat: TableSection, chain: string, sp: ServicePortView, endpoints: EndpointView[]): void {
  nat.chain(chain);
  if (sp.affinitySeconds !== undefined) {
    for (const ep of endpoints) {
      nat.append(chain, [
        ...comment(`${sp.name} -> ${ep.address}`),
        '-m',
        'recent',
        '--name',
        ep.chain,
        '--rcheck',
        '--seconds',
        String(sp.affinitySeconds),
        '--reap',
        '-j',
        ep.chain,
      ]);
    }
  }
  endpoints.forEach((ep, i) => {
    const left = endpoints.length - i;
    const pick = left > 1 ? ['-m', 'statistic', '--mode', 'random', '--probability', probability(left)] : [];
    nat.append(chain, [...comment(`${sp.name} -> ${ep.address}`), ...pick, '-j', ep.chain]);
  });
}

function writeEndpoint(nat: TableSection, sp: ServicePortView, ep: EndpointView): void {
  nat.chain(ep.chain);
  // A pod reaching itself through the service must be masqueraded, or its reply would go
  // straight back to itself with the wrong source (hairpin).
  nat.append(ep.chain, [...comment(sp.name), '-s', ep.ip, '-j', KUBE_MARK_MASQ]);
  const proto = protoWord(sp.protocol);
  const sticky = sp.affinitySeconds !== undefined ? ['-m', 'recent', '--name', ep.chain, '--set'] : [];
  nat.append(ep.chain, [
    ...comment(sp.name),
    ...sticky,
    '-m',
    proto,
    '-p',
    proto,
    '-j',
    'DNAT',
    '--to-destination',
    ep.address,
  ]);
}

/** Writes every nat rule of one service port (nothing at all when it has no endpoints). */
export function writeServicePortNat(nat: TableSection, sp: ServicePortView, clusterCidr: string): void {
  const all = sp.endpoints;
  if (all.length === 0) return; // refused in the filter table instead
  const local = all.filter((ep) => ep.local);
  const { cluster, local: localChain, external } = sp.chains;
  const externallyAccessible =
    sp.nodePort !== undefined || sp.externalIPs.length > 0 || sp.loadBalancerIPs.length > 0;

  // Frontends.
  nat.append(KUBE_SERVICES, [
    ...comment(`${sp.name} cluster IP`),
    ...frontend(sp, sp.clusterIP, sp.port),
    '-j',
    cluster,
  ]);
  for (const ip of sp.externalIPs) {
    nat.append(KUBE_SERVICES, [
      ...comment(`${sp.name} external IP`),
      ...frontend(sp, ip, sp.port),
      '-j',
      external,
    ]);
  }
  for (const ip of sp.loadBalancerIPs) {
    nat.append(KUBE_SERVICES, [
      ...comment(`${sp.name} loadbalancer IP`),
      ...frontend(sp, ip, sp.port),
      '-j',
      external,
    ]);
  }
  if (sp.nodePort !== undefined) {
    const proto = protoWord(sp.protocol);
    nat.append(KUBE_NODEPORTS, [
      ...comment(sp.name),
      '-m',
      proto,
      '-p',
      proto,
      '--dport',
      String(sp.nodePort),
      '-j',
      external,
    ]);
  }

  // Cluster-IP traffic from outside the pod network is masqueraded: it may have been routed to
  // this node from anywhere and the reply must come back the same way.
  nat.chain(cluster);
  if (clusterCidr) {
    nat.append(cluster, [
      ...comment(`${sp.name} cluster IP`),
      ...frontend(sp, sp.clusterIP, sp.port),
      '!',
      '-s',
      clusterCidr,
      '-j',
      KUBE_MARK_MASQ,
    ]);
  }

  if (externallyAccessible) {
    nat.chain(external);
    if (!sp.externalPolicyLocal) {
      // The endpoint may be on another node: masquerade so the reply comes back through here.
      nat.append(external, [
        ...comment(`masquerade traffic for ${sp.name} external destinations`),
        '-j',
        KUBE_MARK_MASQ,
      ]);
      nat.append(external, ['-j', cluster]);
    } else {
      // Pods and the node itself are not "external": they use every endpoint, and the node's
      // own traffic is masqueraded because its source would be the (local) frontend address.
      if (clusterCidr) {
        nat.append(external, [
          ...comment(`pod traffic for ${sp.name} external destinations`),
          '-s',
          clusterCidr,
          '-j',
          cluster,
        ]);
      }
      nat.append(external, [
        ...comment(`masquerade LOCAL traffic for ${sp.name} external destinations`),
        '-m',
        'addrtype',
        '--src-type',
        'LOCAL',
        '-j',
        KUBE_MARK_MASQ,
      ]);
      nat.append(external, [
        ...comment(`route LOCAL traffic for ${sp.name} external destinations`),
        '-m',
        'addrtype',
        '--src-type',
        'LOCAL',
        '-j',
        cluster,
      ]);
      // With no local endpoint the packet falls through un-NATed and the filter table drops it.
      if (local.length > 0) nat.append(external, ['-j', localChain]);
    }
  }

  writeSpread(nat, cluster, sp, all);
  if (sp.externalPolicyLocal && local.length > 0) writeSpread(nat, localChain, sp, local);
  for (const ep of all) writeEndpoint(nat, sp, ep);
}

/**
 * The nat table for one node as `iptables-restore --noflush` input: every chain of ours is
 * declared (so flushed and refilled), missing jump rules are added, stale chains deleted.
 */
export function renderNat(
  model: ClusterModel,
  node: Pick<NodeState, 'name'>,
  opts: RenderOptions = {},
): string {
  return planNat(model, node, opts).text;
}

/** {@link renderNat}, also returning the chains it wants, for the next sync to compare with. */
export function planNat(
  model: ClusterModel,
  node: Pick<NodeState, 'name'>,
  opts: RenderOptions = {},
): RenderedTable {
  const nat = new TableSection('nat');
  writeBase(nat);
  for (const sp of servicePortsFor(model, node.name).ports) writeServicePortNat(nat, sp, model.clusterCidr);
  // Must stay last: anything addressed to the node itself may be a NodePort.
  nat.append(KUBE_SERVICES, [
    ...comment('kubernetes service nodeports; NOTE: this must be the last rule in this chain'),
    '-m',
    'addrtype',
    '--dst-type',
    'LOCAL',
    '-j',
    KUBE_NODEPORTS,
  ]);
  const chains = chainBodies(nat);
  reconcile(nat, opts.current);
  return { text: nat.text(unchangedSince(opts.current, opts.previous)), chains };
}
