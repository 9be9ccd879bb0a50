import { describe, expect, it } from 'vitest';
import { batchLine } from '../../../src/dataplane/bpf/bpftool.ts';
import { diffMap, orderNodeOps, ownersOf, shadowOf } from '../../../src/dataplane/bpf/diff.ts';
import type { PlannedEntry } from '../../../src/dataplane/bpf/plan.ts';
import { keyId } from '../../../src/dataplane/bpf/plan.ts';

function entry(k: number, v: number, owner = 'ns/a'): [string, PlannedEntry] {
  const key = Uint8Array.from([k]);
  return [keyId(key), { key, value: Uint8Array.from([v]), owner }];
}

describe('diffMap / orderNodeOps', () => {
  it('writes nothing when the map already holds the plan', () => {
    const desired = new Map([entry(1, 1), entry(2, 2)]);
    expect(diffMap('/p', shadowOf(desired), desired)).toEqual({ upserts: [], deletes: [] });
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
      'update /be',
      'update /fe',
      'delete /fe',
      'delete /be',
      'delete /rt',
    ]);
  });

  it('knows which services a shadow holds', () => {
    expect(ownersOf(shadowOf(new Map([entry(1, 1, 'x/a'), entry(2, 2, 'x/b'), entry(3, 3, 'x/a')])))).toEqual(
      new Set(['x/a', 'x/b']),
    );
  });
});
