/**
 * Questions suites ask of captured packets: which packets match, the request and reply packets
 * of a flow, the ICMP errors a flow drew. Pure.
 */
import { compareTime } from './time.ts';
import type { Packet, PacketProto } from './types.ts';

/** Which layers of an encapsulated packet a match looks at. */
export type Layer = 'outer' | 'inner' | 'any';

/** Conditions on a packet; every one that is set must hold. */
export interface PacketMatch {
  src?: string;
  dst?: string;
  sport?: number;
  dport?: number;
  /** Source or destination address. */
  host?: string;
  /** Source or destination port. */
  port?: number;
  proto?: PacketProto;
  /** Exactly these TCP flags, tcpdump letters in any order: `S`, `S.`, `F.`, `none`. */
  flags?: string;
  /** At least these TCP flags (`R` matches `R` and `R.`). */
  withFlags?: string;
  /** None of these TCP flags. */
  withoutFlags?: string;
  /** Only packets inside VXLAN with this VNI. */
  vni?: number;
  label?: string;
  iface?: string;
  /**
   * `outer`: the packet as it is on the wire; `inner`: only what VXLAN carries; `any`
   * (default): either. A match on an inner packet returns the whole outer packet.
   */
  layer?: Layer;
}

/** An IP address and port. */
export interface Endpoint {
  ip: string;
  port: number;
}

/** A connection as the client sees it: from the client to the frontend (a NodePort, VIP or ClusterIP). */
export interface Flow {
  client: Endpoint;
  frontend: Endpoint;
  proto?: 'tcp' | 'udp';
}

/** The packet and every packet it carries, outermost first, with their depth of encapsulation. */
export function layersOf(p: Packet): Array<{ packet: Packet; depth: number; vni?: number }> {
  const out: Array<{ packet: Packet; depth: number; vni?: number }> = [{ packet: p, depth: 0 }];
  let current = p;
  let depth = 0;
  while (current.vxlan) {
    depth++;
    out.push({ packet: current.vxlan.inner, depth, vni: current.vxlan.vni });
    current = current.vxlan.inner;
  }
  return out;
}

function flagSet(letters: string): Set<string> {
  return new Set(letters === 'none' ? [] : [...letters]);
}

function flagsHold(p: Packet, m: PacketMatch): boolean {
  if (m.flags === undefined && m.withFlags === undefined && m.withoutFlags === undefined) return true;
  if (p.flags === undefined) return false;
  const have = flagSet(p.flags);
  if (m.flags !== undefined) {
    const want = flagSet(m.flags);
    if (want.size !== have.size || [...want].some((f) => !have.has(f))) return false;
  }
  if (m.withFlags !== undefined && [...flagSet(m.withFlags)].some((f) => !have.has(f))) return false;
  if (m.withoutFlags !== undefined && [...flagSet(m.withoutFlags)].some((f) => have.has(f))) return false;
  return true;
}

function layerMatches(p: Packet, m: PacketMatch, vni: number | undefined): boolean {
  if (m.src !== undefined && p.src !== m.src) return false;
  if (m.dst !== undefined && p.dst !== m.dst) return false;
  if (m.sport !== undefined && p.sport !== m.sport) return false;
  if (m.dport !== undefined && p.dport !== m.dport) return false;
  if (m.host !== undefined && p.src !== m.host && p.dst !== m.host) return false;
  if (m.port !== undefined && p.sport !== m.port && p.dport !== m.port) return false;
  if (m.proto !== undefined && p.proto !== m.proto) return false;
  if (m.vni !== undefined && vni !== m.vni) return false;
  if (m.label !== undefined && p.label !== m.label) return false;
  if (m.iface !== undefined && p.iface !== m.iface) return false;
  return flagsHold(p, m);
}

/** True when the packet (or, per `layer`, a packet it carries) meets every condition. */
export function matches(p: Packet, m: PacketMatch): boolean {
  const layer = m.layer ?? 'any';
  return layersOf(p).some(({ packet, depth, vni }) => {
    if (layer === 'outer' && depth > 0) return false;
    if (layer === 'inner' && depth === 0) return false;
    return layerMatches(packet, m, vni);
  });
}

/** The packets that match, in capture order. */
export function filterPackets(packets: readonly Packet[], m: PacketMatch): Packet[] {
  return packets.filter((p) => matches(p, m));
}

/** How many packets match. */
export function countPackets(packets: readonly Packet[], m: PacketMatch): number {
  return filterPackets(packets, m).length;
}

/** The first packet that matches, if any. */
export function firstPacket(packets: readonly Packet[], m: PacketMatch): Packet | undefined {
  return packets.find((p) => matches(p, m));
}

/** The packets from the client to the frontend (the request direction). */
export function requestPackets(packets: readonly Packet[], flow: Flow, layer: Layer = 'any'): Packet[] {
  return filterPackets(packets, {
    src: flow.client.ip,
    sport: flow.client.port,
    dst: flow.frontend.ip,
    dport: flow.frontend.port,
    ...(flow.proto ? { proto: flow.proto } : {}),
    layer,
  });
}

/**
 * The reply packets of a flow: from the frontend back to the client, as the client must see
 * them. In DSR these leave the backend's node with the frontend as their source.
 */
export function replyPackets(packets: readonly Packet[], flow: Flow, layer: Layer = 'any'): Packet[] {
  return filterPackets(packets, {
    src: flow.frontend.ip,
    sport: flow.frontend.port,
    dst: flow.client.ip,
    dport: flow.client.port,
    ...(flow.proto ? { proto: flow.proto } : {}),
    layer,
  });
}

/** Both directions of a flow, in capture order. */
export function flowPackets(packets: readonly Packet[], flow: Flow, layer: Layer = 'any'): Packet[] {
  const request = new Set(requestPackets(packets, flow, layer));
  const reply = new Set(replyPackets(packets, flow, layer));
  return packets.filter((p) => request.has(p) || reply.has(p));
}

/** ICMP errors that quote a packet of the flow's request direction (e.g. port unreachable from a service with no endpoints). */
export function icmpErrorsFor(packets: readonly Packet[], flow: Flow): Packet[] {
  return packets.filter((p) =>
    layersOf(p).some(({ packet }) => {
      const o = packet.icmp?.original;
      return (
        o !== undefined &&
        o.src === flow.client.ip &&
        o.dst === flow.frontend.ip &&
        o.sport === flow.client.port &&
        o.dport === flow.frontend.port &&
        (flow.proto === undefined || o.proto === flow.proto)
      );
    }),
  );
}

/** Packets of several captures as one list in time order (ties keep the order given). */
export function mergeByTime(...lists: ReadonlyArray<readonly Packet[]>): Packet[] {
  return lists.flat().sort((a, b) => compareTime(a.time, b.time));
}
