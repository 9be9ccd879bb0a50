/**
 * What a self-test found, fault by fault, and the table a person reads. Pure, so the verdict
 * rules and the rendering are checked without a cluster.
 */
import type { Pass } from '../report/model.ts';
import type { Fault } from './fault.ts';

/** How one fault came out. Only `caught` is a success. */
export type FaultOutcome =
  /** An expected requirement failed (non-conformant). */
  | 'caught'
  /** The expected requirements ran and none failed. */
  | 'missed'
  /** The faulty source did not build (or load): the suites never met the bug. */
  | 'build failed'
  /** The expected requirements could not decide (errors, skips) and none failed. */
  | 'no verdict'
  /** An expected requirement failed without the fault too: the fault proves nothing. */
  | 'baseline failed';

/** One row of the table. */
export interface FaultResult {
  fault: Pick<Fault, 'id' | 'summary' | 'catches' | 'mode'>;
  outcome: FaultOutcome;
  /** Requirement ids that were non-conformant in the fault's run (expected or not). */
  failing: string[];
  /** Requirement ids that ended in an error. */
  errored: string[];
  /** The first failure's message (or why there was no verdict), one line. */
  message: string;
  durationMs: number;
}

/** The first line of a text. */
function firstLine(text: string): string {
  return text.split('\n')[0]?.trim() ?? '';
}

/** Ids of the expected requirements the clean source fails (no fault can be caught by those). */
export function baselineFailures(pass: Pass, ids: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  const reqs = pass.areas.flatMap((a) => a.requirements);
  for (const id of ids) {
    const r = reqs.find((x) => x.id === id);
    if (!r) out.set(id, `${id} did not run`);
    else if (r.verdict === 'non-conformant' || r.verdict === 'error') {
      const seen = r.failure?.seen ? ` (seen: ${firstLine(r.failure.seen)})` : '';
      out.set(id, `${id} ${r.verdict}: ${firstLine(r.failure?.message ?? r.reason ?? '')}${seen}`);
    }
  }
  for (const p of [...pass.problems, ...pass.areas.flatMap((a) => a.problems)])
    for (const id of ids) if (!out.has(id)) out.set(id, `${id}: ${firstLine(p)}`);
  return out;
}

/**
 * Judges one fault's pass: caught only when an expected requirement that holds without the
 * fault is non-conformant with it; missed when every such requirement held.
 */
export function judgeFault(
  fault: FaultResult['fault'],
  pass: Pass,
  baseline: ReadonlyMap<string, string>,
  durationMs: number,
): FaultResult {
  const reqs = pass.areas.flatMap((a) => a.requirements);
  const failing = reqs.filter((r) => r.verdict === 'non-conformant').map((r) => r.id);
  const errored = reqs.filter((r) => r.verdict === 'error').map((r) => r.id);
  const base = { fault, failing, errored, durationMs };
  const usable = fault.catches.filter((id) => !baseline.has(id));
  if (usable.length === 0) {
    return {
      ...base,
      outcome: 'baseline failed',
      message: `without the fault: ${baseline.get(fault.catches[0]!)}`,
    };
  }
  const mine = reqs.filter((r) => usable.includes(r.id));
  const hit = mine.find((r) => r.verdict === 'non-conformant');
  if (hit)
    return { ...base, outcome: 'caught', message: `${hit.id}: ${firstLine(hit.failure?.message ?? '')}` };
  if (mine.length === usable.length && mine.every((r) => r.verdict === 'conformant')) {
    return { ...base, outcome: 'missed', message: `${usable.join(', ')} held` };
  }
  const why = mine.find((r) => r.verdict !== 'conformant');
  const problems = [...pass.problems, ...pass.areas.flatMap((a) => a.problems)];
  const message = why
    ? `${why.id} ${why.verdict}: ${firstLine(why.failure?.message ?? why.reason ?? '')}`
    : firstLine(problems[0] ?? `${usable.join(', ')} did not run`);
  return { ...base, outcome: 'no verdict', message };
}

/** A fault whose source would not build. */
export function buildFailure(fault: FaultResult['fault'], message: string, durationMs: number): FaultResult {
  return {
    fault,
    outcome: 'build failed',
    failing: [],
    errored: [],
    message: firstLine(message),
    durationMs,
  };
}

/** Whether the self-test passed: every fault caught. */
export function allCaught(results: readonly FaultResult[]): boolean {
  return results.length > 0 && results.every((r) => r.outcome === 'caught');
}

/** Cuts a cell to a width, marking the cut. */
function cell(text: string, width: number): string {
  return text.length <= width ? text.padEnd(width) : `${text.slice(0, width - 1)}…`;
}

/** The table: fault, expected ids, failing ids, caught or missed, the first failure message. */
export function renderTable(results: readonly FaultResult[], messageWidth = 100): string {
  const rows = results.map((r) => [
    r.fault.id,
    `${r.fault.mode.dataplane}/${r.fault.mode.serviceMode}`,
    r.fault.catches.join(','),
    [...r.failing, ...r.errored.map((id) => `${id}(error)`)].join(',') || '-',
    r.outcome,
    r.message,
  ]);
  const head = ['FAULT', 'MODE', 'EXPECTED', 'FAILING', 'RESULT', 'FIRST FAILURE'];
  const widths = head.map((h, i) =>
    i === head.length - 1 ? messageWidth : Math.max(h.length, ...rows.map((row) => row[i]!.length)),
  );
  const line = (cols: readonly string[]) =>
    cols
      .map((c, i) => (i === cols.length - 1 ? cell(c, widths[i]!).trimEnd() : cell(c, widths[i]!)))
      .join('  ');
  return [line(head), ...rows.map(line)].join('\n');
}

/** `15 of 16 faults caught in 4m 12s`, and which were not. */
export function summaryLine(results: readonly FaultResult[], ms: number): string {
  const caught = results.filter((r) => r.outcome === 'caught').length;
  const s = Math.round(ms / 1000);
  const time = s >= 60 ? `${Math.floor(s / 60)}m ${s % 60}s` : `${s}s`;
  const not = results.filter((r) => r.outcome !== 'caught').map((r) => `${r.fault.id} (${r.outcome})`);
  return `${caught} of ${results.length} faults caught in ${time}${not.length > 0 ? `; not caught: ${not.join(', ')}` : ''}`;
}
