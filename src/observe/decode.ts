/**
 * Decodes captured frames: link layer (Ethernet, Linux cooked v1/v2, raw IP) -> IPv4/IPv6 ->
 * TCP, UDP (with VXLAN inside, decoded recursively), ICMP/ICMPv6 (with the quoted original
 * packet of errors), and ARP. Pure; never throws on a bad packet, it says what was wrong.
 */
import { LINKTYPE, type PcapRecord, readPcap } from './pcap.ts';
import type {
  ArpInfo,
  IcmpInfo,
  IcmpQuote,
  IpHeader,
  Packet,
  PacketDirection,
  PacketProto,
} from './types.ts';

/** The IANA port of VXLAN; Linux defaults to 8472 unless told `dstport 4789`. */
export const VXLAN_PORT = 4789;

/** How to decode a capture. */
export interface DecodeOptions {
  /** UDP destination ports carrying VXLAN (default: 4789). */
  vxlanPorts?: readonly number[];
  /** Put on every packet: the interface the capture ran on. */
  iface?: string;
  /** Put on every packet: which node or client the capture is from. */
  label?: string;
  /** For `-i any` captures: interface names by index, so packets name their interface. */
  ifnames?: ReadonlyMap<number, string>;
}

/** EtherTypes the decoder follows. */
export const ETHERTYPE = { IPV4: 0x0800, ARP: 0x0806, VLAN: 0x8100, QINQ: 0x88a8, IPV6: 0x86dd } as const;

/** IP protocol numbers the decoder follows. */
export const IPPROTO = { ICMP: 1, TCP: 6, UDP: 17, ICMPV6: 58 } as const;

const DIRECTIONS: Record<number, PacketDirection> = {
  0: 'in',
  1: 'broadcast',
  2: 'multicast',
  3: 'otherhost',
  4: 'out',
};

// tcpdump's order of flag letters (print-tcp.c), so that `S.` and `FP.` read as tcpdump prints them.
const TCP_FLAG_LETTERS: ReadonlyArray<readonly [number, string]> = [
  [0x01, 'F'],
  [0x02, 'S'],
  [0x04, 'R'],
  [0x08, 'P'],
  [0x10, '.'],
  [0x20, 'U'],
  [0x40, 'E'],
  [0x80, 'W'],
];

/** Turns the TCP flag bits into tcpdump's letters (`none` when no flag is set). */
export function tcpFlagLetters(bits: number): string {
  const letters = TCP_FLAG_LETTERS.filter(([bit]) => (bits & bit) !== 0)
    .map(([, l]) => l)
    .join('');
  return letters === '' ? 'none' : letters;
}

/** Reads a pcap file and decodes every frame in it. */
export function decodePcap(bytes: Uint8Array, opts: DecodeOptions = {}): Packet[] {
  const file = readPcap(bytes);
  return file.records.map((r) => decodeRecord(file.header.linkType, r, opts));
}

/** Decodes one frame of a capture of the given link type. */
export function decodeRecord(linkType: number, record: PcapRecord, opts: DecodeOptions = {}): Packet {
  const p = newPacket(record, opts);
  const d = record.data;
  switch (linkType) {
    case LINKTYPE.EN10MB:
      decodeEthernet(d, p, opts);
      break;
    case LINKTYPE.LINUX_SLL:
      decodeSll(d, p, opts);
      break;
    case LINKTYPE.LINUX_SLL2:
      decodeSll2(d, p, opts);
      break;
    case LINKTYPE.RAW:
      decodeRawIp(d, p, opts);
      break;
    default:
      p.malformed = `link type ${linkType} is not decoded`;
  }
  return p;
}

function newPacket(record: PcapRecord, opts: DecodeOptions): Packet {
  const p: Packet = {
    index: record.index,
    time: record.time,
    etherType: 0,
    src: '',
    dst: '',
    proto: 'other',
    length: record.originalLength,
    frameLength: record.originalLength,
  };
  if (opts.iface !== undefined) p.iface = opts.iface;
  if (opts.label !== undefined) p.label = opts.label;
  return p;
}

function view(d: Uint8Array): DataView {
  return new DataView(d.buffer, d.byteOffset, d.byteLength);
}

function decodeEthernet(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 14) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  let type = v.getUint16(12);
  let offset = 14;
  const vlans: number[] = [];
  while (type === ETHERTYPE.VLAN || type === ETHERTYPE.QINQ) {
    if (d.byteLength < offset + 4) {
      p.truncated = true;
      return;
    }
    vlans.push(v.getUint16(offset) & 0x0fff);
    type = v.getUint16(offset + 2);
    offset += 4;
  }
  p.ether = { dst: macString(d, 0), src: macString(d, 6), type };
  if (vlans.length > 0) p.ether.vlans = vlans;
  decodeEtherPayload(type, d.subarray(offset), p, opts);
}

function decodeSll(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 16) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  setDirection(p, v.getUint16(0));
  decodeEtherPayload(v.getUint16(14), d.subarray(16), p, opts);
}

function decodeSll2(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 20) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  const ifindex = v.getUint32(4);
  p.ifindex = ifindex;
  const name = opts.ifnames?.get(ifindex);
  if (name !== undefined) p.iface = name;
  setDirection(p, v.getUint8(10));
  decodeEtherPayload(v.getUint16(0), d.subarray(20), p, opts);
}

function setDirection(p: Packet, packetType: number): void {
  const dir = DIRECTIONS[packetType];
  if (dir !== undefined) p.direction = dir;
}

function decodeRawIp(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 1) {
    p.truncated = true;
    return;
  }
  const version = (d[0] ?? 0) >> 4;
  decodeEtherPayload(version === 6 ? ETHERTYPE.IPV6 : ETHERTYPE.IPV4, d, p, opts);
}

function decodeEtherPayload(type: number, d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  p.etherType = type;
  p.length = d.byteLength;
  if (type === ETHERTYPE.IPV4) decodeIpv4(d, p, opts);
  else if (type === ETHERTYPE.IPV6) decodeIpv6(d, p, opts);
  else if (type === ETHERTYPE.ARP) decodeArp(d, p);
}

function decodeIpv4(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 20) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  const version = (d[0] ?? 0) >> 4;
  const ihl = ((d[0] ?? 0) & 0x0f) * 4;
  if (version !== 4) {
    p.malformed = `IP version ${version} in an IPv4 frame`;
    return;
  }
  const totalLength = v.getUint16(2);
  const frag = v.getUint16(6);
  const protocol = v.getUint8(9);
  p.src = ipv4String(d, 12);
  p.dst = ipv4String(d, 16);
  p.proto = 'ip';
  p.ip = {
    version: 4,
    protocol,
    ttl: v.getUint8(8),
    id: v.getUint16(4),
    tos: v.getUint8(1),
    totalLength,
    dontFragment: (frag & 0x4000) !== 0,
    moreFragments: (frag & 0x2000) !== 0,
    fragmentOffset: (frag & 0x1fff) * 8,
  };
  if (ihl < 20 || totalLength < ihl) {
    p.malformed = `IPv4 header length ${ihl}, total length ${totalLength}`;
    p.length = 0;
    return;
  }
  p.length = totalLength - ihl;
  if (d.byteLength < ihl) {
    p.truncated = true;
    return;
  }
  // Only the first fragment carries the transport header.
  if (p.ip.fragmentOffset !== 0) return;
  // The frame may be padded past the IP packet (Ethernet minimum size); the IP length rules.
  const payload = d.subarray(ihl, Math.min(d.byteLength, totalLength));
  decodeTransport(protocol, payload, totalLength - ihl, p, opts);
}

// Extension headers that are skipped to find the upper-layer protocol.
const IPV6_EXT = new Set([0, 43, 60]);
const IPV6_FRAGMENT = 44;

function decodeIpv6(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  if (d.byteLength < 40) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  const payloadLength = v.getUint16(4);
  let next = v.getUint8(6);
  p.src = ipv6String(d, 8);
  p.dst = ipv6String(d, 24);
  p.proto = 'ip6';
  const ip: IpHeader = {
    version: 6,
    protocol: next,
    ttl: v.getUint8(7),
    id: 0,
    tos: (v.getUint16(0) >> 4) & 0xff,
    totalLength: payloadLength + 40,
    dontFragment: false,
    moreFragments: false,
    fragmentOffset: 0,
  };
  p.ip = ip;
  p.length = payloadLength;
  let offset = 40;
  const end = Math.min(d.byteLength, 40 + payloadLength);
  while (IPV6_EXT.has(next) || next === IPV6_FRAGMENT) {
    if (end < offset + 8) {
      p.truncated = true;
      return;
    }
    const headerNext = v.getUint8(offset);
    if (next === IPV6_FRAGMENT) {
      const frag = v.getUint16(offset + 2);
      ip.fragmentOffset = frag & 0xfff8;
      ip.moreFragments = (frag & 1) !== 0;
      ip.id = v.getUint32(offset + 4);
      offset += 8;
    } else {
      offset += (v.getUint8(offset + 1) + 1) * 8;
    }
    next = headerNext;
    ip.protocol = next;
    if (ip.fragmentOffset !== 0) return;
  }
  if (offset > end) {
    p.truncated = true;
    return;
  }
  decodeTransport(next, d.subarray(offset, end), 40 + payloadLength - offset, p, opts);
}

/**
 * `payload` is what was captured of the IP payload; `ipPayloadLength` is what the IP header
 * says it is, which is what lengths are computed from (tcpdump does the same).
 */
function decodeTransport(
  protocol: number,
  payload: Uint8Array,
  ipPayloadLength: number,
  p: Packet,
  opts: DecodeOptions,
): void {
  if (protocol === IPPROTO.TCP) decodeTcp(payload, ipPayloadLength, p);
  else if (protocol === IPPROTO.UDP) decodeUdp(payload, p, opts);
  else if (protocol === IPPROTO.ICMP) decodeIcmp(payload, ipPayloadLength, p, false);
  else if (protocol === IPPROTO.ICMPV6) decodeIcmp(payload, ipPayloadLength, p, true);
}

function decodeTcp(d: Uint8Array, ipPayloadLength: number, p: Packet): void {
  p.proto = 'tcp';
  if (d.byteLength < 4) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  p.sport = v.getUint16(0);
  p.dport = v.getUint16(2);
  if (d.byteLength < 20) {
    p.truncated = true;
    return;
  }
  p.seq = v.getUint32(4);
  p.ack = v.getUint32(8);
  const dataOffset = (v.getUint8(12) >> 4) * 4;
  p.flags = tcpFlagLetters(v.getUint8(13));
  p.win = v.getUint16(14);
  if (dataOffset < 20 || dataOffset > ipPayloadLength) {
    p.malformed = `TCP data offset ${dataOffset}`;
    p.length = 0;
    return;
  }
  p.length = ipPayloadLength - dataOffset;
}

function decodeUdp(d: Uint8Array, p: Packet, opts: DecodeOptions): void {
  p.proto = 'udp';
  if (d.byteLength < 4) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  p.sport = v.getUint16(0);
  p.dport = v.getUint16(2);
  if (d.byteLength < 8) {
    p.truncated = true;
    return;
  }
  const udpLength = v.getUint16(4);
  if (udpLength < 8) {
    p.malformed = `UDP length ${udpLength}`;
    p.length = 0;
    return;
  }
  p.length = udpLength - 8;
  const ports = opts.vxlanPorts ?? [VXLAN_PORT];
  if (ports.includes(p.dport) && d.byteLength >= 16)
    decodeVxlan(d.subarray(8, udpLength), udpLength - 8, p, opts);
}

function decodeVxlan(d: Uint8Array, vxlanLength: number, p: Packet, opts: DecodeOptions): void {
  const v = view(d);
  const inner: Packet = {
    index: p.index,
    time: p.time,
    etherType: 0,
    src: '',
    dst: '',
    proto: 'other',
    length: 0,
    frameLength: vxlanLength - 8,
  };
  if (p.iface !== undefined) inner.iface = p.iface;
  if (p.label !== undefined) inner.label = p.label;
  p.vxlan = { vni: v.getUint32(4) >>> 8, flags: v.getUint8(0), inner };
  decodeEthernet(d.subarray(8), inner, opts);
  if (inner.truncated) p.truncated = true;
}

// ICMP error types whose body quotes the offending packet.
const ICMP4_ERRORS = new Set([3, 4, 5, 11, 12]);
const ICMP6_ERRORS = new Set([1, 2, 3, 4]);

function decodeIcmp(d: Uint8Array, ipPayloadLength: number, p: Packet, v6: boolean): void {
  p.proto = v6 ? 'icmp6' : 'icmp';
  p.length = ipPayloadLength;
  if (d.byteLength < 4) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  const icmp: IcmpInfo = { type: v.getUint8(0), code: v.getUint8(1) };
  p.icmp = icmp;
  if (d.byteLength < 8) {
    p.truncated = true;
    return;
  }
  const echo = v6 ? icmp.type === 128 || icmp.type === 129 : icmp.type === 0 || icmp.type === 8;
  if (echo) {
    icmp.id = v.getUint16(4);
    icmp.seq = v.getUint16(6);
    return;
  }
  if (!v6 && icmp.type === 3 && icmp.code === 4) icmp.mtu = v.getUint16(6);
  if (v6 && icmp.type === 2) icmp.mtu = v.getUint32(4);
  if (v6 && (icmp.type === 135 || icmp.type === 136) && d.byteLength >= 24) icmp.target = ipv6String(d, 8);
  if ((v6 ? ICMP6_ERRORS : ICMP4_ERRORS).has(icmp.type)) {
    const quote = decodeQuote(d.subarray(8), v6);
    if (quote) icmp.original = quote;
    else p.truncated = true;
  }
}

// Reads the IP header (and the 8 bytes after it) that an ICMP error quotes.
function decodeQuote(d: Uint8Array, v6: boolean): IcmpQuote | undefined {
  let protocol: number;
  let offset: number;
  let src: string;
  let dst: string;
  if (v6) {
    if (d.byteLength < 40) return undefined;
    protocol = d[6] ?? 0;
    offset = 40;
    src = ipv6String(d, 8);
    dst = ipv6String(d, 24);
  } else {
    if (d.byteLength < 20) return undefined;
    protocol = d[9] ?? 0;
    offset = ((d[0] ?? 0) & 0x0f) * 4;
    src = ipv4String(d, 12);
    dst = ipv4String(d, 16);
  }
  const proto: PacketProto =
    protocol === IPPROTO.TCP
      ? 'tcp'
      : protocol === IPPROTO.UDP
        ? 'udp'
        : protocol === IPPROTO.ICMP
          ? 'icmp'
          : protocol === IPPROTO.ICMPV6
            ? 'icmp6'
            : v6
              ? 'ip6'
              : 'ip';
  const quote: IcmpQuote = { src, dst, proto, protocol };
  if ((proto === 'tcp' || proto === 'udp') && d.byteLength >= offset + 4) {
    const v = view(d);
    quote.sport = v.getUint16(offset);
    quote.dport = v.getUint16(offset + 2);
    if (proto === 'tcp' && d.byteLength >= offset + 8) quote.seq = v.getUint32(offset + 4);
  }
  return quote;
}

function decodeArp(d: Uint8Array, p: Packet): void {
  p.proto = 'arp';
  p.length = d.byteLength;
  if (d.byteLength < 8) {
    p.truncated = true;
    return;
  }
  const v = view(d);
  const hlen = v.getUint8(4);
  const plen = v.getUint8(5);
  // Only Ethernet/IPv4 ARP has addresses worth naming.
  if (hlen !== 6 || plen !== 4) return;
  if (d.byteLength < 28) {
    p.truncated = true;
    return;
  }
  p.length = 28;
  const arp: ArpInfo = {
    op: v.getUint16(6),
    senderMac: macString(d, 8),
    senderIp: ipv4String(d, 14),
    targetMac: macString(d, 18),
    targetIp: ipv4String(d, 24),
  };
  p.arp = arp;
  p.src = arp.senderIp;
  p.dst = arp.targetIp;
}

/** Formats 6 bytes at `offset` as a MAC address, `aa:bb:cc:dd:ee:ff`. */
export function macString(d: Uint8Array, offset: number): string {
  const parts: string[] = [];
  for (let i = 0; i < 6; i++) parts.push((d[offset + i] ?? 0).toString(16).padStart(2, '0'));
  return parts.join(':');
}

/** Formats 4 bytes at `offset` as a dotted IPv4 address. */
export function ipv4String(d: Uint8Array, offset: number): string {
  return `${d[offset] ?? 0}.${d[offset + 1] ?? 0}.${d[offset + 2] ?? 0}.${d[offset + 3] ?? 0}`;
}

/** Formats 16 bytes at `offset` as an IPv6 address, compressed as RFC 5952 says. */
export function ipv6String(d: Uint8Array, offset: number): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((d[offset + 2 * i] ?? 0) << 8) | (d[offset + 2 * i + 1] ?? 0));
  // The longest run of two or more zero groups becomes "::" (the first one on a tie).
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(':');
  if (bestStart < 0) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}
