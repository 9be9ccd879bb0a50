/**
 * The decoded packet every capture returns: the fields a suite asserts on and a person reads in a
 * failure message, named as tcpdump names them.
 */
import type { PacketTime } from './pcap.ts';

/** The top protocol a packet was decoded to. `ip`/`ip6` are IP packets of another protocol or later fragments. */
export type PacketProto = 'tcp' | 'udp' | 'icmp' | 'icmp6' | 'arp' | 'ip' | 'ip6' | 'other';

/** Which way a packet went, from a Linux cooked (`-i any`) capture. */
export type PacketDirection = 'in' | 'out' | 'broadcast' | 'multicast' | 'otherhost';

/** The IP header fields worth reading in a conformance failure. */
export interface IpHeader {
  version: 4 | 6;
  /** IP protocol number (IPv6: the upper-layer next header after the extension headers). */
  protocol: number;
  ttl: number;
  /** IPv4 identification (0 for IPv6). */
  id: number;
  /** IPv4 TOS byte / IPv6 traffic class. */
  tos: number;
  /** Length of the IP packet as the header states it. */
  totalLength: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment offset in bytes. */
  fragmentOffset: number;
}

/** The packet an ICMP error quotes: the original IP header and the first 8 bytes after it. */
export interface IcmpQuote {
  src: string;
  dst: string;
  proto: PacketProto;
  protocol: number;
  sport?: number;
  dport?: number;
  /** TCP only: the quoted sequence number. */
  seq?: number;
}

/** ICMP / ICMPv6 fields. */
export interface IcmpInfo {
  type: number;
  code: number;
  /** Echo request/reply identifier and sequence number. */
  id?: number;
  seq?: number;
  /** "Fragmentation needed" / "packet too big": the next-hop MTU. */
  mtu?: number;
  /** Errors only: the packet that caused the error. */
  original?: IcmpQuote;
  /** ICMPv6 neighbour discovery: the target address. */
  target?: string;
}

/** ARP fields. */
export interface ArpInfo {
  /** 1 request, 2 reply. */
  op: number;
  senderMac: string;
  senderIp: string;
  targetMac: string;
  targetIp: string;
}

/** VXLAN header and the frame it carries. */
export interface VxlanInfo {
  vni: number;
  /** The 8-bit flags field (0x08 when the VNI is valid). */
  flags: number;
  inner: Packet;
}

/** One decoded packet. */
export interface Packet {
  /** Position of the frame in its capture, from 0. */
  index: number;
  time: PacketTime;
  /** The interface the capture ran on (for `-i any`, the interface the packet was seen on, when known). */
  iface?: string;
  /** The capture's label: which node or client this is. */
  label?: string;
  /** Linux cooked captures only. */
  direction?: PacketDirection;
  /** Linux cooked v2 captures only: the interface index. */
  ifindex?: number;
  /** Ethernet header, when the frame had one. */
  ether?: { src: string; dst: string; type: number; vlans?: number[] };
  /** Link-layer protocol (EtherType) of the frame. */
  etherType: number;
  /** Network source: IPv4/IPv6 address; ARP: sender IP; '' when there is none. */
  src: string;
  /** Network destination: IPv4/IPv6 address; ARP: target IP; '' when there is none. */
  dst: string;
  proto: PacketProto;
  ip?: IpHeader;
  sport?: number;
  dport?: number;
  /** TCP flags as tcpdump letters in tcpdump's order (F S R P . U E W), e.g. `S`, `S.`, `FP.`; `none` for none. */
  flags?: string;
  seq?: number;
  ack?: number;
  win?: number;
  /**
   * The length tcpdump prints at the end of its line: TCP/UDP payload bytes, ICMP message
   * bytes, ARP packet bytes, IP payload bytes otherwise.
   */
  length: number;
  /** Length of the frame on the wire. */
  frameLength: number;
  vxlan?: VxlanInfo;
  icmp?: IcmpInfo;
  arp?: ArpInfo;
  /** The capture ended before the headers did (snap length): later fields may be missing. */
  truncated?: boolean;
  /** A header that cannot be right (bad lengths, bad version), with why. */
  malformed?: string;
}
