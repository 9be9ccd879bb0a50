/**
 * Which chains are kube-proxy's (and therefore ours to create, refill and remove) and the jump
 * rules that hook them into the built-in chains.
 */
import type { TableName } from './restore-text.ts';

/** Fixed-name chains of kube-proxy's iptables mode. */
export const KUBE_SERVICES = 'KUBE-SERVICES';
/** NodePort dispatch (nat) and health-check ports (filter). */
export const KUBE_NODEPORTS = 'KUBE-NODEPORTS';
/** Masquerades packets carrying the masquerade mark. */
export const KUBE_POSTROUTING = 'KUBE-POSTROUTING';
/** Sets the masquerade mark. */
export const KUBE_MARK_MASQ = 'KUBE-MARK-MASQ';
/** Rejects/drops NodePort, externalIP and LoadBalancer traffic that has nowhere to go. */
export const KUBE_EXTERNAL_SERVICES = 'KUBE-EXTERNAL-SERVICES';
/** Lets service traffic through FORWARD. */
export const KUBE_FORWARD = 'KUBE-FORWARD';
/** LoadBalancer source ranges (kept empty: the model has none). */
export const KUBE_PROXY_FIREWALL = 'KUBE-PROXY-FIREWALL';

/** The mark kube-proxy uses to ask KUBE-POSTROUTING for masquerade (bit 14). */
export const MASQ_MARK = '0x4000';

/** Chains kube-proxy names without a hash; KUBE-PROXY-CANARY is its flush detector. */
const FIXED = new Set([
  KUBE_SERVICES,
  KUBE_NODEPORTS,
  KUBE_POSTROUTING,
  KUBE_MARK_MASQ,
  KUBE_EXTERNAL_SERVICES,
  KUBE_FORWARD,
  KUBE_PROXY_FIREWALL,
  'KUBE-PROXY-CANARY',
]);

/** Per-service and per-endpoint prefixes; KUBE-XLB- is the pre-1.24 name of KUBE-SVL-. */
const PREFIXES = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-', 'KUBE-SEP-', 'KUBE-XLB-'];

/**
 * True for chains kube-proxy owns. Kubelet's KUBE-FIREWALL, KUBE-KUBELET-CANARY and
 * KUBE-MARK-DROP are not ours: a node that runs kubelet keeps them when kube-proxy goes.
 */
export function isKubeProxyChain(name: string): boolean {
  return FIXED.has(name) || PREFIXES.some((p) => name.startsWith(p));
}

/** One rule in a built-in chain that sends traffic into one of ours. */
export interface JumpRule {
  table: TableName;
  from: string;
  to: string;
  comment: string;
  /** Matches that come before the comment. */
  match: readonly string[];
}

const NEW_ONLY = ['-m', 'conntrack', '--ctstate', 'NEW'] as const;

/**
 * kube-proxy's jump rules, in the order it ensures them. Each is put first in its built-in chain,
 * so within a chain the last one listed here ends up on top.
 */
export const JUMP_RULES: readonly JumpRule[] = [
  {
    table: 'filter',
    from: 'INPUT',
    to: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    match: NEW_ONLY,
  },
  {
    table: 'filter',
    from: 'FORWARD',
    to: KUBE_EXTERNAL_SERVICES,
    comment: 'kubernetes externally-visible service portals',
    match: NEW_ONLY,
  },
  {
    table: 'filter',
    from: 'INPUT',
    to: KUBE_NODEPORTS,
    comment: 'kubernetes health check service ports',
    match: [],
  },
  {
    table: 'filter',
    from: 'FORWARD',
    to: KUBE_SERVICES,
    comment: 'kubernetes service portals',
    match: NEW_ONLY,
  },
  {
    table: 'filter',
    from: 'OUTPUT',
    to: KUBE_SERVICES,
    comment: 'kubernetes service portals',
    match: NEW_ONLY,
  },
  { table: 'filter', from: 'FORWARD', to: KUBE_FORWARD, comment: 'kubernetes forwarding rules', match: [] },
  {
    table: 'filter',
    from: 'INPUT',
    to: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW_ONLY,
  },
  {
    table: 'filter',
    from: 'OUTPUT',
    to: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW_ONLY,
  },
  {
    table: 'filter',
    from: 'FORWARD',
    to: KUBE_PROXY_FIREWALL,
    comment: 'kubernetes load balancer firewall',
    match: NEW_ONLY,
  },
  { table: 'nat', from: 'OUTPUT', to: KUBE_SERVICES, comment: 'kubernetes service portals', match: [] },
  { table: 'nat', from: 'PREROUTING', to: KUBE_SERVICES, comment: 'kubernetes service portals', match: [] },
  {
    table: 'nat',
    from: 'POSTROUTING',
    to: KUBE_POSTROUTING,
    comment: 'kubernetes postrouting rules',
    match: [],
  },
];

/** The words of a jump rule after `-I <chain> 1`. */
export function jumpWords(jump: JumpRule): string[] {
  return [...jump.match, '-m', 'comment', '--comment', jump.comment, '-j', jump.to];
}
