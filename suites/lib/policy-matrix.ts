/**
 * The reachability matrix of the policy suite as plain data: which pod should reach which pod on
 * which port, what was seen, where the two differ, and the truth table a person reads when they
 * do. No I/O here, so the comparison and the rendering are unit-tested.
 */

/** A pod of the matrix: `label` is how tables name it (`x/a`), `target` the pod's own name. */
export interface MatrixPod {
  label: string;
  namespace: string;
  /** The pod's `pod:` label (`a`, `b`, `c`). */
  pod: string;
  /** `namespace/name` the cluster knows the pod by. */
  key: string;
  /** The pod's generated name, which its echo server answers `/hostname` with. */
  name: string;
  ip: string;
}

/** A destination port and protocol probed on every pod. */
export interface MatrixPort {
  protocol: 'tcp' | 'udp';
  port: number;
}

/**
 * What one probe came to: `ok` when the target itself answered; otherwise how it failed
 * (`timeout`, `refused`, `reset`, `unreachable`, `wrong` for an answer from another pod, or
 * `other` when the probe itself could not be made or its failure not be told).
 */
export type Outcome = string;

/** One matrix: an outcome (or expectation) per port, source and destination. */
export interface Matrix {
  pods: readonly MatrixPod[];
  ports: readonly MatrixPort[];
  /** `cells[port][from][to]`. */
  cells: Outcome[][][];
}

/** The outcome meaning "reached". */
export const REACHED: Outcome = 'ok';
/** The outcome an expectation uses for "must not be reached". */
export const BLOCKED: Outcome = 'blocked';
/** Another pod answered: never what any expectation allows. */
export const WRONG: Outcome = 'wrong';
/** The probe could not be made or its failure not be classified: the harness's problem, not a verdict. */
export const HARNESS: Outcome = 'other';
/** The outcomes that show the network kept the packets from the target. */
export const NOT_REACHED: ReadonlySet<Outcome> = new Set(['timeout', 'refused', 'reset', 'unreachable']);

/** Whether `from` should reach `to` on `port`. */
export type ReachRule = (from: MatrixPod, to: MatrixPod, port: MatrixPort) => boolean;

/** `tcp/80`. */
export function portLabel(p: MatrixPort): string {
  return `${p.protocol}/${p.port}`;
}

/**
 * The expected matrix under a rule. A pod reaching its own address never leaves its namespace
 * (the kernel loops it back), so no policy applies to it: self cells are always reachable, as
 * in Kubernetes' own matrix tests.
 */
export function expectMatrix(
  pods: readonly MatrixPod[],
  ports: readonly MatrixPort[],
  rule: ReachRule,
): Matrix {
  return {
    pods,
    ports,
    cells: ports.map((port) =>
      pods.map((from) => pods.map((to) => (from === to || rule(from, to, port) ? REACHED : BLOCKED))),
    ),
  };
}

/** A matrix filled from a function of the cell (how probe results are laid out). */
export function fillMatrix(
  pods: readonly MatrixPod[],
  ports: readonly MatrixPort[],
  outcome: (from: MatrixPod, to: MatrixPod, port: MatrixPort) => Outcome,
): Matrix {
  return {
    pods,
    ports,
    cells: ports.map((port) => pods.map((from) => pods.map((to) => outcome(from, to, port)))),
  };
}

/** One cell where what was seen is not what was expected. */
export interface Difference {
  from: MatrixPod;
  to: MatrixPod;
  port: MatrixPort;
  expected: Outcome;
  seen: Outcome;
}

function cell(m: Matrix, p: number, f: number, t: number): Outcome {
  return m.cells[p]?.[f]?.[t] ?? '?';
}

/**
 * Whether an outcome satisfies an expectation: reached means the target answered; blocked means
 * the network kept the probe from it. Another pod answering satisfies neither.
 */
export function satisfies(expected: Outcome, seen: Outcome): boolean {
  return expected === REACHED ? seen === REACHED : NOT_REACHED.has(seen);
}

/**
 * Whether a differing cell may be probed again: only one expected reached that timed out (a slow
 * answer is not a drop). A blocked cell that answered is a leak the first time.
 */
export function retryable(expected: Outcome, seen: Outcome): boolean {
  return expected === REACHED && seen === 'timeout';
}

/** The cells where `keep(expected, seen)` holds, in matrix order. */
function cellsWhere(
  expected: Matrix,
  seen: Matrix,
  keep: (expected: Outcome, seen: Outcome) => boolean,
): Difference[] {
  const out: Difference[] = [];
  expected.ports.forEach((port, p) => {
    expected.pods.forEach((from, f) => {
      expected.pods.forEach((to, t) => {
        const e = cell(expected, p, f, t);
        const s = cell(seen, p, f, t);
        if (keep(e, s)) out.push({ from, to, port, expected: e, seen: s });
      });
    });
  });
  return out;
}

/** The cells where `seen` does not satisfy `expected` (both over the same pods and ports). */
export function differences(expected: Matrix, seen: Matrix): Difference[] {
  return cellsWhere(expected, seen, (e, s) => s !== HARNESS && !satisfies(e, s));
}

/** The cells the harness could not probe: no verdict can be drawn from them. */
export function harnessFailures(expected: Matrix, seen: Matrix): Difference[] {
  return cellsWhere(expected, seen, (_e, s) => s === HARNESS);
}

/** The differing cells worth a second look (see {@link retryable}). */
export function retryCells(expected: Matrix, seen: Matrix): Difference[] {
  return cellsWhere(expected, seen, retryable);
}

/** Replaces the given cells of a matrix (a second look at the cells that differed). */
export function withCells(
  m: Matrix,
  updates: readonly { from: MatrixPod; to: MatrixPod; port: MatrixPort; outcome: Outcome }[],
): Matrix {
  const cells = m.cells.map((rows) => rows.map((row) => [...row]));
  for (const u of updates) {
    const p = m.ports.indexOf(u.port);
    const f = m.pods.indexOf(u.from);
    const t = m.pods.indexOf(u.to);
    const row = cells[p]?.[f];
    if (row && t >= 0) row[t] = u.outcome;
  }
  return { ...m, cells };
}

/** One character per outcome: `.` reached, `X` timed out / blocked, `R` refused or reset, `W` wrong pod, `?` other. */
export function symbol(o: Outcome): string {
  switch (o) {
    case REACHED:
      return '.';
    case BLOCKED:
    case 'timeout':
      return 'X';
    case 'refused':
    case 'reset':
      return 'R';
    case 'wrong':
      return 'W';
    default:
      return '?';
  }
}

/**
 * The truth table, one block per port: rows are sources, columns destinations, expected on the
 * left and seen on the right, every seen cell that differs marked with `*`.
 */
export function renderTruthTable(expected: Matrix, seen: Matrix): string {
  const labels = expected.pods.map((p) => p.label);
  const width = Math.max(3, ...labels.map((l) => l.length)) + 1;
  const head = labels.map((l) => l.padStart(width)).join('');
  const rowHead = Math.max(4, ...labels.map((l) => l.length));
  const lines: string[] = [
    'rows: from, columns: to; . reached, X no answer (timeout), R refused/reset, W another pod answered, ? other; * differs from expected',
  ];
  expected.ports.forEach((port, p) => {
    lines.push('', `${portLabel(port)}: expected | seen`);
    const seenHead = labels.map((l) => `${l} `.padStart(width + 1)).join('');
    lines.push(`${' '.repeat(rowHead)}${head} |${seenHead}`);
    expected.pods.forEach((from, f) => {
      const exp = expected.pods.map((_, t) => symbol(cell(expected, p, f, t)).padStart(width)).join('');
      const got = expected.pods
        .map((_, t) => {
          const e = cell(expected, p, f, t);
          const s = cell(seen, p, f, t);
          return `${symbol(s)}${satisfies(e, s) ? ' ' : '*'}`.padStart(width + 1);
        })
        .join('');
      lines.push(`${from.label.padEnd(rowHead)}${exp} |${got}`);
    });
  });
  return lines.join('\n');
}

/** `x/a -> y/b tcp/81: expected reached, seen timeout`, one line per difference. */
export function describeDifferences(diffs: readonly Difference[], limit = 20): string {
  const shown = diffs
    .slice(0, limit)
    .map(
      (d) =>
        `${d.from.label} -> ${d.to.label} ${portLabel(d.port)}: expected ${d.expected === REACHED ? 'reached' : 'blocked'}, seen ${d.seen}`,
    );
  if (diffs.length > limit) shown.push(`... and ${diffs.length - limit} more`);
  return shown.join('\n');
}

/** A cell expected reached that timed out, probed a second time: both outcomes are kept. */
export interface Retry {
  from: MatrixPod;
  to: MatrixPod;
  port: MatrixPort;
  first: Outcome;
  second: Outcome;
}

/** `x/a -> y/b tcp/80: timeout, then ok`, one line per cell probed again; `none` without any. */
export function describeRetries(retries: readonly Retry[]): string {
  if (retries.length === 0) return 'none';
  return retries
    .map((r) => `${r.from.label} -> ${r.to.label} ${portLabel(r.port)}: ${r.first}, then ${r.second}`)
    .join('\n');
}

/** How many cells a matrix has. */
export function cellCount(m: Matrix): number {
  return m.ports.length * m.pods.length * m.pods.length;
}
