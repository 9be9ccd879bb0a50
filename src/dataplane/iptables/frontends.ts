/**
 * Service frontends read back from a node's rules (not from the model), so a suite can prove
 * that what the kernel holds matches what the Services ask for and that nothing stale is left.
 */
import type { Protocol } from '../../k8s/model.ts';
import type { Frontend } from '../types.ts';
import { KUBE_EXTERNAL_SERVICES, KUBE_NODEPORTS, KUBE_SERVICES } from './kube-chains.ts';
import { type SavedRule, type SavedTable, splitRuleWords } from './save-parse.ts';

/** Targets that make a KUBE-SERVICES rule a service frontend (not the final NodePort jump). */
const SERVICE_TARGETS = ['KUBE-SVC-', 'KUBE-SVL-', 'KUBE-EXT-', 'KUBE-FW-'];

interface RuleMatch {
  dest?: string;
  protocol?: Protocol;
  dport?: number;
  dstLocal: boolean;
}

function matchOf(rule: SavedRule): RuleMatch {
  const words = splitRuleWords(rule.spec);
  const m: RuleMatch = { dstLocal: false };
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    const next = words[i + 1];
    // A negated match is not a frontend; `!` precedes the option in iptables-save output.
    if (words[i - 1] === '!') continue;
    if ((w === '-d' || w === '--destination') && next) m.dest = next.replace(/\/32$/, '');
    else if ((w === '-p' || w === '--protocol') && next) {
      const p = next.toLowerCase();
      if (p === 'tcp') m.protocol = 'TCP';
      else if (p === 'udp') m.protocol = 'UDP';
    } else if (w === '--dport' && next) m.dport = Number(next);
    else if (w === '--dst-type' && next === 'LOCAL') m.dstLocal = true;
  }
  return m;
}

/**
 * Frontends in one node's nat and filter tables: cluster IPs, externalIPs and VIPs captured in
 * KUBE-SERVICES, NodePorts in KUBE-NODEPORTS, and the refusals of Services without endpoints
 * (a refusing frontend is still a programmed frontend).
 */
export function frontendsFromTables(node: string, nat?: SavedTable, filter?: SavedTable): Frontend[] {
  const seen = new Map<string, Frontend>();
  const add = (f: Frontend): void => {
    const key = `${f.kind}|${f.ip ?? ''}|${f.port}|${f.protocol}`;
    if (!seen.has(key)) seen.set(key, f);
  };
  const ipFrontend = (m: RuleMatch): void => {
    if (m.dest && m.protocol && m.dport)
      add({ node, kind: 'ip', ip: m.dest, port: m.dport, protocol: m.protocol });
  };
  const nodePort = (m: RuleMatch): void => {
    if (m.protocol && m.dport) add({ node, kind: 'nodeport', port: m.dport, protocol: m.protocol });
  };
  for (const rule of nat?.rules ?? []) {
    if (rule.chain === KUBE_SERVICES && SERVICE_TARGETS.some((p) => rule.target?.startsWith(p))) {
      ipFrontend(matchOf(rule));
    } else if (rule.chain === KUBE_NODEPORTS && rule.target?.startsWith('KUBE-')) {
      nodePort(matchOf(rule));
    }
  }
  for (const rule of filter?.rules ?? []) {
    if (rule.target !== 'REJECT' && rule.target !== 'DROP') continue;
    if (rule.chain !== KUBE_SERVICES && rule.chain !== KUBE_EXTERNAL_SERVICES) continue;
    const m = matchOf(rule);
    if (m.dstLocal) nodePort(m);
    else ipFrontend(m);
  }
  return [...seen.values()];
}
