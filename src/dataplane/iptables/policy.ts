/**
 * Kubernetes NetworkPolicy in the iptables dataplane: the compiled policy of each pod on a node
 * becomes two chains on the pod's host veth, one for traffic to the pod and one for traffic
 * from it. Only new connections are checked (replies ride on conntrack), allowed traffic
 * returns to the rest of the filter table, and what no rule allows is dropped by a rule of its
 * own whose packet counter is the pod's "dropped by policy" count.
 */
import { createHash } from 'node:crypto';
import type { ClusterModel, NodeState } from '../../k8s/model.ts';
import { subtractCidrs } from '../../policy/cidr.ts';
import { compilePolicy, policyInputsFromModel } from '../../policy/compile.ts';
import type { AllowRule, Direction, PodPolicy, PolicyInputs, PortMatch } from '../../policy/types.ts';
import { protoWord } from './chain-names.ts';
import { KUBE_PROXY_FIREWALL } from './kube-chains.ts';
import type { FilterExtension } from './render-filter.ts';
import type { TableSection } from './restore-text.ts';

/** The dispatch chain: sends new connections of isolated pods to their chains. */
export const POLICY_CHAIN = 'DPC-POLICY';
/** Prefix of a pod's chain for traffic to it (ingress policy). */
export const TO_POD_PREFIX = 'DPC-TW-';
/** Prefix of a pod's chain for traffic from it (egress policy). */
export const FROM_POD_PREFIX = 'DPC-FW-';
/** Start of the comment on every per-pod drop rule; the rest is `<ns>/<name> <direction>`. */
export const DROP_COMMENT_PREFIX = 'dpc dropped by policy:';

/** True for the chains the policy extension owns. */
export function isPolicyChain(chain: string): boolean {
  return chain === POLICY_CHAIN || chain.startsWith(TO_POD_PREFIX) || chain.startsWith(FROM_POD_PREFIX);
}

/** The pod's chain for one direction; stable for a pod's `namespace/name`, 23 characters. */
export function podChainName(namespace: string, name: string, direction: Direction): string {
  const hash = createHash('sha256').update(`${namespace}/${name}`).digest('hex').slice(0, 16).toUpperCase();
  return `${direction === 'ingress' ? TO_POD_PREFIX : FROM_POD_PREFIX}${hash}`;
}

/** The comment of a pod's drop rule, by which its counter is found again. */
export function dropComment(namespace: string, name: string, direction: Direction): string {
  return `${DROP_COMMENT_PREFIX} ${namespace}/${name} ${direction}`;
}

function peerMatches(rule: AllowRule, direction: Direction): string[][] {
  if (!rule.peers) return [[]];
  const flag = direction === 'ingress' ? '-s' : '-d';
  const cidrs = rule.peers.cidrs.flatMap((c) => subtractCidrs(c.cidr, c.except));
  return [...cidrs, ...rule.peers.podIps.map((ip) => `${ip}/32`)].map((c) => [flag, c]);
}

function portMatch(p: PortMatch): string[] {
  const proto = protoWord(p.protocol);
  if (p.port === undefined) return ['-p', proto];
  const ports = p.endPort === undefined ? String(p.port) : `${p.port}:${p.endPort}`;
  return ['-p', proto, '-m', proto, '--dport', ports];
}

/** Fills one pod's chain for one direction: replies, then the allow rules, then the counted drop. */
export function writePodChain(filter: TableSection, pod: PodPolicy, direction: Direction): string {
  const chain = podChainName(pod.namespace, pod.name, direction);
  filter.chain(chain);
  filter.append(chain, ['-m', 'conntrack', '--ctstate', 'RELATED,ESTABLISHED', '-j', 'ACCEPT']);
  for (const rule of pod[direction].rules) {
    const ports = rule.ports ? rule.ports.map(portMatch) : [[]];
    for (const peer of peerMatches(rule, direction)) {
      for (const port of ports) {
        // RETURN, not ACCEPT: a packet between two pods of this node still has the other pod's chain to pass.
        filter.append(chain, [...peer, ...port, '-m', 'comment', '--comment', rule.origin, '-j', 'RETURN']);
      }
    }
  }
  filter.append(chain, [
    '-m',
    'comment',
    '--comment',
    dropComment(pod.namespace, pod.name, direction),
    '-j',
    'DROP',
  ]);
  return chain;
}

/**
 * Writes the policy chains of one node: the dispatch chain hooked into the chain kube-proxy
 * jumps to first for new connections in INPUT, OUTPUT and FORWARD, and a chain per isolated pod
 * and direction. Egress chains are dispatched before ingress ones so that a packet between
 * two pods of the node passes both.
 */
export function writePolicyChains(filter: TableSection, pods: readonly PodPolicy[], nodeName: string): void {
  filter.chain(POLICY_CHAIN);
  filter.append(KUBE_PROXY_FIREWALL, [
    '-m',
    'comment',
    '--comment',
    'dpc network policy',
    '-j',
    POLICY_CHAIN,
  ]);
  const local = pods.filter((p) => p.nodeName === nodeName);
  for (const pod of local) {
    if (!pod.egress.isolated) continue;
    const chain = writePodChain(filter, pod, 'egress');
    filter.append(POLICY_CHAIN, ['-i', pod.hostIface, '-j', chain]);
  }
  for (const pod of local) {
    if (!pod.ingress.isolated) continue;
    const chain = writePodChain(filter, pod, 'ingress');
    filter.append(POLICY_CHAIN, ['-o', pod.hostIface, '-j', chain]);
  }
}

/**
 * The network policy extension of the iptables dataplane. `getPolicyInputs` picks policies,
 * pods and namespaces out of the model being synced; by default the model's own `policies` and
 * `namespaces` fields.
 */
export function createPolicyExtension(
  getPolicyInputs: (model: ClusterModel) => PolicyInputs = policyInputsFromModel,
): FilterExtension {
  return {
    write(filter: TableSection, model: ClusterModel, node: Pick<NodeState, 'name'>) {
      writePolicyChains(filter, compilePolicy(getPolicyInputs(model)), node.name);
    },
    owns: isPolicyChain,
  };
}
