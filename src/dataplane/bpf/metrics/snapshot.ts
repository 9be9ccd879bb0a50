/**
 * One node's dataplane state as the metrics and the inspection commands need it, read from the
 * node's pinned maps, and the pure aggregations over it.
 */

import type { Place } from '../../../node/place.ts';
import type { NamedCounter } from '../index.ts';
import { MAP, PROG_PREFIX, VXLAN_DEVICE } from '../layout.ts';
import { type MapUsage, type NodePins, readCounters, readMapUsage } from '../maps.ts';
import { listLinks } from '../node-kernel.ts';
import { REASON_POLICY, REASON_TOTAL } from './names.ts';

/** What a scrape reports for one node. */
export interface NodeSnapshot {
  counters: NamedCounter[];
  /** Entries in the NAT frontend map. */
  natFrontends: number;
  /** Entries in the conntrack map. */
  conntrack: number;
  maps: MapUsage[];
  /** Interfaces carrying our programs: all of them, those with every program they should carry. */
  endpoints: EndpointCounts;
}

/** Interfaces carrying the dataplane's programs. */
export interface EndpointCounts {
  total: number;
  happy: number;
}

/** One tc attachment as `bpftool -j net show` lists it. */
export interface TcAttachmentRow {
  devname: string;
  kind: string;
  name?: string;
}

/**
 * Counts the interfaces carrying our programs from the node's tc attachments: one with both
 * hooks (workload veths, data interfaces) or with its one ingress hook (`vx`, `lo`) is happy.
 */
export function endpointCounts(rows: readonly TcAttachmentRow[]): EndpointCounts {
  const hooks = new Map<string, Set<string>>();
  for (const r of rows) {
    if (!r.name?.startsWith(PROG_PREFIX)) continue;
    const set = hooks.get(r.devname) ?? new Set<string>();
    set.add(r.kind.endsWith('egress') ? 'egress' : 'ingress');
    hooks.set(r.devname, set);
  }
  let happy = 0;
  for (const [dev, set] of hooks) {
    const ingressOnly = dev === VXLAN_DEVICE || dev === 'lo';
    if (set.has('ingress') && (ingressOnly || set.has('egress'))) happy++;
  }
  return { total: hooks.size, happy };
}

/** The node's tc attachments. */
async function readTcAttachments(place: Place): Promise<TcAttachmentRow[]> {
  const rows = await place.execJson<{ tc?: TcAttachmentRow[] }[]>(['bpftool', '-j', 'net', 'show']);
  return rows.flatMap((r) => r.tc ?? []);
}

/** Packets of one interface and hook. */
export interface IfaceHookCount {
  iface: string;
  hook: string;
  packets: number;
}

/** Resolves counter ifindexes to names; a vanished interface keeps a stable `if<N>` name. */
export function nameCounters(
  rows: readonly Omit<NamedCounter, 'iface'>[],
  links: readonly { name: string; ifindex: number }[],
): NamedCounter[] {
  const names = new Map(links.map((l) => [l.ifindex, l.name]));
  return rows.map((c) => ({ ...c, iface: names.get(c.ifindex) ?? `if${c.ifindex}` }));
}

/**
 * Sums one reason's counters per (interface, hook). With `every`, each (interface, hook) that
 * has seen any packet appears, at 0 when the reason never occurred there, so a rate query has a
 * series from the start rather than from the first drop.
 */
export function perIfaceHook(
  counters: readonly NamedCounter[],
  reason: string,
  every = false,
): IfaceHookCount[] {
  const sums = new Map<string, IfaceHookCount>();
  for (const c of counters) {
    if (c.reason !== reason && !(every && c.reason === REASON_TOTAL)) continue;
    const id = `${c.iface}\0${c.hook}`;
    const row = sums.get(id) ?? { iface: c.iface, hook: c.hook, packets: 0 };
    if (c.reason === reason) row.packets += Number(c.packets);
    sums.set(id, row);
  }
  return [...sums.values()].sort((a, b) => a.iface.localeCompare(b.iface) || a.hook.localeCompare(b.hook));
}

/** Packets processed per (interface, hook): the programs' `total` reason. */
export function packetsPerIfaceHook(counters: readonly NamedCounter[]): IfaceHookCount[] {
  return perIfaceHook(counters, REASON_TOTAL);
}

/** Policy drops per (interface, hook), 0 where an interface saw traffic but no drop. */
export function policyDropsPerIfaceHook(counters: readonly NamedCounter[]): IfaceHookCount[] {
  return perIfaceHook(counters, REASON_POLICY, true);
}

/** The entry count of one map in a usage list (0 when the map is not listed). */
export function entriesOf(maps: readonly MapUsage[], name: string): number {
  return maps.find((m) => m.name === name)?.entries ?? 0;
}

/** Reads a node's snapshot from its pins, naming interfaces as the node sees them. */
export async function readNodeSnapshot(place: Place, pins: NodePins): Promise<NodeSnapshot> {
  const [rows, links, maps, tc] = await Promise.all([
    readCounters(place, pins),
    listLinks(place),
    readMapUsage(place, pins),
    readTcAttachments(place),
  ]);
  return {
    counters: nameCounters(rows, links),
    natFrontends: entriesOf(maps, MAP.natFrontend),
    conntrack: entriesOf(maps, MAP.conntrack),
    maps,
    endpoints: endpointCounts(tc),
  };
}
