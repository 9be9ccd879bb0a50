/**
 * Pure diff between what a node's maps hold (as last programmed) and what the plan wants, as an
 * ordered list of batch writes. The order keeps every intermediate state consistent for the
 * programs: backends exist before a frontend counts them, and a frontend stops counting them
 * before they go. It also frees room before taking it, so that a plan that fits the maps never
 * fails half-way because of a full map (a refused Service taking the place of a deleted one).
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
  /** Deletes of entries whose owner is released (nothing of it is referenced any more): safe first. */
  released: BatchOp[];
}

/**
 * Diffs one map; unchanged entries produce nothing. Deletes of entries owned by one of `release`
 * go to `released` instead of `deletes`.
 */
export function diffMap(
  pin: string,
  current: Shadow,
  desired: ReadonlyMap<string, PlannedEntry>,
  release: ReadonlySet<string> = new Set(),
): MapDiff {
  const upserts: BatchOp[] = [];
  const deletes: BatchOp[] = [];
  const released: BatchOp[] = [];
  for (const [id, e] of desired) {
    if (current.get(id)?.value === toHexWords(e.value)) continue;
    upserts.push({ op: 'update', pin, key: e.key, value: e.value });
  }
  for (const [id, { owner }] of current) {
    if (desired.has(id)) continue;
    (release.has(owner) ? released : deletes).push({ op: 'delete', pin, key: fromHexWords(id) });
  }
  return { upserts, deletes, released };
}

/**
 * The batch for a whole node, in an order the programs can live with at every step. Frontends
 * that go away go first (a deleted frontend references nothing), then the backends of released
 * Services, so that newcomers find the room the plan counted on.
 */
export function orderNodeOps(frontends: MapDiff, backends: MapDiff, routes: MapDiff): BatchOp[] {
  return [
    ...routes.upserts,
    ...frontends.released,
    ...frontends.deletes,
    ...backends.released,
    ...backends.upserts,
    ...frontends.upserts,
    ...backends.deletes,
    ...routes.deletes,
  ];
}

/**
 * Services whose entries may be deleted before anything is written: programmed now, not in the
 * plan, and none of their frontend keys taken over by another Service (whose update must land
 * before the old backends go).
 */
export function releasedOwners(current: Shadow, desired: ReadonlyMap<string, PlannedEntry>): Set<string> {
  const staying = new Set([...desired.values()].map((e) => e.owner));
  const out = new Set<string>();
  const kept = new Set<string>();
  for (const [id, { owner }] of current) {
    if (staying.has(owner) || owner === '?') continue;
    if (desired.has(id)) kept.add(owner);
    else out.add(owner);
  }
  for (const o of kept) out.delete(o);
  return out;
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
