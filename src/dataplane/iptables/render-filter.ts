/**
 * The filter table of kube-proxy's iptables mode for one node: services with no endpoints are
 * refused at once (ICMP port unreachable) instead of timing out, external traffic for a Local
 * service with no endpoint on this node is dropped, and service traffic is let through FORWARD.
 * Network policy chains are written by their own module and plugged in as an extension.
 */
import type { ClusterModel, NodeState } from '../../k8s/model.ts';
import { protoWord } from './chain-names.ts';
import {
  isKubeProxyChain,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_NODEPORTS,
  KUBE_PROXY_FIREWALL,
  KUBE_SERVICES,
  MASQ_MARK,
} from './kube-chains.ts';
import { chainBodies, reconcile, unchangedSince } from './reconcile.ts';
import type { RenderedTable, RenderOptions } from './render-nat.ts';
import { TableSection } from './restore-text.ts';
import { type ServicePortView, servicePortsFor } from './service-ports.ts';

/** Something else that keeps chains in the filter table (network policy). */
export interface FilterExtension {
  /** Declares and fills its chains (and its jumps into ours or the built-ins). */
  write(filter: TableSection, model: ClusterModel, node: Pick<NodeState, 'name'>): void;
  /** True for chains it owns, so that stale ones are deleted. */
  owns(chain: string): boolean;
}

/** Options for the filter table. */
export interface FilterRenderOptions extends RenderOptions {
  extensions?: readonly FilterExtension[];
}

function writeBase(filter: TableSection): void {
  filter.chain(KUBE_SERVICES);
  filter.chain(KUBE_EXTERNAL_SERVICES);
  filter.chain(KUBE_FORWARD);
  filter.chain(KUBE_NODEPORTS);
  filter.chain(KUBE_PROXY_FIREWALL);
  filter.append(KUBE_FORWARD, ['-m', 'conntrack', '--ctstate', 'INVALID', '-j', 'DROP']);
  filter.append(KUBE_FORWARD, [
    '-m',
    'comment',
    '--comment',
    'kubernetes forwarding rules',
    '-m',
    'mark',
    '--mark',
    `${MASQ_MARK}/${MASQ_MARK}`,
    '-j',
    'ACCEPT',
  ]);
  filter.append(KUBE_FORWARD, [
    '-m',
    'comment',
    '--comment',
    'kubernetes forwarding conntrack rule',
    '-m',
    'conntrack',
    '--ctstate',
    'RELATED,ESTABLISHED',
    '-j',
    'ACCEPT',
  ]);
}

const REJECT = ['REJECT', '--reject-with', 'icmp-port-unreachable'];

/** Writes the refusals of one service port; a port with usable endpoints writes nothing. */
export function writeServicePortFilter(filter: TableSection, sp: ServicePortView): void {
  const proto = protoWord(sp.protocol);
  const hasEndpoints = sp.endpoints.length > 0;
  const hasExternalEndpoints = sp.externalPolicyLocal ? sp.endpoints.some((ep) => ep.local) : hasEndpoints;
  if (!hasEndpoints) {
    filter.append(KUBE_SERVICES, [
      '-m',
      'comment',
      '--comment',
      `${sp.name} has no endpoints`,
      '-m',
      proto,
      '-p',
      proto,
      '-d',
      sp.clusterIP,
      '--dport',
      String(sp.port),
      '-j',
      ...REJECT,
    ]);
  }
  if (hasExternalEndpoints) return;
  // No endpoints at all: refuse. Endpoints, but none here for a Local service: drop what the
  // nat table did not short-circuit (pods and the node itself still reach the service).
  const why = hasEndpoints ? `${sp.name} has no local endpoints` : `${sp.name} has no endpoints`;
  const target = hasEndpoints ? ['DROP'] : REJECT;
  for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
    filter.append(KUBE_EXTERNAL_SERVICES, [
      '-m',
      'comment',
      '--comment',
      why,
      '-m',
      proto,
      '-p',
      proto,
      '-d',
      ip,
      '--dport',
      String(sp.port),
      '-j',
      ...target,
    ]);
  }
  if (sp.nodePort !== undefined) {
    filter.append(KUBE_EXTERNAL_SERVICES, [
      '-m',
      'comment',
      '--comment',
      why,
      '-m',
      'addrtype',
      '--dst-type',
      'LOCAL',
      '-m',
      proto,
      '-p',
      proto,
      '--dport',
      String(sp.nodePort),
      '-j',
      ...target,
    ]);
  }
}

/**
 * The filter table for one node as `iptables-restore --noflush` input, reconciled against the
 * node's current table like the nat table.
 */
export function renderFilter(
  model: ClusterModel,
  node: Pick<NodeState, 'name'>,
  opts: FilterRenderOptions = {},
): string {
  return planFilter(model, node, opts).text;
}

/** {@link renderFilter}, also returning the chains it wants, for the next sync to compare with. */
export function planFilter(
  model: ClusterModel,
  node: Pick<NodeState, 'name'>,
  opts: FilterRenderOptions = {},
): RenderedTable {
  const filter = new TableSection('filter');
  writeBase(filter);
  for (const sp of servicePortsFor(model, node.name).ports) writeServicePortFilter(filter, sp);
  const extensions = opts.extensions ?? [];
  for (const ext of extensions) ext.write(filter, model, node);
  const chains = chainBodies(filter);
  reconcile(
    filter,
    opts.current,
    (chain) => isKubeProxyChain(chain) || extensions.some((e) => e.owns(chain)),
  );
  return { text: filter.text(unchangedSince(opts.current, opts.previous)), chains };
}
