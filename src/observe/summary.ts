/**
 * One-line packet summaries that read like tcpdump's own lines, prefixed with the capture's
 * label and interface so lines from several captures can be read side by side.
 */
import type { PacketTime } from './pcap.ts';
import type { IcmpInfo, Packet, PacketDirection } from './types.ts';

/** How to print packets. */
export interface SummaryOptions {
  /** `utc` (default, the same in every report) or `local` (what tcpdump on the machine prints). */
  timeZone?: 'utc' | 'local';
  /** Print nine fractional digits instead of six. */
  nanoseconds?: boolean;
  /** Print the date before the time, as `tcpdump -tttt` does. */
  date?: boolean;
  /** Print TCP sequence/ack numbers and window, absolute, as `tcpdump -S` does. */
  seq?: boolean;
  /** Leave out the label (e.g. when all lines are from one capture and it is named elsewhere). */
  noLabel?: boolean;
}

const DIRECTION_WORDS: Record<PacketDirection, string> = {
  in: 'In',
  out: 'Out',
  broadcast: 'B',
  multicast: 'M',
  otherhost: 'P',
};

/** Formats a capture time as tcpdump does: `03:41:26.409203`. */
export function formatTime(time: PacketTime, opts: SummaryOptions = {}): string {
  const d = new Date(time.sec * 1000);
  const utc = opts.timeZone !== 'local';
  const two = (n: number) => String(n).padStart(2, '0');
  const hms = utc
    ? `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())}`
    : `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
  const frac = opts.nanoseconds
    ? String(time.nsec).padStart(9, '0')
    : String(Math.floor(time.nsec / 1000)).padStart(6, '0');
  if (!opts.date) return `${hms}.${frac}`;
  const ymd = utc
    ? `${d.getUTCFullYear()}-${two(d.getUTCMonth() + 1)}-${two(d.getUTCDate())}`
    : `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}`;
  return `${ymd} ${hms}.${frac}`;
}

/**
 * One line for a packet:
 * `03:41:26.409203 dpc-worker eth0 IP 172.18.1.1.57628 > 172.18.0.2.30085: Flags [S], length 0`.
 */
export function summarize(p: Packet, opts: SummaryOptions = {}): string {
  const head = [formatTime(p.time, opts)];
  if (p.label !== undefined && !opts.noLabel) head.push(p.label);
  if (p.iface !== undefined) head.push(p.iface);
  if (p.direction !== undefined) head.push(DIRECTION_WORDS[p.direction]);
  return `${head.join(' ')} ${body(p, opts)}`;
}

/** The part of the line after time, label and interface: what tcpdump prints without -e. */
export function body(p: Packet, opts: SummaryOptions = {}): string {
  let text: string;
  if (p.proto === 'arp') text = arpText(p);
  else if (p.ip) text = `${p.ip.version === 6 ? 'IP6' : 'IP'} ${ipText(p, opts)}`;
  else text = `ethertype 0x${p.etherType.toString(16).padStart(4, '0')}, length ${p.frameLength}`;
  if (p.malformed) text += ` [malformed: ${p.malformed}]`;
  if (p.truncated && !p.vxlan) text += ` [|${p.proto}]`;
  return text;
}

function hostPort(addr: string, port: number | undefined): string {
  return port === undefined ? addr : `${addr}.${port}`;
}

function ipText(p: Packet, opts: SummaryOptions): string {
  const ip = p.ip!;
  const ends = (withPorts: boolean) =>
    withPorts ? `${hostPort(p.src, p.sport)} > ${hostPort(p.dst, p.dport)}` : `${p.src} > ${p.dst}`;
  if (ip.fragmentOffset !== 0) {
    return `${ends(false)}: ip-proto-${ip.protocol}, length ${p.length} (frag ${ip.id}:${p.length}@${ip.fragmentOffset}${ip.moreFragments ? '+' : ''})`;
  }
  switch (p.proto) {
    case 'tcp':
      return `${ends(true)}: Flags [${p.flags ?? '?'}]${opts.seq ? seqText(p) : ''}, length ${p.length}`;
    case 'udp':
      if (p.vxlan) return `${ends(true)}: VXLAN vni ${p.vxlan.vni}: ${body(p.vxlan.inner, opts)}`;
      return `${ends(true)}: UDP, length ${p.length}`;
    case 'icmp':
      return `${ends(false)}: ICMP ${icmpText(p.icmp)}, length ${p.length}`;
    case 'icmp6':
      return `${ends(false)}: ICMP6, ${icmp6Text(p.icmp)}, length ${p.length}`;
    default:
      return `${ends(false)}: ip-proto-${ip.protocol}, length ${p.length}`;
  }
}

// As tcpdump -S: a sequence number when the segment uses sequence space, ack when ACK is set.
function seqText(p: Packet): string {
  if (p.seq === undefined) return '';
  const flags = p.flags ?? '';
  let out = '';
  if (p.length > 0) out += `, seq ${p.seq}:${(p.seq + p.length) >>> 0}`;
  else if (/[SFR]/.test(flags)) out += `, seq ${p.seq}`;
  if (flags.includes('.')) out += `, ack ${p.ack}`;
  if (p.win !== undefined) out += `, win ${p.win}`;
  return out;
}

const UNREACHABLE: Record<number, (host: string) => string> = {
  0: (h) => `net ${h} unreachable`,
  1: (h) => `host ${h} unreachable`,
  5: (h) => `${h} unreachable - source route failed`,
  6: (h) => `net ${h} unreachable - unknown`,
  7: (h) => `host ${h} unreachable - unknown`,
  8: (h) => `${h} unreachable - source host isolated`,
  9: (h) => `net ${h} unreachable - admin prohibited`,
  10: (h) => `host ${h} unreachable - admin prohibited`,
  11: (h) => `net ${h} unreachable - tos prohibited`,
  12: (h) => `host ${h} unreachable - tos prohibited`,
  13: (h) => `host ${h} unreachable - admin prohibited filter`,
  14: (h) => `host ${h} unreachable - host precedence violation`,
  15: (h) => `host ${h} unreachable - precedence cutoff`,
};

function icmpText(icmp: IcmpInfo | undefined): string {
  if (!icmp) return 'truncated';
  const orig = icmp.original;
  const host = orig?.dst ?? '?';
  switch (icmp.type) {
    case 0:
    case 8:
      return `echo ${icmp.type === 8 ? 'request' : 'reply'}, id ${icmp.id ?? '?'}, seq ${icmp.seq ?? '?'}`;
    case 3: {
      if (icmp.code === 2) return `${host} protocol ${orig?.protocol ?? '?'} unreachable`;
      if (icmp.code === 3) {
        const proto =
          orig?.proto === 'tcp' || orig?.proto === 'udp' ? orig.proto : `protocol ${orig?.protocol ?? '?'}`;
        return `${host} ${proto} port ${orig?.dport ?? '?'} unreachable`;
      }
      if (icmp.code === 4) {
        return `${host} unreachable - need to frag${icmp.mtu !== undefined ? ` (mtu ${icmp.mtu})` : ''}`;
      }
      const phrase = UNREACHABLE[icmp.code];
      return phrase ? phrase(host) : `${host} unreachable - #${icmp.code}`;
    }
    case 4:
      return 'source quench';
    case 5:
      return `redirect ${host}`;
    case 11:
      return icmp.code === 1 ? 'ip reassembly time exceeded' : 'time exceeded in-transit';
    case 12:
      return 'parameter problem';
    default:
      return `type-#${icmp.type}`;
  }
}

const ICMP6_NAMES: Record<number, string> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded in-transit',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  143: 'multicast listener report v2',
};

function icmp6Text(icmp: IcmpInfo | undefined): string {
  if (!icmp) return 'truncated';
  const name = ICMP6_NAMES[icmp.type] ?? `type ${icmp.type}`;
  if (icmp.type === 128 || icmp.type === 129) return `${name}, id ${icmp.id ?? '?'}, seq ${icmp.seq ?? '?'}`;
  if (icmp.type === 135 && icmp.target) return `${name}, who has ${icmp.target}`;
  if (icmp.type === 136 && icmp.target) return `${name}, tgt is ${icmp.target}`;
  if (icmp.type === 2 && icmp.mtu !== undefined) return `${name}, mtu ${icmp.mtu}`;
  if (icmp.type === 1 && icmp.original) {
    const o = icmp.original;
    return `${name}, ${o.dst}${o.dport !== undefined ? ` ${o.proto} port ${o.dport}` : ''} code ${icmp.code}`;
  }
  return name;
}

function arpText(p: Packet): string {
  const a = p.arp;
  if (!a) return `ARP, length ${p.length}`;
  if (a.op === 1) return `ARP, Request who-has ${a.targetIp} tell ${a.senderIp}, length ${p.length}`;
  if (a.op === 2) return `ARP, Reply ${a.senderIp} is-at ${a.senderMac}, length ${p.length}`;
  return `ARP, op ${a.op}, length ${p.length}`;
}

/**
 * The packets as lines for a failure message, at most `max` of them (default 20) and a line
 * saying how many more there were; `(no packets)` when there are none.
 */
export function describePackets(packets: readonly Packet[], max = 20, opts: SummaryOptions = {}): string {
  if (packets.length === 0) return '  (no packets)';
  const lines = packets.slice(0, Math.max(0, max)).map((p) => `  ${summarize(p, opts)}`);
  if (packets.length > max) lines.push(`  ... and ${packets.length - max} more`);
  return lines.join('\n');
}
