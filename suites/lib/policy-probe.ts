/**
 * Probing the policy suite's reachability matrix on a cluster: every source pod probes every
 * pod on every port at once; only a cell expected reached that timed out gets a second, patient
 * look (a leak or another pod answering fails at once); a mismatch fails with the whole truth
 * table, and a cell the harness could not probe is an error, never a verdict.
 */
import type { Cluster } from '../../src/cluster/types.ts';
import { ConformanceFailure, type EvidenceTarget, recordEvidence } from '../../src/report/evidence.ts';
import type { ProbeRequest, ProbeResult } from '../../src/workload/types.ts';
import {
  cellCount,
  describeDifferences,
  describeRetries,
  differences,
  expectMatrix,
  fillMatrix,
  harnessFailures,
  type Matrix,
  type MatrixPod,
  type MatrixPort,
  type Outcome,
  type ReachRule,
  type Retry,
  renderTruthTable,
  retryCells,
  withCells,
} from './policy-matrix.ts';
import { MATRIX_NAMESPACES, MATRIX_PODS } from './policy-objects.ts';

/** Timeout of a matrix probe: long for an answer on this topology, short enough for a drop. */
export const MATRIX_PROBE_MS = 600;
/** Timeout of the second look at a cell expected reached that timed out. */
export const RECHECK_PROBE_MS = 2000;
/** Probes in flight per source pod. */
export const MATRIX_CONCURRENCY = 16;

/** The matrix pods as the cluster has them (after the matrix objects were applied). */
export function matrixPods(c: Cluster): MatrixPod[] {
  const pods = c.topology().pods;
  return MATRIX_NAMESPACES.flatMap((ns) =>
    MATRIX_PODS.map((p) => {
      const found = pods.filter((x) => x.namespace === ns && x.labels.pod === p);
      if (found.length !== 1) {
        throw new Error(`expected one pod with label pod=${p} in namespace ${ns}, found ${found.length}`);
      }
      const info = found[0]!;
      return {
        label: `${ns}/${p}`,
        namespace: ns,
        pod: p,
        key: `${ns}/${info.name}`,
        name: info.name,
        ip: info.ip,
      };
    }),
  );
}

/** The request that probes one cell: HTTP `/hostname` for TCP (the answer names the pod), a datagram for UDP. */
export function cellRequest(to: MatrixPod, port: MatrixPort, timeoutMs: number): ProbeRequest {
  return port.protocol === 'tcp'
    ? { kind: 'http', host: to.ip, port: port.port, path: '/hostname', timeoutMs }
    : { kind: 'udp', host: to.ip, port: port.port, payload: 'hostname', timeoutMs };
}

/** What a probe of `to` came to, as a matrix outcome. */
export function outcomeOf(r: ProbeResult, to: MatrixPod): Outcome {
  if (r.ok) return (r.body ?? '').trim() === to.name ? 'ok' : 'wrong';
  return r.error ?? 'other';
}

interface Cell {
  from: MatrixPod;
  to: MatrixPod;
  port: MatrixPort;
}

/** Probes the given cells, every source in parallel; returns the outcome of each cell. */
async function probeCells(
  c: Cluster,
  cells: readonly Cell[],
  timeoutMs: number,
): Promise<(Cell & { outcome: Outcome })[]> {
  const bySource = new Map<MatrixPod, Cell[]>();
  for (const cell of cells) bySource.set(cell.from, [...(bySource.get(cell.from) ?? []), cell]);
  const done = await Promise.all(
    [...bySource].map(async ([from, mine]) => {
      const results = await c.probes(
        from.key,
        mine.map((x) => cellRequest(x.to, x.port, timeoutMs)),
        MATRIX_CONCURRENCY,
      );
      return mine.map((x, i) => ({ ...x, outcome: results[i] ? outcomeOf(results[i], x.to) : 'other' }));
    }),
  );
  return done.flat();
}

/** Probes the whole matrix once. */
export async function probeMatrix(
  c: Cluster,
  pods: readonly MatrixPod[],
  ports: readonly MatrixPort[],
  timeoutMs = MATRIX_PROBE_MS,
): Promise<Matrix> {
  const cells = ports.flatMap((port) => pods.flatMap((from) => pods.map((to) => ({ from, to, port }))));
  const seen = await probeCells(c, cells, timeoutMs);
  const outcome = new Map(
    seen.map((s) => [`${s.from.label} ${s.to.label} ${s.port.protocol}/${s.port.port}`, s.outcome]),
  );
  return fillMatrix(
    pods,
    ports,
    (f, t, p) => outcome.get(`${f.label} ${t.label} ${p.protocol}/${p.port}`) ?? 'other',
  );
}

/**
 * Probes the matrix and requires it to match the rule. Only cells expected reached that timed
 * out are probed once more, with a longer timeout (a slow answer is not a drop), and both of
 * their outcomes are recorded; a cell expected blocked that answered, or one another pod answered,
 * fails as first seen. What still differs fails the test with the truth table, which is recorded
 * as evidence either way; a cell the harness could not probe makes the test an error.
 */
export async function expectReachability(
  ctx: EvidenceTarget,
  c: Cluster,
  what: string,
  ports: readonly MatrixPort[],
  rule: ReachRule,
): Promise<void> {
  const pods = matrixPods(c);
  const expected = expectMatrix(pods, ports, rule);
  let seen = await probeMatrix(c, pods, ports);
  const retry = retryCells(expected, seen);
  const retries: Retry[] = [];
  if (retry.length > 0) {
    const again = await probeCells(c, retry, RECHECK_PROBE_MS);
    for (const a of again) {
      const before = retry.find((r) => r.from === a.from && r.to === a.to && r.port === a.port);
      retries.push({ from: a.from, to: a.to, port: a.port, first: before?.seen ?? '?', second: a.outcome });
    }
    seen = withCells(seen, again);
  }
  const diffs = differences(expected, seen);
  const table = renderTruthTable(expected, seen);
  recordEvidence(ctx, {
    kind: 'text',
    label: `reachability: ${what} (${cellCount(expected)} cells, ${retries.length} probed again, ${diffs.length} differ)`,
    text: `${table}\n\nprobed again (expected reached, timed out at first):\n${describeRetries(retries)}`,
  });
  if (diffs.length > 0) {
    throw new ConformanceFailure(
      `${what}: ${diffs.length} of ${cellCount(expected)} cells differ from the expected reachability\n${table}`,
      {
        expected: `the expected matrix (left-hand tables)`,
        seen: describeDifferences(diffs),
        where: `pods of namespaces ${MATRIX_NAMESPACES.join(', ')}: ${pods.map((p) => `${p.label}=${p.key} ${p.ip}`).join(', ')}`,
      },
    );
  }
  // A leak seen is a verdict whatever else happened; cells nobody could probe leave none.
  const unprobed = harnessFailures(expected, seen);
  if (unprobed.length > 0) {
    throw new Error(
      `${what}: the harness could not probe ${unprobed.length} cell(s), no verdict: ${describeDifferences(unprobed, 5)}`,
    );
  }
}
