import { describe, expect, it } from 'vitest';
import {
  describeDifferences,
  differences,
  expectMatrix,
  fillMatrix,
  type MatrixPod,
  type MatrixPort,
  renderTruthTable,
  withCells,
} from '../../../suites/lib/policy-matrix.ts';

const pods: MatrixPod[] = ['x', 'y'].flatMap((ns) =>
  ['a', 'b'].map((p) => ({
    label: `${ns}/${p}`,
    namespace: ns,
    pod: p,
    key: `${ns}/${p}-1`,
    name: `${p}-1`,
    ip: '10.0.0.1',
  })),
);
const ports: MatrixPort[] = [
  { protocol: 'tcp', port: 80 },
  { protocol: 'udp', port: 80 },
];
const denyIntoX = expectMatrix(pods, ports, (_f, t) => t.namespace !== 'x');

describe('reachability matrix', () => {
  it('expects a pod to reach itself whatever the rule says', () => {
    const none = expectMatrix(pods, ports, () => false);
    expect(none.cells[0]).toEqual([
      ['ok', 'blocked', 'blocked', 'blocked'],
      ['blocked', 'ok', 'blocked', 'blocked'],
      ['blocked', 'blocked', 'ok', 'blocked'],
      ['blocked', 'blocked', 'blocked', 'ok'],
    ]);
  });

  it('counts any failure as blocked and only an answer from the target as reached', () => {
    const seen = fillMatrix(pods, ports, (f, t) => (f === t || t.namespace !== 'x' ? 'ok' : 'refused'));
    expect(differences(denyIntoX, seen)).toEqual([]);
    const wrong = withCells(seen, [{ from: pods[2]!, to: pods[3]!, port: ports[1]!, outcome: 'wrong' }]);
    expect(differences(denyIntoX, wrong).map((d) => `${d.from.label}>${d.to.label} ${d.seen}`)).toEqual([
      'y/a>y/b wrong',
    ]);
  });

  it('lists the differing cells and marks them in the truth table', () => {
    const seen = fillMatrix(pods, ports, () => 'ok');
    const diffs = differences(denyIntoX, seen);
    // y/* -> x/* (4 cells) and x/a <-> x/b (2 cells) on each of the 2 ports.
    expect(diffs).toHaveLength(12);
    expect(describeDifferences(diffs, 2)).toBe(
      'x/a -> x/b tcp/80: expected blocked, seen ok\nx/b -> x/a tcp/80: expected blocked, seen ok\n... and 10 more',
    );
    const table = renderTruthTable(denyIntoX, seen);
    const row = table.split('\n').find((l) => l.startsWith('y/a'));
    expect(row).toBe('y/a    X   X   .   . |   .*   .*   .    . ');
    expect(table).toContain('udp/80: expected | seen');
    expect(table.match(/\*/g)?.length).toBe(12 + 1);
  });
});
