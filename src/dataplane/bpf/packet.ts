/**
 * Ethernet/IPv4/TCP/UDP frames built and read in plain TypeScript, with real checksums: the
 * input and the evidence of BPF_PROG_TEST_RUN checks.
 */
import type { Protocol } from '../../k8s/model.ts';
import { IPPROTO, ipv4Bytes, ipv4String } from './encoding.ts';

/** TCP flag bits. */
export const TCP_FLAG = { fin: 0x01, syn: 0x02, rst: 0x04, psh: 0x08, ack: 0x10 } as const;

/** What goes into a frame; unset fields get harmless defaults. */
export interface PacketSpec {
  srcMac?: string;
  dstMac?: string;
  src: string;
  dst: string;
  proto: Protocol;
  sport: number;
  dport: number;
  ttl?: number;
  ipId?: number;
  /** TCP only. */
  tcpFlags?: number;
  seq?: number;
  ack?: number;
  payload?: Uint8Array | string;
  /** UDP only: send with checksum 0 ("no checksum"). */
  udpZeroChecksum?: boolean;
  /** Don't Fragment (default true, as Linux sends TCP and path-MTU-probing UDP). */
  df?: boolean;
  /** IP options, padded to a multiple of 4 bytes with end-of-options. */
  ipOptions?: readonly number[];
}

/** What an ICMP error says and the packet it quotes. */
export interface ParsedIcmp {
  type: number;
  code: number;
  /** "Fragmentation needed": the next-hop MTU. */
  mtu: number;
  checksumOk: boolean;
  /** The quoted packet: its addresses, ports (first 8 bytes after its header) and header checksum. */
  quote?: {
    src: string;
    dst: string;
    protoNumber: number;
    sport: number;
    dport: number;
    ipChecksumOk: boolean;
  };
}

/** A frame read back. */
export interface ParsedPacket {
  srcMac: string;
  dstMac: string;
  etherType: number;
  src: string;
  dst: string;
  ttl: number;
  protoNumber: number;
  proto?: Protocol;
  sport: number;
  dport: number;
  /** The L4 checksum field as it is in the frame. */
  l4Checksum: number;
  ipChecksumOk: boolean;
  /** True when the L4 checksum verifies (a UDP checksum of 0 counts as valid). */
  l4ChecksumOk: boolean;
  tcpFlags?: number;
  payload: Uint8Array;
  /** IP header length in bytes (more than 20 with options). */
  ihl: number;
  df: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes. */
  fragOffset: number;
  /** Total length the IP header states. */
  ipLength: number;
  icmp?: ParsedIcmp;
}

const ETH_LEN = 14;
const IP_LEN = 20;

function macBytes(mac: string): Uint8Array {
  const parts = mac.split(':');
  if (parts.length !== 6) throw new Error(`bad MAC ${mac}`);
  return Uint8Array.from(parts, (p) => Number.parseInt(p, 16));
}

function macString(b: Uint8Array, off: number): string {
  return Array.from(b.subarray(off, off + 6), (x) => x.toString(16).padStart(2, '0')).join(':');
}

/** RFC 1071 one's-complement sum of `bytes` (plus an initial partial sum), folded, not inverted. */
export function onesComplementSum(bytes: Uint8Array, initial = 0): number {
  let sum = initial;
  for (let i = 0; i + 1 < bytes.length; i += 2) sum += ((bytes[i] ?? 0) << 8) | (bytes[i + 1] ?? 0);
  if (bytes.length % 2 === 1) sum += (bytes[bytes.length - 1] ?? 0) << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum;
}

/** The Internet checksum of `bytes` (the value to store in a checksum field). */
export function internetChecksum(bytes: Uint8Array, initial = 0): number {
  return ~onesComplementSum(bytes, initial) & 0xffff;
}

function pseudoHeaderSum(src: Uint8Array, dst: Uint8Array, protoNumber: number, l4Len: number): number {
  const ph = new Uint8Array(12);
  ph.set(src, 0);
  ph.set(dst, 4);
  ph[9] = protoNumber;
  ph[10] = l4Len >> 8;
  ph[11] = l4Len & 0xff;
  return onesComplementSum(ph);
}

function ipHeaderLen(options: readonly number[] | undefined): number {
  return IP_LEN + Math.ceil((options?.length ?? 0) / 4) * 4;
}

/** Writes Ethernet and IPv4 headers (checksum included) for `length` bytes after them; returns the IP header length. */
function writeIpHeader(
  frame: Uint8Array,
  h: Pick<PacketSpec, 'srcMac' | 'dstMac' | 'src' | 'dst' | 'ttl' | 'ipId' | 'df' | 'ipOptions'> & {
    protoNumber: number;
    length: number;
  },
): number {
  const d = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  frame.set(macBytes(h.dstMac ?? '02:00:00:00:00:02'), 0);
  frame.set(macBytes(h.srcMac ?? '02:00:00:00:00:01'), 6);
  d.setUint16(12, 0x0800, false);
  const ip = ETH_LEN;
  const hl = ipHeaderLen(h.ipOptions);
  d.setUint8(ip, 0x40 | (hl / 4));
  d.setUint16(ip + 2, hl + h.length, false);
  d.setUint16(ip + 4, h.ipId ?? 1, false);
  d.setUint16(ip + 6, h.df === false ? 0 : 0x4000, false);
  d.setUint8(ip + 8, h.ttl ?? 64);
  d.setUint8(ip + 9, h.protoNumber);
  frame.set(ipv4Bytes(h.src), ip + 12);
  frame.set(ipv4Bytes(h.dst), ip + 16);
  frame.set(Uint8Array.from(h.ipOptions ?? []), ip + IP_LEN);
  d.setUint16(ip + 10, internetChecksum(frame.subarray(ip, ip + hl)), false);
  return hl;
}

/** Builds an Ethernet II / IPv4 / TCP-or-UDP frame with correct checksums. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const payload =
    typeof spec.payload === 'string'
      ? new TextEncoder().encode(spec.payload)
      : (spec.payload ?? new Uint8Array());
  const l4HeaderLen = spec.proto === 'TCP' ? 20 : 8;
  const l4Len = l4HeaderLen + payload.length;
  const frame = new Uint8Array(ETH_LEN + ipHeaderLen(spec.ipOptions) + l4Len);
  const d = new DataView(frame.buffer);
  const src = ipv4Bytes(spec.src);
  const dst = ipv4Bytes(spec.dst);
  const protoNumber = IPPROTO[spec.proto];
  const ip = ETH_LEN;
  const ipLen = writeIpHeader(frame, { ...spec, protoNumber, length: l4Len });

  const l4 = ip + ipLen;
  d.setUint16(l4, spec.sport, false);
  d.setUint16(l4 + 2, spec.dport, false);
  if (spec.proto === 'TCP') {
    d.setUint32(l4 + 4, spec.seq ?? 1000, false);
    d.setUint32(l4 + 8, spec.ack ?? 0, false);
    d.setUint8(l4 + 12, 5 << 4);
    d.setUint8(l4 + 13, spec.tcpFlags ?? TCP_FLAG.syn);
    d.setUint16(l4 + 14, 65535, false);
  } else {
    d.setUint16(l4 + 4, l4Len, false);
  }
  frame.set(payload, l4 + l4HeaderLen);
  const csumOff = spec.proto === 'TCP' ? l4 + 16 : l4 + 6;
  if (!(spec.proto === 'UDP' && spec.udpZeroChecksum)) {
    let c = internetChecksum(frame.subarray(l4), pseudoHeaderSum(src, dst, protoNumber, l4Len));
    // In UDP a computed 0 is sent as 0xffff; 0 means "no checksum".
    if (spec.proto === 'UDP' && c === 0) c = 0xffff;
    d.setUint16(csumOff, c, false);
  }
  return frame;
}

/** Reads a frame built by {@link buildPacket} or rewritten by a program; throws on non-IPv4. */
export function parsePacket(frame: Uint8Array): ParsedPacket {
  if (frame.length < ETH_LEN + IP_LEN) throw new Error(`frame too short: ${frame.length} bytes`);
  const d = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const etherType = d.getUint16(12, false);
  if (etherType !== 0x0800) throw new Error(`not IPv4: ethertype 0x${etherType.toString(16)}`);
  const ip = ETH_LEN;
  const ihl = (d.getUint8(ip) & 0x0f) * 4;
  const totalLen = d.getUint16(ip + 2, false);
  const protoNumber = d.getUint8(ip + 9);
  const frag = d.getUint16(ip + 6, false);
  const src = frame.subarray(ip + 12, ip + 16);
  const dst = frame.subarray(ip + 16, ip + 20);
  const ipChecksumOk = onesComplementSum(frame.subarray(ip, ip + ihl)) === 0xffff;
  const l4 = ip + ihl;
  const l4Bytes = frame.subarray(l4, ip + totalLen);
  const proto: Protocol | undefined = protoNumber === 6 ? 'TCP' : protoNumber === 17 ? 'UDP' : undefined;
  const parsed: ParsedPacket = {
    dstMac: macString(frame, 0),
    srcMac: macString(frame, 6),
    etherType,
    src: ipv4String(src),
    dst: ipv4String(dst),
    ttl: d.getUint8(ip + 8),
    protoNumber,
    sport: 0,
    dport: 0,
    l4Checksum: 0,
    ipChecksumOk,
    l4ChecksumOk: false,
    payload: new Uint8Array(),
    ihl,
    df: (frag & 0x4000) !== 0,
    moreFragments: (frag & 0x2000) !== 0,
    fragOffset: (frag & 0x1fff) * 8,
    ipLength: totalLen,
  };
  if (proto) parsed.proto = proto;
  if (protoNumber === 1) parsed.icmp = parseIcmp(frame, l4, ip + totalLen);
  // A later fragment carries no L4 header: its bytes are payload.
  if (parsed.fragOffset > 0) {
    parsed.payload = frame.slice(l4, ip + totalLen);
    return parsed;
  }
  if (proto === undefined) return parsed;
  parsed.sport = d.getUint16(l4, false);
  parsed.dport = d.getUint16(l4 + 2, false);
  const csumOff = proto === 'TCP' ? 16 : 6;
  parsed.l4Checksum = d.getUint16(l4 + csumOff, false);
  const headerLen = proto === 'TCP' ? (d.getUint8(l4 + 12) >> 4) * 4 : 8;
  if (proto === 'TCP') parsed.tcpFlags = d.getUint8(l4 + 13);
  parsed.payload = frame.slice(l4 + headerLen, ip + totalLen);
  if (!parsed.moreFragments) {
    const sum = onesComplementSum(l4Bytes, pseudoHeaderSum(src, dst, protoNumber, l4Bytes.length));
    parsed.l4ChecksumOk = (proto === 'UDP' && parsed.l4Checksum === 0) || sum === 0xffff;
  }
  return parsed;
}

function parseIcmp(frame: Uint8Array, at: number, end: number): ParsedIcmp {
  const d = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const out: ParsedIcmp = {
    type: d.getUint8(at),
    code: d.getUint8(at + 1),
    mtu: d.getUint16(at + 6, false),
    checksumOk: onesComplementSum(frame.subarray(at, end)) === 0xffff,
  };
  const q = at + 8;
  if ([3, 11, 12].includes(out.type) && end - q >= IP_LEN + 8) {
    const qihl = (d.getUint8(q) & 0x0f) * 4;
    out.quote = {
      src: ipv4String(frame, q + 12),
      dst: ipv4String(frame, q + 16),
      protoNumber: d.getUint8(q + 9),
      sport: d.getUint16(q + qihl, false),
      dport: d.getUint16(q + qihl + 2, false),
      ipChecksumOk: onesComplementSum(frame.subarray(q, q + qihl)) === 0xffff,
    };
  }
  return out;
}

/**
 * Splits a frame into IP fragments of at most `mtu` bytes of IP packet each, as a sender
 * without DF does: the first keeps the L4 header, every one gets its own header and checksum.
 */
export function fragmentPacket(frame: Uint8Array, mtu: number): Uint8Array[] {
  const d = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
  const ihl = (d.getUint8(ETH_LEN) & 0x0f) * 4;
  const total = d.getUint16(ETH_LEN + 2, false);
  const data = frame.subarray(ETH_LEN + ihl, ETH_LEN + total);
  const step = Math.floor((mtu - ihl) / 8) * 8;
  if (step <= 0) throw new Error(`mtu ${mtu} leaves no room after a ${ihl}-byte header`);
  const out: Uint8Array[] = [];
  for (let off = 0; off < data.length; off += step) {
    const chunk = data.subarray(off, Math.min(off + step, data.length));
    const f = new Uint8Array(ETH_LEN + ihl + chunk.length);
    f.set(frame.subarray(0, ETH_LEN + ihl), 0);
    f.set(chunk, ETH_LEN + ihl);
    const fd = new DataView(f.buffer);
    const more = off + step < data.length;
    fd.setUint16(ETH_LEN + 2, ihl + chunk.length, false);
    fd.setUint16(ETH_LEN + 6, (more ? 0x2000 : 0) | (off / 8), false);
    fd.setUint16(ETH_LEN + 10, 0, false);
    fd.setUint16(ETH_LEN + 10, internetChecksum(f.subarray(ETH_LEN, ETH_LEN + ihl)), false);
    out.push(f);
  }
  return out;
}

/** What goes into an ICMP error frame. */
export interface IcmpErrorSpec {
  src: string;
  dst: string;
  type: number;
  code: number;
  /** "Fragmentation needed": the next-hop MTU. */
  mtu?: number;
  /** The frame whose IP header and first 8 bytes after it are quoted. */
  about: Uint8Array;
  ttl?: number;
}

/** Builds an ICMP error frame quoting another frame, checksums right. */
export function buildIcmpError(spec: IcmpErrorSpec): Uint8Array {
  const ad = new DataView(spec.about.buffer, spec.about.byteOffset, spec.about.byteLength);
  const qihl = (ad.getUint8(ETH_LEN) & 0x0f) * 4;
  const quote = spec.about.subarray(ETH_LEN, ETH_LEN + qihl + 8);
  const frame = new Uint8Array(ETH_LEN + IP_LEN + 8 + quote.length);
  writeIpHeader(frame, {
    src: spec.src,
    dst: spec.dst,
    ttl: spec.ttl ?? 64,
    protoNumber: 1,
    length: 8 + quote.length,
    df: false,
  });
  const d = new DataView(frame.buffer);
  const at = ETH_LEN + IP_LEN;
  d.setUint8(at, spec.type);
  d.setUint8(at + 1, spec.code);
  d.setUint16(at + 6, spec.mtu ?? 0, false);
  frame.set(quote, at + 8);
  d.setUint16(at + 2, internetChecksum(frame.subarray(at)), false);
  return frame;
}
