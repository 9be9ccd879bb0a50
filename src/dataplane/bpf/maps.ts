/**
 * Typed reads and writes of one node's pinned maps: where they live and what their entries mean.
 * Each read and write runs in the node's place, where the pins are.
 */
import { join } from 'node:path';
import type { Place, PlaceRunOptions } from '../../node/place.ts';
import { dumpMap, dumpPercpuMap, lookupMap, type MapInfo, mapInfo, runBatch } from './bpftool.ts';
import {
  type AffinityKey,
  type AffinityValue,
  type BackendKey,
  type BackendValue,
  type CtKey,
  type CtValue,
  decodeAffinityKey,
  decodeAffinityValue,
  decodeBackendKey,
  decodeBackendValue,
  decodeConfig,
  decodeCounterKey,
  decodeCounterValue,
  decodeCtKey,
  decodeCtValue,
  decodeDsrOptoutKey,
  decodeFrontendKey,
  decodeFrontendValue,
  decodeLogRecord,
  decodeRouteKey,
  decodeRouteValue,
  encodeConfig,
  encodeCtKey,
  encodeU32,
  type FrontendKey,
  type FrontendValue,
  type LogRecord,
  type NodeConfig,
  type RouteKey,
  type RouteValue,
} from './encoding.ts';
import { MAP, type MapName } from './layout.ts';

/** Where one node's programs and maps are pinned. */
export interface NodePins {
  /** The node's own pin directory (its `bpffsDir`). */
  root: string;
  progDir: string;
  mapDir: string;
}

/** The pin layout under a node's pin root (`node.bpffsDir`, which is already the node's own). */
export function nodePins(root: string): NodePins {
  return { root, progDir: join(root, 'progs'), mapDir: join(root, 'maps') };
}

/** The pinned path of one map. */
export function mapPin(pins: NodePins, name: string): string {
  return join(pins.mapDir, name);
}

/** The pinned path of one program. */
export function progPin(pins: NodePins, name: string): string {
  return join(pins.progDir, name);
}

/** A decoded entry. */
export interface Entry<K, V> {
  key: K;
  value: V;
}

async function dumpDecoded<K, V>(
  place: Place,
  pins: NodePins,
  name: MapName,
  dk: (b: Uint8Array) => K,
  dv: (b: Uint8Array) => V,
  opts?: PlaceRunOptions,
): Promise<Entry<K, V>[]> {
  const rows = await dumpMap(place, mapPin(pins, name), opts);
  return rows.map((r) => ({ key: dk(r.key), value: dv(r.value) }));
}

/** The NAT frontends of a node. */
export function readFrontends(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<Entry<FrontendKey, FrontendValue>[]> {
  return dumpDecoded(place, pins, MAP.natFrontend, decodeFrontendKey, decodeFrontendValue, opts);
}

/** The NAT backends of a node. */
export function readBackends(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<Entry<BackendKey, BackendValue>[]> {
  return dumpDecoded(place, pins, MAP.natBackend, decodeBackendKey, decodeBackendValue, opts);
}

/** The conntrack entries of a node (live and stale). */
export function readConntrack(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<Entry<CtKey, CtValue>[]> {
  return dumpDecoded(place, pins, MAP.conntrack, decodeCtKey, decodeCtValue, opts);
}

/**
 * Deletes a node's conntrack entries under these keys; returns how many were there. Keys the map
 * does not hold are left out of the batch, which would stop at the first one.
 */
export async function deleteConntrack(
  place: Place,
  pins: NodePins,
  keys: readonly CtKey[],
  opts?: PlaceRunOptions,
): Promise<number> {
  const pin = mapPin(pins, MAP.conntrack);
  const present: Uint8Array[] = [];
  for (const k of keys) {
    const key = encodeCtKey(k);
    if (await lookupMap(place, pin, key, opts)) present.push(key);
  }
  await runBatch(
    place,
    present.map((key) => ({ op: 'delete', pin, key })),
    opts,
  );
  return present.length;
}

/** The ClientIP affinity entries of a node (live and expired). */
export function readAffinity(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<Entry<AffinityKey, AffinityValue>[]> {
  return dumpDecoded(place, pins, MAP.natAffinity, decodeAffinityKey, decodeAffinityValue, opts);
}

/** The routes of a node. */
export function readRoutes(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<Entry<RouteKey, RouteValue>[]> {
  return dumpDecoded(place, pins, MAP.routes, decodeRouteKey, decodeRouteValue, opts);
}

/** The CIDRs a node's `cali_v4_dsr_opt` holds (clients that get Tunnel in DSR mode), sorted. */
export async function readDsrOptout(place: Place, pins: NodePins, opts?: PlaceRunOptions): Promise<string[]> {
  const rows = await dumpMap(place, mapPin(pins, MAP.dsrOptout), opts);
  return rows.map((r) => decodeDsrOptoutKey(r.key)).sort();
}

/** One counter of a node: packets seen on an interface's hook for a reason. */
export interface CounterRow {
  ifindex: number;
  hook: 'ingress' | 'egress';
  reason: string;
  packets: bigint;
}

/** Every counter of a node. */
export async function readCounters(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<CounterRow[]> {
  const rows = await dumpMap(place, mapPin(pins, MAP.counters), opts);
  return rows.map((r) => ({ ...decodeCounterKey(r.key), packets: decodeCounterValue(r.value) }));
}

/** The node's configuration record. */
export async function readConfig(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<NodeConfig | undefined> {
  const v = await lookupMap(place, mapPin(pins, MAP.config), encodeU32(0), opts);
  return v ? decodeConfig(v) : undefined;
}

/** Writes the node's configuration record. */
export async function writeConfig(
  place: Place,
  pins: NodePins,
  cfg: NodeConfig,
  opts?: PlaceRunOptions,
): Promise<void> {
  await runBatch(
    place,
    [{ op: 'update', pin: mapPin(pins, MAP.config), key: encodeU32(0), value: encodeConfig(cfg) }],
    opts,
  );
}

/**
 * The programs' log of a node (bpfLogLevel): every CPU's records, oldest first. The ring keeps
 * the last records of each CPU only; `since` (CLOCK_MONOTONIC ns) drops older ones.
 */
export async function readLog(
  place: Place,
  pins: NodePins,
  since = 0n,
  opts?: PlaceRunOptions,
): Promise<(LogRecord & { cpu: number })[]> {
  const rows = await dumpPercpuMap(place, mapPin(pins, MAP.log), opts);
  const out: (LogRecord & { cpu: number })[] = [];
  for (const r of rows) {
    r.values.forEach((v, cpu) => {
      const rec = decodeLogRecord(v);
      if (rec.seq !== 0 && rec.ts >= since) out.push({ ...rec, cpu });
    });
  }
  return out.sort((a, b) => (a.ts < b.ts ? -1 : a.ts > b.ts ? 1 : a.cpu - b.cpu));
}

/** Size and fill of one map. */
export interface MapUsage {
  name: string;
  maxEntries: number;
  entries: number;
  /** entries / maxEntries. */
  ratio: number;
}

/** How full each of a node's maps is (arrays count as full). */
export async function readMapUsage(
  place: Place,
  pins: NodePins,
  opts?: PlaceRunOptions,
): Promise<MapUsage[]> {
  const out: MapUsage[] = [];
  for (const name of Object.values(MAP)) {
    const info: MapInfo = await mapInfo(place, mapPin(pins, name), opts);
    const entries =
      info.type === 'array' || info.type === 'percpu_array'
        ? info.maxEntries
        : (await dumpMap(place, mapPin(pins, name), opts)).length;
    out.push({ name, maxEntries: info.maxEntries, entries, ratio: entries / info.maxEntries });
  }
  return out;
}
