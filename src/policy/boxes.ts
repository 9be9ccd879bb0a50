/**
 * Traffic sets as unions of boxes (peer CIDR x protocol x destination port range), with the
 * subtraction that turns an ordered rule list with Allow, Deny and Pass into the allow list
 * the dataplanes enforce for pods: what a rule admits is what it matches minus what earlier
 * rules already decided. Pure.
 */

import type { PortRange } from '../k8s/calico-model.ts';
import { type Cidr4, cidrCovers, formatCidr4, parseCidr4 } from '../k8s/ip.ts';
import { subtractCidrs } from './cidr.ts';

/** TCP, UDP, or every other protocol (whose packets have no ports to match). */
export type BoxProtocol = 'TCP' | 'UDP' | 'OTHER';

/** Every address, protocol and port one box holds. */
export interface Box {
  peer: Cidr4;
  protocol: BoxProtocol;
  lo: number;
  hi: number;
  /** The rule the box came from, for comments and messages. */
  origin?: string;
}

/** The whole port space; OTHER boxes always carry it. */
export const ALL_PORTS: PortRange = { lo: 0, hi: 65535 };

/** A CIDR as a box's peer. */
export function cidrOf(text: string): Cidr4 {
  const c = parseCidr4(text);
  if (!c) throw new Error(`not an IPv4 CIDR: ${text}`);
  return { network: c.network, prefix: c.prefix };
}

/** Every combination of the given peers, protocols and port ranges. */
export function boxesOf(
  peers: readonly string[],
  protocols: readonly BoxProtocol[],
  ports: readonly PortRange[],
): Box[] {
  const out: Box[] = [];
  for (const p of peers) {
    const peer = cidrOf(p);
    for (const protocol of protocols) {
      for (const r of protocol === 'OTHER' ? [ALL_PORTS] : ports)
        out.push({ peer, protocol, lo: r.lo, hi: r.hi });
    }
  }
  return out;
}

/** Port ranges of `ranges` minus `holes`, in order. */
export function subtractRanges(ranges: readonly PortRange[], holes: readonly PortRange[]): PortRange[] {
  let out = ranges.map((r) => ({ ...r }));
  for (const h of holes) {
    const next: PortRange[] = [];
    for (const r of out) {
      if (h.hi < r.lo || h.lo > r.hi) {
        next.push(r);
        continue;
      }
      if (r.lo < h.lo) next.push({ lo: r.lo, hi: h.lo - 1 });
      if (r.hi > h.hi) next.push({ lo: h.hi + 1, hi: r.hi });
    }
    out = next;
  }
  return out;
}

function intersects(a: Box, b: Box): boolean {
  return (
    a.protocol === b.protocol &&
    a.lo <= b.hi &&
    b.lo <= a.hi &&
    (cidrCovers(a.peer, b.peer) || cidrCovers(b.peer, a.peer))
  );
}

/** `a` minus `b`, as disjoint boxes. */
function minus(a: Box, b: Box): Box[] {
  if (!intersects(a, b)) return [a];
  const out: Box[] = [];
  let shared = a.peer;
  if (!cidrCovers(b.peer, a.peer)) {
    // b's peer is strictly inside a's: the rest of a's addresses keep every port.
    for (const rest of subtractCidrs(formatCidr4(a.peer), [formatCidr4(b.peer)]))
      out.push({ ...a, peer: cidrOf(rest) });
    shared = b.peer;
  }
  for (const r of subtractRanges([{ lo: a.lo, hi: a.hi }], [{ lo: b.lo, hi: b.hi }]))
    out.push({ ...a, peer: shared, lo: r.lo, hi: r.hi });
  return out;
}

/** Every box of `from` minus every box of `holes`. */
export function subtractBoxes(from: readonly Box[], holes: readonly Box[]): Box[] {
  let out = [...from];
  for (const h of holes) out = out.flatMap((b) => minus(b, h));
  return out;
}

/** One ordered rule as boxes: what it matches and whether matching admits. */
export interface OrderedBoxes {
  admits: boolean;
  boxes: Box[];
}

/**
 * First-match evaluation folded into an allow set: each rule admits (or refuses) what it
 * matches that no earlier rule matched; what no rule matches is refused.
 */
export function admittedBoxes(rules: readonly OrderedBoxes[]): Box[] {
  const decided: Box[] = [];
  const admitted: Box[] = [];
  for (const rule of rules) {
    const fresh = subtractBoxes(rule.boxes, decided);
    if (rule.admits) admitted.push(...fresh);
    decided.push(...fresh);
  }
  return admitted;
}
