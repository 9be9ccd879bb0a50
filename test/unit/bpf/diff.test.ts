import { describe, expect, it } from 'vitest';
import { batchLine } from '../../../src/dataplane/bpf/bpftool.ts';
import {
  diffMap,
  orderNodeOps,
  ownersOf,
  releasedOwners,
  shadowOf,
} from '../../../src/dataplane/bpf/diff.ts';
import type { PlannedEntry } from '../../../src/dataplane/bpf/plan.ts';
import { keyId } from '../../../src/dataplane/bpf/plan.ts';

function entry(k: number, v: number, owner = 'ns/a'): [string, PlannedEntry] {
  const key = Uint8Array.from([k]);
  return [keyId(key), { key, value: Uint8Array.from([v]), owner }];
}

describe('diffMap / orderNodeOps', () => {
  it('writes nothing when the map already holds the plan', () => {
    const desired = new Map([entry(1, 1), entry(2, 2)]);
    expect(diffMap('/p', shadowOf(desired), desired)).toEqual({ upserts: [], deletes: [], released: [] });
  });

  it('updates changed values, adds new keys, deletes keys no longer wanted', () => {
    const current = shadowOf(new Map([entry(1, 1), entry(2, 2), entry(3, 3)]));
    const d = diffMap('/p', current, new Map([entry(1, 1), entry(2, 9), entry(4, 4)]));
    expect(d.upserts.map(batchLine)).toEqual([
      'map update pinned /p key hex 02 value hex 09',
      'map update pinned /p key hex 04 value hex 04',
    ]);
    expect(d.deletes.map(batchLine)).toEqual(['map delete pinned /p key hex 03']);
  });

  it('orders a node batch so that no frontend ever counts a missing backend', () => {
    const fe = diffMap('/fe', shadowOf(new Map([entry(9, 9)])), new Map([entry(1, 1)]));
    const be = diffMap('/be', shadowOf(new Map([entry(8, 8)])), new Map([entry(2, 2)]));
    const rt = diffMap('/rt', shadowOf(new Map([entry(7, 7)])), new Map([entry(3, 3)]));
    expect(orderNodeOps(fe, be, rt).map((o) => `${o.op} ${o.pin}`)).toEqual([
      'update /rt',
      'delete /fe',
      'update /be',
      'update /fe',
      'delete /be',
      'delete /rt',
    ]);
  });

  it('frees the room of a deleted service before a newcomer takes it', () => {
    const current = shadowOf(new Map([entry(1, 1, 'ns/old'), entry(2, 2, 'ns/stay')]));
    const desired = new Map([entry(2, 2, 'ns/stay'), entry(3, 3, 'ns/new')]);
    const gone = releasedOwners(current, desired);
    expect(gone).toEqual(new Set(['ns/old']));
    const beCur = shadowOf(new Map([entry(11, 1, 'ns/old'), entry(12, 2, 'ns/stay')]));
    const be = diffMap('/be', beCur, new Map([entry(12, 2, 'ns/stay'), entry(13, 3, 'ns/new')]), gone);
    const fe = diffMap('/fe', current, desired, gone);
    const rt = diffMap('/rt', new Map(), new Map());
    expect(orderNodeOps(fe, be, rt).map((o) => `${o.op} ${o.pin}`)).toEqual([
      'delete /fe',
      'delete /be',
      'update /be',
      'update /fe',
    ]);
  });

  it('keeps the backends of a service whose frontend key another service takes over until the update', () => {
    const current = shadowOf(new Map([entry(1, 1, 'ns/old')]));
    // Same key (a reused ClusterIP), new owner: the old backends must outlive the frontend update.
    const desired = new Map([entry(1, 2, 'ns/new')]);
    expect(releasedOwners(current, desired)).toEqual(new Set());
  });

  it('knows which services a shadow holds', () => {
    expect(ownersOf(shadowOf(new Map([entry(1, 1, 'x/a'), entry(2, 2, 'x/b'), entry(3, 3, 'x/a')])))).toEqual(
      new Set(['x/a', 'x/b']),
    );
  });
});
