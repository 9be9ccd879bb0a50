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

/** Builds an Ethernet II / IPv4 / TCP-or-UDP frame with correct checksums. */
export function buildPacket(spec: PacketSpec): Uint8Array {
  const payload =
    typeof spec.payload === 'string'
      ? new TextEncoder().encode(spec.payload)
      : (spec.payload ?? new Uint8Array());
  const l4HeaderLen = spec.proto === 'TCP' ? 20 : 8;
  const l4Len = l4HeaderLen + payload.length;
  const frame = new Uint8Array(ETH_LEN + IP_LEN + l4Len);
  const d = new DataView(frame.buffer);
  frame.set(macBytes(spec.dstMac ?? '02:00:00:00:00:02'), 0);
  frame.set(macBytes(spec.srcMac ?? '02:00:00:00:00:01'), 6);
  d.setUint16(12, 0x0800, false);

  const src = ipv4Bytes(spec.src);
  const dst = ipv4Bytes(spec.dst);
  const protoNumber = IPPROTO[spec.proto];
  const ip = ETH_LEN;
  d.setUint8(ip, 0x45);
  d.setUint16(ip + 2, IP_LEN + l4Len, false);
  d.setUint16(ip + 4, spec.ipId ?? 1, false);
  d.setUint16(ip + 6, 0x4000, false); // DF
  d.setUint8(ip + 8, spec.ttl ?? 64);
  d.setUint8(ip + 9, protoNumber);
  frame.set(src, ip + 12);
  frame.set(dst, ip + 16);
  d.setUint16(ip + 10, internetChecksum(frame.subarray(ip, ip + IP_LEN)), false);

  const l4 = ip + IP_LEN;
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
  };
  if (proto) parsed.proto = proto;
  if (proto === undefined) return parsed;
  parsed.sport = d.getUint16(l4, false);
  parsed.dport = d.getUint16(l4 + 2, false);
  const csumOff = proto === 'TCP' ? 16 : 6;
  parsed.l4Checksum = d.getUint16(l4 + csumOff, false);
  const headerLen = proto === 'TCP' ? (d.getUint8(l4 + 12) >> 4) * 4 : 8;
  if (proto === 'TCP') parsed.tcpFlags = d.getUint8(l4 + 13);
  parsed.payload = frame.slice(l4 + headerLen, ip + totalLen);
  const sum = onesComplementSum(l4Bytes, pseudoHeaderSum(src, dst, protoNumber, l4Bytes.length));
  parsed.l4ChecksumOk = (proto === 'UDP' && parsed.l4Checksum === 0) || sum === 0xffff;
  return parsed;
}
