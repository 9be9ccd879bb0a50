/**
 * IPv4 arithmetic for the control plane: addresses as unsigned 32-bit numbers, CIDRs as
 * (network, prefix). Pure; no dependency on the host's view of the network.
 */

/** An IPv4 CIDR with its network address (host bits cleared). */
export interface Cidr4 {
  /** Network address as an unsigned 32-bit number. */
  network: number;
  prefix: number;
}

const OCTET = /^(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])$/;

/** Parses a dotted-quad IPv4 address (no leading zeros), or undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
  const parts = text.split('.');
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!OCTET.test(part)) return undefined;
    value = value * 256 + Number(part);
  }
  return value;
}

/** True when the text is a dotted-quad IPv4 address. */
export function isIpv4(text: string): boolean {
  return parseIpv4(text) !== undefined;
}

/** Formats an unsigned 32-bit number as a dotted quad. */
export function formatIpv4(value: number): string {
  return [value >>> 24, (value >>> 16) & 255, (value >>> 8) & 255, value & 255].join('.');
}

/** The netmask of a prefix length as an unsigned 32-bit number. */
function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses `a.b.c.d/n`. Host bits are allowed (Go's ParseCIDR accepts them too) and cleared in the
 * result; `hostBitsSet` tells the caller so it can warn.
 */
export function parseCidr4(text: string): (Cidr4 & { hostBitsSet: boolean }) | undefined {
  const m = /^([^/]+)\/(0|[1-9][0-9]?)$/.exec(text);
  if (!m) return undefined;
  const ip = parseIpv4(m[1]!);
  const prefix = Number(m[2]);
  if (ip === undefined || prefix > 32) return undefined;
  const network = (ip & maskOf(prefix)) >>> 0;
  return { network, prefix, hostBitsSet: network !== ip };
}

/** Formats a CIDR as `a.b.c.d/n`. */
export function formatCidr4(cidr: Cidr4): string {
  return `${formatIpv4(cidr.network)}/${cidr.prefix}`;
}

/** True when the address lies inside the CIDR. */
export function cidrContains(cidr: Cidr4, ip: number): boolean {
  return (ip & maskOf(cidr.prefix)) >>> 0 === cidr.network;
}

/** True when `inner` lies entirely inside `outer`. */
export function cidrCovers(outer: Cidr4, inner: Cidr4): boolean {
  return inner.prefix >= outer.prefix && cidrContains(outer, inner.network);
}

/** The last address of the CIDR (its broadcast address). */
export function cidrLast(cidr: Cidr4): number {
  return (cidr.network | (~maskOf(cidr.prefix) >>> 0)) >>> 0;
}

/** Parses a CIDR that the caller knows to be valid (a constant); throws otherwise. */
export function mustCidr4(text: string): Cidr4 {
  const cidr = parseCidr4(text);
  if (!cidr || cidr.hostBitsSet) throw new Error(`not a network CIDR: ${text}`);
  return { network: cidr.network, prefix: cidr.prefix };
}

/** Parses an address that the caller knows to be valid (a constant); throws otherwise. */
export function mustIpv4(text: string): number {
  const ip = parseIpv4(text);
  if (ip === undefined) throw new Error(`not an IPv4 address: ${text}`);
  return ip;
}
