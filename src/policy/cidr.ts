/**
 * CIDR set arithmetic for ipBlock `except`: a block minus its holes as a list of disjoint CIDRs,
 * for dataplanes that can only match "in this CIDR" (iptables `-s`/`-d`). Pure.
 */
import { type Cidr4, cidrCovers, formatCidr4, parseCidr4 } from '../k8s/ip.ts';

function mustParse(text: string): Cidr4 {
  const c = parseCidr4(text);
  if (!c) throw new Error(`not an IPv4 CIDR: ${text}`);
  return { network: c.network, prefix: c.prefix };
}

function overlaps(a: Cidr4, b: Cidr4): boolean {
  return cidrCovers(a, b) || cidrCovers(b, a);
}

function subtract(block: Cidr4, holes: readonly Cidr4[]): Cidr4[] {
  const inside = holes.filter((h) => overlaps(block, h));
  if (inside.length === 0) return [block];
  if (inside.some((h) => cidrCovers(h, block))) return [];
  // Some hole is strictly smaller: split in halves and carve each one.
  const prefix = block.prefix + 1;
  const upper = (block.network + 2 ** (32 - prefix)) >>> 0;
  return [
    ...subtract({ network: block.network, prefix }, inside),
    ...subtract({ network: upper, prefix }, inside),
  ];
}

/** `cidr` minus every `except`, as the smallest list of disjoint CIDRs, in address order. */
export function subtractCidrs(cidr: string, except: readonly string[]): string[] {
  return subtract(mustParse(cidr), except.map(mustParse)).map(formatCidr4);
}
