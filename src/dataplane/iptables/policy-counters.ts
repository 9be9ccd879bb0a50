/**
 * Reading the "dropped by policy" counters of the iptables dataplane: the packet and byte
 * counters of each pod's drop rule, found by its comment in `iptables-save -c`.
 */
import type { Place } from '../../node/place.ts';
import type { Direction } from '../../policy/types.ts';
import { DROP_COMMENT_PREFIX, isPolicyChain } from './policy.ts';
import { splitRuleWords } from './save-parse.ts';

/** The drop counter of one pod and direction on one node. */
export interface PolicyDropCounter {
  /** `namespace/name` of the pod. */
  pod: string;
  direction: Direction;
  chain: string;
  packets: number;
  bytes: number;
}

const COUNTED_RULE = /^\[(\d+):(\d+)\] -A (\S+) (.*)$/;

/** The drop counters in `iptables-save -c` output (filter table), in the order they appear. */
export function parsePolicyDrops(saved: string): PolicyDropCounter[] {
  const out: PolicyDropCounter[] = [];
  for (const line of saved.split('\n')) {
    const m = COUNTED_RULE.exec(line);
    if (!m || !isPolicyChain(m[3]!)) continue;
    const words = splitRuleWords(m[4]!);
    const comment = words[words.indexOf('--comment') + 1];
    if (!words.includes('DROP') || !comment?.startsWith(DROP_COMMENT_PREFIX)) continue;
    const [pod, direction] = comment.slice(DROP_COMMENT_PREFIX.length).trim().split(' ');
    if (!pod || (direction !== 'ingress' && direction !== 'egress')) continue;
    out.push({ pod, direction, chain: m[3]!, packets: Number(m[1]), bytes: Number(m[2]) });
  }
  return out;
}

/** The drop counters of every isolated pod on a node, read in the node's place. */
export async function readPolicyDrops(place: Place): Promise<PolicyDropCounter[]> {
  const r = await place.exec(['iptables-save', '-c', '-t', 'filter'], { timeoutMs: 30_000 });
  return parsePolicyDrops(r.stdout);
}
