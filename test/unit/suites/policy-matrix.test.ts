import { describe, expect, it } from 'vitest';
import {
  describeDifferences,
  describeRetries,
  differences,
  expectMatrix,
  fillMatrix,
  harnessFailures,
  type MatrixPod,
  type MatrixPort,
  renderTruthTable,
  retryCells,
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

  it('never counts another pod answering as blocked, and leaves unprobed cells to the harness', () => {
    const seen = fillMatrix(pods, ports, (f, t) => (f === t || t.namespace !== 'x' ? 'ok' : 'timeout'));
    const odd = withCells(seen, [
      { from: pods[2]!, to: pods[0]!, port: ports[0]!, outcome: 'wrong' },
      { from: pods[3]!, to: pods[1]!, port: ports[0]!, outcome: 'other' },
    ]);
    expect(differences(denyIntoX, odd).map((d) => `${d.from.label}>${d.to.label} ${d.seen}`)).toEqual([
      'y/a>x/a wrong',
    ]);
    expect(harnessFailures(denyIntoX, odd).map((d) => `${d.from.label}>${d.to.label}`)).toEqual(['y/b>x/b']);
  });

  it('probes again only cells expected reached that timed out, never a leak', () => {
    const seen = fillMatrix(pods, ports, (f, t) => (f === t || t.namespace !== 'x' ? 'ok' : 'timeout'));
    const mixed = withCells(seen, [
      // A leak: expected blocked, answered. A slow answer: expected reached, timed out.
      { from: pods[2]!, to: pods[0]!, port: ports[0]!, outcome: 'ok' },
      { from: pods[0]!, to: pods[2]!, port: ports[0]!, outcome: 'timeout' },
      { from: pods[0]!, to: pods[3]!, port: ports[0]!, outcome: 'refused' },
    ]);
    expect(retryCells(denyIntoX, mixed).map((d) => `${d.from.label}>${d.to.label}`)).toEqual(['x/a>y/a']);
    expect(
      describeRetries([{ from: pods[0]!, to: pods[2]!, port: ports[0]!, first: 'timeout', second: 'ok' }]),
    ).toBe('x/a -> y/a tcp/80: timeout, then ok');
    expect(describeRetries([])).toBe('none');
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
