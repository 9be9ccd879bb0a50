/**
 * Host endpoint policy in the iptables dataplane. New connections (kube-proxy's firewall chain
 * sees only those; replies ride on conntrack) are dispatched by interface to the endpoint that
 * owns it, then by stage: pre-DNAT policy on everything arriving (matched on the destination
 * conntrack recorded before DNAT, so a NodePort is judged by its own number), then policy for
 * traffic to or from the host itself (addrtype LOCAL) or forwarded through it. Allowed packets
 * return to the rest of the filter table; each drop rule carries a comment by which its packet
 * counter is read back as the endpoint's "dropped by policy" count.
 */
import { createHash } from 'node:crypto';
import type { PortRange } from '../../k8s/calico-model.ts';
import type { ClusterModel, NodeState } from '../../k8s/model.ts';
import type { Place } from '../../node/place.ts';
import {
  compileHostPolicy,
  HOST_STAGES,
  type HostEndpointPolicy,
  type HostRule,
  type HostStage,
  hostPolicyInputsFromModel,
} from '../../policy/host.ts';
import { KUBE_PROXY_FIREWALL } from './kube-chains.ts';
import type { FilterExtension } from './render-filter.ts';
import type { TableSection } from './restore-text.ts';
import { splitRuleWords } from './save-parse.ts';

/** The dispatch chain, hooked into kube-proxy's firewall chain (new connections only). */
export const HOST_CHAIN = 'DPC-HOST';
/** Dispatch by the interface a packet arrives on, and by the one it leaves through. */
export const HOST_IN_CHAIN = 'DPC-HOST-I';
export const HOST_OUT_CHAIN = 'DPC-HOST-O';
/** Prefix of every per-endpoint chain. */
export const HEP_CHAIN_PREFIX = 'DPC-HEP-';
/** Start of the comment on every drop rule; the rest is `<endpoint> <stage>`. */
export const HOST_DROP_COMMENT_PREFIX = 'dpc dropped by host policy:';

const STAGE_CODE: Record<HostStage, string> = {
  preDnat: 'PRE',
  ingress: 'IN',
  egress: 'OUT',
  forwardIngress: 'FIN',
  forwardEgress: 'FOUT',
};

/** True for the chains this extension owns. */
export function isHostPolicyChain(chain: string): boolean {
  return (
    chain === HOST_CHAIN ||
    chain === HOST_IN_CHAIN ||
    chain === HOST_OUT_CHAIN ||
    chain.startsWith(HEP_CHAIN_PREFIX)
  );
}

/** An endpoint's chain for a stage (or its `I`/`O` dispatch), stable for its name, at most 25 characters. */
export function hepChainName(endpoint: string, part: HostStage | 'I' | 'O'): string {
  const hash = createHash('sha256').update(endpoint).digest('hex').slice(0, 12).toUpperCase();
  return `${HEP_CHAIN_PREFIX}${hash}-${part === 'I' || part === 'O' ? part : STAGE_CODE[part]}`;
}

/** The comment of an endpoint's drop rules in one stage. */
export function hostDropComment(endpoint: string, stage: HostStage): string {
  return `${HOST_DROP_COMMENT_PREFIX} ${endpoint} ${stage}`;
}

const PROTO_WORDS: Record<number, string> = { 1: 'icmp', 6: 'tcp', 17: 'udp', 132: 'sctp' };

function protoWord(n: number): string {
  return PROTO_WORDS[n] ?? String(n);
}

function ranges(ports: readonly PortRange[]): string[] {
  return ports.map((r) => (r.lo === r.hi ? String(r.lo) : `${r.lo}:${r.hi}`));
}

/** The match words of one rule, one list per line it needs (CIDRs and port ranges multiply). */
export function ruleMatches(rule: HostRule, preDnat: boolean): string[][] {
  const proto: string[] = [];
  if (rule.protocol !== undefined) {
    if (rule.notProtocol === rule.protocol) return [];
    proto.push('-p', protoWord(rule.protocol));
  } else if (rule.notProtocol !== undefined) {
    proto.push('!', '-p', protoWord(rule.notProtocol));
  }
  const srcs = rule.src?.map((c) => ['-s', c]) ?? [[]];
  const dsts = rule.dst?.map((c) => (preDnat ? ['-m', 'conntrack', '--ctorigdst', c] : ['-d', c])) ?? [[]];
  const word = rule.protocol === undefined ? 'tcp' : protoWord(rule.protocol);
  const ports =
    rule.ports === undefined
      ? [[]]
      : ranges(rule.ports).map((r) =>
          preDnat ? ['-m', 'conntrack', '--ctorigdstport', r] : ['-m', word, '--dport', r],
        );
  const out: string[][] = [];
  for (const s of srcs) for (const d of dsts) for (const p of ports) out.push([...proto, ...s, ...d, ...p]);
  return out;
}

function writeStage(filter: TableSection, ep: HostEndpointPolicy, stage: HostStage): string {
  const chain = hepChainName(ep.name, stage);
  const policy = ep.stages[stage];
  const drop = ['-m', 'comment', '--comment', hostDropComment(ep.name, stage), '-j', 'DROP'];
  filter.chain(chain);
  for (const rule of policy.rules) {
    for (const match of ruleMatches(rule, stage === 'preDnat')) {
      if (rule.action === 'deny') filter.append(chain, [...match, ...drop]);
      // RETURN, not ACCEPT: the rest of the filter table (pod policy, service refusals) still applies.
      else filter.append(chain, [...match, '-m', 'comment', '--comment', rule.origin, '-j', 'RETURN']);
    }
  }
  if (policy.otherwise === 'deny') filter.append(chain, drop);
  return chain;
}

const LOCAL = (dir: 'src' | 'dst', negate = false) => [
  '-m',
  'addrtype',
  ...(negate ? ['!'] : []),
  dir === 'src' ? '--src-type' : '--dst-type',
  'LOCAL',
];

function writeEndpoint(filter: TableSection, ep: HostEndpointPolicy): void {
  const stage = Object.fromEntries(HOST_STAGES.map((s) => [s, writeStage(filter, ep, s)])) as Record<
    HostStage,
    string
  >;
  const inChain = hepChainName(ep.name, 'I');
  filter.append(inChain, ['-j', stage.preDnat]);
  filter.append(inChain, [...LOCAL('dst'), '-j', stage.ingress]);
  filter.append(inChain, [...LOCAL('dst', true), '-j', stage.forwardIngress]);
  const outChain = hepChainName(ep.name, 'O');
  filter.append(outChain, [...LOCAL('src'), '-j', stage.egress]);
  filter.append(outChain, [...LOCAL('src', true), '-j', stage.forwardEgress]);
}

/**
 * Writes the host endpoint chains of one node: the dispatch, then per endpoint its arrival and
 * departure chains and one chain per stage. Endpoints written for an interface come before the
 * node's `*` endpoint, and a goto hands each packet to one endpoint per direction only.
 */
export function writeHostPolicyChains(
  filter: TableSection,
  endpoints: readonly HostEndpointPolicy[],
  nodeName: string,
): void {
  const mine = endpoints.filter((e) => e.nodeName === nodeName);
  if (mine.length === 0) return;
  filter.append(KUBE_PROXY_FIREWALL, ['-m', 'comment', '--comment', 'dpc host endpoints', '-j', HOST_CHAIN]);
  filter.append(HOST_CHAIN, ['-j', HOST_IN_CHAIN]);
  filter.append(HOST_CHAIN, ['-j', HOST_OUT_CHAIN]);
  // The host's own packets arrive on no interface; lo and workload veths are not host endpoints.
  filter.append(HOST_IN_CHAIN, [...LOCAL('src'), '-j', 'RETURN']);
  filter.append(HOST_OUT_CHAIN, [...LOCAL('dst'), '-j', 'RETURN']);
  for (const [chain, flag] of [
    [HOST_IN_CHAIN, '-i'],
    [HOST_OUT_CHAIN, '-o'],
  ] as const) {
    for (const skip of ['lo', 'cali+']) filter.append(chain, [flag, skip, '-j', 'RETURN']);
  }
  const star = mine.find((e) => e.iface === '*');
  for (const ep of mine) {
    if (ep.iface === '*' && ep !== star) continue;
    writeEndpoint(filter, ep);
    const iface = ep.iface === '*' ? [] : [ep.iface];
    filter.append(HOST_IN_CHAIN, [...iface.flatMap((i) => ['-i', i]), '-g', hepChainName(ep.name, 'I')]);
    filter.append(HOST_OUT_CHAIN, [...iface.flatMap((i) => ['-o', i]), '-g', hepChainName(ep.name, 'O')]);
  }
}

/** The host endpoint extension of the iptables dataplane. */
export function createHostPolicyExtension(): FilterExtension {
  return {
    write(filter: TableSection, model: ClusterModel, node: Pick<NodeState, 'name'>) {
      writeHostPolicyChains(filter, compileHostPolicy(hostPolicyInputsFromModel(model)).endpoints, node.name);
    },
    owns: isHostPolicyChain,
  };
}

/** The drop counter of one endpoint and stage on one node. */
export interface HostPolicyDropCounter {
  endpoint: string;
  stage: HostStage;
  packets: number;
  bytes: number;
}

const COUNTED_RULE = /^\[(\d+):(\d+)\] -A (\S+) (.*)$/;

/** The drop counters in `iptables-save -c` output (filter table), summed per endpoint and stage. */
export function parseHostPolicyDrops(saved: string): HostPolicyDropCounter[] {
  const sums = new Map<string, HostPolicyDropCounter>();
  for (const line of saved.split('\n')) {
    const m = COUNTED_RULE.exec(line);
    if (!m || !m[3]!.startsWith(HEP_CHAIN_PREFIX)) continue;
    const words = splitRuleWords(m[4]!);
    const comment = words[words.indexOf('--comment') + 1];
    if (!words.includes('DROP') || !comment?.startsWith(HOST_DROP_COMMENT_PREFIX)) continue;
    const [endpoint, stage] = comment.slice(HOST_DROP_COMMENT_PREFIX.length).trim().split(' ');
    if (!endpoint || !HOST_STAGES.includes(stage as HostStage)) continue;
    const key = `${endpoint} ${stage}`;
    const sum = sums.get(key) ?? { endpoint, stage: stage as HostStage, packets: 0, bytes: 0 };
    sum.packets += Number(m[1]);
    sum.bytes += Number(m[2]);
    sums.set(key, sum);
  }
  return [...sums.values()];
}

/** The host endpoint drop counters of a node, read in the node's place. */
export async function readHostPolicyDrops(place: Place): Promise<HostPolicyDropCounter[]> {
  const r = await place.exec(['iptables-save', '-c', '-t', 'filter'], { timeoutMs: 30_000 });
  return parseHostPolicyDrops(r.stdout);
}
