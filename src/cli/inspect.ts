/**
 * What `dpconform bpf ...` prints: the node's maps and counters turned into rows (pure, so the
 * tables are tested without a cluster) and rendered as aligned tables.
 */
import type {
  BackendKey,
  BackendValue,
  CtKey,
  CtValue,
  FrontendKey,
  FrontendValue,
} from '../dataplane/bpf/encoding.ts';
import type { BpfLogRecord, NamedCounter } from '../dataplane/bpf/index.ts';
import {
  CT_FLAG,
  ERROR_REASONS,
  FE_FLAG,
  LOG_EVENTS,
  MAP,
  MAP_USAGE_WARN_RATIO,
  REASONS,
} from '../dataplane/bpf/layout.ts';
import type { Entry, MapUsage } from '../dataplane/bpf/maps.ts';
import type { ServiceState } from '../k8s/model.ts';
import { table } from './format.ts';

/** Maps that are arrays: every slot always exists, so "full" says nothing. */
const ARRAY_MAPS: ReadonlySet<string> = new Set([MAP.config, MAP.hostScratch, MAP.log, MAP.logSeq]);

/** Something read from one node. */
export interface PerNode<T> {
  node: string;
  data: T;
}

/** A node's name and address, to show NodePort frontends and backend nodes by name. */
export interface NodeRef {
  name: string;
  ip: string;
}

// ---------------------------------------------------------------------------------------------
// counters

/** One counter row as printed and as `--json` gives it. */
export interface CounterLine {
  node: string;
  iface: string;
  hook: string;
  reason: string;
  packets: number;
}

function reasonOrder(reason: string): number {
  const i = (REASONS as readonly string[]).indexOf(reason);
  return i < 0 ? REASONS.length : i;
}

/** Counter rows of every node, optionally of one interface, sorted by node, interface, hook, reason. */
export function counterLines(perNode: readonly PerNode<NamedCounter[]>[], iface?: string): CounterLine[] {
  const lines: CounterLine[] = [];
  for (const { node, data } of perNode) {
    const rows = data
      .filter((c) => iface === undefined || c.iface === iface)
      .sort(
        (a, b) =>
          a.iface.localeCompare(b.iface) ||
          a.hook.localeCompare(b.hook) ||
          reasonOrder(a.reason) - reasonOrder(b.reason),
      );
    for (const c of rows)
      lines.push({ node, iface: c.iface, hook: c.hook, reason: c.reason, packets: Number(c.packets) });
  }
  return lines;
}

/** The counters table. */
export function renderCounters(lines: readonly CounterLine[]): string {
  if (lines.length === 0) return 'no counters yet (no packet has crossed a dataplane hook)';
  return table(
    ['NODE', 'IFACE', 'HOOK', 'REASON', 'PACKETS'],
    lines.map((l) => [l.node, l.iface, l.hook, l.reason, String(l.packets)]),
  );
}

// ---------------------------------------------------------------------------------------------
// NAT

/** A frontend with the backends it balances to. */
export interface NatLine {
  node: string;
  kind: 'ip' | 'nodeport';
  /** `ip:port/PROTO`; a NodePort shows the node's address. */
  frontend: string;
  /** `namespace/name:port` of the Service it belongs to, when the model knows it. */
  service?: string;
  svcId: number;
  count: number;
  flags: string[];
  backends: { ordinal: number; addr: string; port: number; node: string }[];
}

/** The Service a frontend belongs to, as `namespace/name:port`, or undefined. */
export function serviceOf(key: FrontendKey, services: readonly ServiceState[]): string | undefined {
  for (const s of services) {
    for (const p of s.ports) {
      if (p.protocol !== key.proto) continue;
      const label = `${s.namespace}/${s.name}:${p.name || p.port}`;
      if (key.addr === '0.0.0.0') {
        if (p.nodePort === key.port) return label;
        continue;
      }
      if (p.port !== key.port) continue;
      const ips = [s.clusterIP, ...s.externalIPs, ...(s.loadBalancerIP ? [s.loadBalancerIP] : [])];
      if (ips.includes(key.addr)) return label;
    }
  }
  return undefined;
}

function feFlags(flags: number): string[] {
  const out: string[] = [];
  if (flags & FE_FLAG.local) out.push('local');
  if (flags & FE_FLAG.affinity) out.push('affinity');
  return out;
}

/** Joins a node's frontends with their backends. */
export function natLines(
  node: NodeRef,
  frontends: readonly Entry<FrontendKey, FrontendValue>[],
  backends: readonly Entry<BackendKey, BackendValue>[],
  nodes: readonly NodeRef[],
  services: readonly ServiceState[] = [],
): NatLine[] {
  const nodeByIp = new Map(nodes.map((n) => [n.ip, n.name]));
  const bySvc = new Map<number, NatLine['backends']>();
  for (const b of backends) {
    const list = bySvc.get(b.key.svcId) ?? [];
    list.push({
      ordinal: b.key.ordinal,
      addr: b.value.addr,
      port: b.value.port,
      node: nodeByIp.get(b.value.nodeIp) ?? b.value.nodeIp,
    });
    bySvc.set(b.key.svcId, list);
  }
  const lines = frontends.map((f): NatLine => {
    const nodeport = f.key.addr === '0.0.0.0';
    const service = serviceOf(f.key, services);
    return {
      node: node.name,
      kind: nodeport ? 'nodeport' : 'ip',
      frontend: `${nodeport ? node.ip : f.key.addr}:${f.key.port}/${f.key.proto}`,
      ...(service ? { service } : {}),
      svcId: f.value.svcId,
      count: f.value.count,
      flags: feFlags(f.value.flags),
      backends: [...(bySvc.get(f.value.svcId) ?? [])].sort((a, b) => a.ordinal - b.ordinal),
    };
  });
  return lines.sort((a, b) => a.kind.localeCompare(b.kind) || a.frontend.localeCompare(b.frontend));
}

/** The NAT table: one line per frontend, its backends listed. */
export function renderNat(lines: readonly NatLine[]): string {
  if (lines.length === 0) return 'no service frontends programmed';
  return table(
    ['NODE', 'FRONTEND', 'KIND', 'SERVICE', 'FLAGS', 'BACKENDS'],
    lines.map((l) => [
      l.node,
      l.frontend,
      l.kind,
      l.service ?? '-',
      l.flags.join(',') || '-',
      l.backends.length === 0
        ? 'none (refused)'
        : l.backends.map((b) => `${b.addr}:${b.port}@${b.node}`).join(' '),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// conntrack

/** One conntrack entry as printed. */
export interface CtLine {
  node: string;
  proto: string;
  source: string;
  destination: string;
  type: 'fwd' | 'rev';
  /** Where the entry translates to (backend for fwd, frontend for rev). */
  nat: string;
  /** The entry's tunnel address (the other node of a tunnelled flow), or empty when unset. */
  tunnel: string;
  flags: string[];
  /** Seconds since the entry last saw a packet. */
  idleS: number;
}

function ctFlags(flags: number): string[] {
  const out: string[] = [];
  if (flags & CT_FLAG.tunnelOut) out.push('tunnel-out');
  if (flags & CT_FLAG.fromTunnel) out.push('from-tunnel');
  return out;
}

/** Conntrack rows of a node; `nowNs` is CLOCK_MONOTONIC now (the programs stamp entries with it). */
export function ctLines(node: string, entries: readonly Entry<CtKey, CtValue>[], nowNs: bigint): CtLine[] {
  return entries
    .map((e) => ({
      node,
      proto: e.key.proto,
      source: `${e.key.saddr}:${e.key.sport}`,
      destination: `${e.key.daddr}:${e.key.dport}`,
      type: e.value.type,
      nat: `${e.value.natIp}:${e.value.natPort}`,
      tunnel: e.value.tunIp === '0.0.0.0' ? '' : e.value.tunIp,
      flags: ctFlags(e.value.flags),
      idleS: nowNs > e.value.lastSeenNs ? Number((nowNs - e.value.lastSeenNs) / 1_000_000n) / 1000 : 0,
    }))
    .sort((a, b) => a.source.localeCompare(b.source) || a.destination.localeCompare(b.destination));
}

/** The conntrack table. */
export function renderConntrack(lines: readonly CtLine[]): string {
  if (lines.length === 0) return 'conntrack is empty';
  return table(
    ['NODE', 'PROTO', 'SOURCE', 'DESTINATION', 'TYPE', 'NAT', 'TUN-IP', 'FLAGS', 'IDLE'],
    lines.map((l) => [
      l.node,
      l.proto,
      l.source,
      l.destination,
      l.type,
      l.nat,
      l.tunnel || '-',
      l.flags.join(',') || '-',
      `${l.idleS.toFixed(1)}s`,
    ]),
  );
}

/** Conntrack totals of a node. */
export interface CtStats {
  node: string;
  entries: number;
  max: number;
  fwd: number;
  rev: number;
  tcp: number;
  udp: number;
  tunnelled: number;
}

/** Totals over a node's entries; `max` is the map's capacity. */
export function ctStats(node: string, entries: readonly Entry<CtKey, CtValue>[], max: number): CtStats {
  const s: CtStats = { node, entries: entries.length, max, fwd: 0, rev: 0, tcp: 0, udp: 0, tunnelled: 0 };
  for (const e of entries) {
    if (e.value.type === 'fwd') s.fwd++;
    else s.rev++;
    if (e.key.proto === 'TCP') s.tcp++;
    else s.udp++;
    if (e.value.flags & (CT_FLAG.tunnelOut | CT_FLAG.fromTunnel)) s.tunnelled++;
  }
  return s;
}

function percent(used: number, max: number): string {
  return max === 0 ? '-' : `${((100 * used) / max).toFixed(1)}%`;
}

/** The conntrack totals table. */
export function renderCtStats(stats: readonly CtStats[]): string {
  return table(
    ['NODE', 'ENTRIES', 'MAX', 'FULL', 'FWD', 'REV', 'TCP', 'UDP', 'TUNNELLED'],
    stats.map((s) => [
      s.node,
      String(s.entries),
      String(s.max),
      percent(s.entries, s.max),
      String(s.fwd),
      String(s.rev),
      String(s.tcp),
      String(s.udp),
      String(s.tunnelled),
    ]),
  );
}

// ---------------------------------------------------------------------------------------------
// maps

/** One map's fill as printed. */
export interface MapLine {
  node: string;
  map: string;
  used: number;
  max: number;
  percent: number;
  /** Above the dataplane's warning ratio, {@link MAP_USAGE_WARN_RATIO} (never for arrays). */
  flagged: boolean;
}

/** Map fill rows of every node. */
export function mapLines(perNode: readonly PerNode<MapUsage[]>[]): MapLine[] {
  return perNode.flatMap(({ node, data }) =>
    data.map((m) => ({
      node,
      map: m.name,
      used: m.entries,
      max: m.maxEntries,
      percent: Math.round(1000 * m.ratio) / 10,
      flagged: !ARRAY_MAPS.has(m.name) && m.ratio > MAP_USAGE_WARN_RATIO,
    })),
  );
}

/** The map fill table, with a closing line naming the maps above the threshold. */
export function renderMaps(lines: readonly MapLine[]): string {
  const body = table(
    ['NODE', 'MAP', 'USED', 'MAX', 'PERCENT', ''],
    lines.map((l) => [
      l.node,
      l.map,
      String(l.used),
      String(l.max),
      ARRAY_MAPS.has(l.map) ? 'array' : `${l.percent.toFixed(1)}%`,
      l.flagged ? `! above ${MAP_USAGE_WARN_RATIO * 100}%` : '',
    ]),
  );
  const flagged = lines.filter((l) => l.flagged);
  const tail =
    flagged.length === 0
      ? `no map above ${MAP_USAGE_WARN_RATIO * 100}%`
      : `${flagged.length} map(s) above ${MAP_USAGE_WARN_RATIO * 100}%: ${flagged.map((l) => `${l.map} on ${l.node}`).join(', ')}`;
  return `${body}\n\n${tail}`;
}

/** JSON text of a value holding bigints (as numbers while exact, else strings). */
export function toJson(value: unknown): string {
  return JSON.stringify(
    value,
    (_k, v: unknown) =>
      typeof v === 'bigint' ? (v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v.toString()) : v,
    2,
  );
}

// ---------------------------------------------------------------------------------------------
// stats

/** How `bpf stats` groups a counter reason, in the manner of `calico-bpf stats`. */
export type StatsCategory = 'total' | 'accepted' | 'dropped' | 'errors' | 'info';

/** The category of a counter reason: errors are failures of the dataplane itself. */
export function categoryOf(reason: string): StatsCategory {
  if (reason === 'total') return 'total';
  if (reason === 'accepted') return 'accepted';
  if ((ERROR_REASONS as readonly string[]).includes(reason)) return 'errors';
  if (reason.startsWith('dropped') || reason === 'packets with unknown route') return 'dropped';
  return 'info';
}

/** One row of `bpf stats`: a reason on an interface, with its ingress and egress counts. */
export interface StatsLine {
  node: string;
  iface: string;
  category: StatsCategory;
  reason: string;
  ingress: number;
  egress: number;
}

const CATEGORY_ORDER: readonly StatsCategory[] = ['total', 'accepted', 'dropped', 'errors', 'info'];

/** Folds counters into one row per (node, interface, reason), ingress and egress side by side. */
export function statsLines(perNode: readonly PerNode<NamedCounter[]>[]): StatsLine[] {
  const rows = new Map<string, StatsLine>();
  for (const { node, data } of perNode) {
    for (const c of data) {
      const id = `${node}\0${c.iface}\0${c.reason}`;
      const row = rows.get(id) ?? {
        node,
        iface: c.iface,
        category: categoryOf(c.reason),
        reason: c.reason,
        ingress: 0,
        egress: 0,
      };
      row[c.hook] += Number(c.packets);
      rows.set(id, row);
    }
  }
  return [...rows.values()].sort(
    (a, b) =>
      a.node.localeCompare(b.node) ||
      a.iface.localeCompare(b.iface) ||
      CATEGORY_ORDER.indexOf(a.category) - CATEGORY_ORDER.indexOf(b.category) ||
      reasonOrder(a.reason) - reasonOrder(b.reason),
  );
}

/** The errors of each node, summed over its interfaces and hooks. */
export function errorTotals(lines: readonly StatsLine[]): { node: string; errors: number }[] {
  const sums = new Map<string, number>();
  for (const l of lines)
    sums.set(l.node, (sums.get(l.node) ?? 0) + (l.category === 'errors' ? l.ingress + l.egress : 0));
  return [...sums].map(([node, errors]) => ({ node, errors }));
}

/** The stats table, then one `<node>: N errors` line per node (what `grep errors` finds). */
export function renderStats(lines: readonly StatsLine[]): string {
  if (lines.length === 0) return 'no counters yet (no packet has crossed a dataplane hook)';
  const body = table(
    ['NODE', 'IFACE', 'CATEGORY', 'TYPE', 'INGRESS', 'EGRESS'],
    lines.map((l) => [l.node, l.iface, l.category, l.reason, String(l.ingress), String(l.egress)]),
  );
  const totals = errorTotals(lines).map((t) => `${t.node}: ${t.errors} errors`);
  return `${body}\n\n${totals.join('\n')}`;
}

// ---------------------------------------------------------------------------------------------
// log

/** One line of `bpf log`. */
export interface LogLine {
  node: string;
  /** Seconds before now the record was written. */
  ago: number;
  cpu: number;
  iface: string;
  hook: string;
  event: string;
  flow: string;
  /** The backend a new flow was given. */
  nat?: string;
  verdict: string;
  reason?: string;
}

const PROTO_NAMES: Readonly<Record<number, string>> = { 1: 'ICMP', 6: 'TCP', 17: 'UDP' };
const VERDICTS: Readonly<Record<number, string>> = { 0: 'ok', 2: 'drop', 7: 'redirect' };

/** Turns a node's log records into lines; `names` maps ifindexes to interface names. */
export function logLines(
  node: string,
  records: readonly BpfLogRecord[],
  names: ReadonlyMap<number, string>,
  nowNs: bigint,
): LogLine[] {
  return records.map((r) => {
    const proto = PROTO_NAMES[r.proto] ?? `proto ${r.proto}`;
    const ports = r.proto === 6 || r.proto === 17;
    const flow = ports
      ? `${proto} ${r.saddr}:${r.sport} -> ${r.daddr}:${r.dport}`
      : `${proto} ${r.saddr} -> ${r.daddr}`;
    const line: LogLine = {
      node,
      ago: Number(nowNs - r.ts) / 1e9,
      cpu: r.cpu,
      iface: names.get(r.ifindex) ?? `if${r.ifindex}`,
      hook: r.hook,
      event: LOG_EVENTS[r.event] ?? `event ${r.event}`,
      flow,
      verdict: VERDICTS[r.verdict] ?? String(r.verdict),
    };
    if (r.natIp !== '0.0.0.0') line.nat = `${r.natIp}:${r.natPort}`;
    if (r.event === 3) line.reason = r.reason;
    return line;
  });
}

/** The log, oldest first. */
export function renderLog(lines: readonly LogLine[]): string {
  if (lines.length === 0) return 'no log records (bpfLogLevel Off logs nothing; Info and Debug do)';
  return table(
    ['AGO', 'NODE', 'CPU', 'IFACE', 'HOOK', 'EVENT', 'FLOW', 'NAT', 'VERDICT', 'REASON'],
    lines.map((l) => [
      `${l.ago.toFixed(3)}s`,
      l.node,
      String(l.cpu),
      l.iface,
      l.hook,
      l.event,
      l.flow,
      l.nat ?? '',
      l.verdict,
      l.reason ?? '',
    ]),
  );
}
