/**
 * The node agent's conntrack sweep, as Felix runs one: every few seconds it reads the conntrack
 * map, counts the entries by type and deletes those idle past their timeout (the programs treat
 * them as gone already, but they would hold their slots until LRU eviction). What it finds feeds
 * Felix's `felix_bpf_conntrack_used` / `felix_bpf_conntrack_cleaned` / `felix_bpf_conntrack_sweeps`.
 */
import type { Place } from '../../../node/place.ts';
import type { BatchOp } from '../bpftool.ts';
import { runBatch } from '../bpftool.ts';
import { type CtKey, type CtValue, encodeCtKey } from '../encoding.ts';
import { MAP } from '../layout.ts';
import { type Entry, mapPin, type NodePins, readConfig, readConntrack } from '../maps.ts';

/** Conntrack timeouts the programs use when the config record says 0 (seconds). */
const FALLBACK_TIMEOUTS = { tcp: 3600, udp: 60 } as const;

/** How often a node's agent sweeps. */
export const SWEEP_INTERVAL_MS = 10_000;

/** What one sweep saw and removed, by entry type. */
export interface SweepResult {
  used: Record<CtValue['type'], number>;
  cleaned: Record<CtValue['type'], number>;
}

/** The entries a sweep deletes: idle longer than their protocol's timeout. Pure. */
export function planSweep(
  entries: readonly Entry<CtKey, CtValue>[],
  timeouts: { tcp: number; udp: number },
  nowNs: bigint,
): { used: SweepResult['used']; expired: Entry<CtKey, CtValue>[] } {
  const used = { fwd: 0, rev: 0 };
  const expired: Entry<CtKey, CtValue>[] = [];
  for (const e of entries) {
    used[e.value.type]++;
    const timeoutS = e.key.proto === 'TCP' ? timeouts.tcp : timeouts.udp;
    if (nowNs - e.value.lastSeenNs > BigInt(timeoutS) * 1_000_000_000n) expired.push(e);
  }
  return { used, expired };
}

/** Sweeps a node's conntrack map once. */
export async function sweepConntrack(place: Place, pins: NodePins): Promise<SweepResult> {
  const cfg = await readConfig(place, pins);
  const timeouts = {
    tcp: cfg?.tcpTimeoutS || FALLBACK_TIMEOUTS.tcp,
    udp: cfg?.udpTimeoutS || FALLBACK_TIMEOUTS.udp,
  };
  // The programs stamp entries with CLOCK_MONOTONIC, the clock hrtime reads (read after the dump,
  // so that an entry refreshed during it only looks younger).
  const entries = await readConntrack(place, pins);
  const { used, expired } = planSweep(entries, timeouts, process.hrtime.bigint());
  const pin = mapPin(pins, MAP.conntrack);
  const cleaned = { fwd: 0, rev: 0 };
  const ops: BatchOp[] = expired.map((e) => ({ op: 'delete', pin, key: encodeCtKey(e.key) }));
  const all = await runBatch(place, ops).then(
    () => true,
    () => false,
  );
  for (const [i, e] of expired.entries()) {
    // bpftool stops at an entry the kernel evicted meanwhile: the rest go one by one.
    const deleted =
      all ||
      (await runBatch(place, [ops[i]!]).then(
        () => true,
        () => false,
      ));
    if (deleted) cleaned[e.value.type]++;
  }
  return { used, cleaned };
}
