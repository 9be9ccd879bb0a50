/**
 * Pure diff between what a node's maps hold (as last programmed) and what the plan wants, as an
 * ordered list of batch writes. The order keeps every intermediate state consistent for the
 * programs: backends exist before a frontend counts them, and a frontend stops counting them
 * before they go.
 */
import type { BatchOp } from './bpftool.ts';
import { fromHexWords, toHexWords } from './encoding.ts';
import type { PlannedEntry } from './plan.ts';

/** What one map holds, by key id: the value's hex and the owning object. */
export type Shadow = Map<string, { value: string; owner: string }>;

/** Writes that bring one map from `current` to `desired`. */
export interface MapDiff {
  upserts: BatchOp[];
  deletes: BatchOp[];
}

/** Diffs one map; unchanged entries produce nothing. */
export function diffMap(pin: string, current: Shadow, desired: ReadonlyMap<string, PlannedEntry>): MapDiff {
  const upserts: BatchOp[] = [];
  const deletes: BatchOp[] = [];
  for (const [id, e] of desired) {
    if (current.get(id)?.value === toHexWords(e.value)) continue;
    upserts.push({ op: 'update', pin, key: e.key, value: e.value });
  }
  for (const id of current.keys()) {
    if (!desired.has(id)) deletes.push({ op: 'delete', pin, key: fromHexWords(id) });
  }
  return { upserts, deletes };
}

/** The batch for a whole node, in an order the programs can live with at every step. */
export function orderNodeOps(frontends: MapDiff, backends: MapDiff, routes: MapDiff): BatchOp[] {
  return [
    ...routes.upserts,
    ...backends.upserts,
    ...frontends.upserts,
    ...frontends.deletes,
    ...backends.deletes,
    ...routes.deletes,
  ];
}

/** The shadow of a map after `desired` has been written. */
export function shadowOf(desired: ReadonlyMap<string, PlannedEntry>): Shadow {
  const s: Shadow = new Map();
  for (const [id, e] of desired) s.set(id, { value: toHexWords(e.value), owner: e.owner });
  return s;
}

/** The owners (services) a shadow holds entries for. */
export function ownersOf(shadow: Shadow): Set<string> {
  return new Set([...shadow.values()].map((v) => v.owner));
}
