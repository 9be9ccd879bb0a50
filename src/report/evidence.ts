/**
 * What a suite calls to prove its point: attach evidence to the running test and fail with a
 * structured message (expected / seen / where). The reporter reads both back.
 *
 * To skip with a reason the report can show, call `ctx.skip('why')` in the test or in a
 * `beforeEach((ctx) => ...)`; a skip without a note is reported as "no reason given".
 */
import type { ProbeResult } from '../workload/types.ts';
import type { CounterEvidence, EchoEvidence, Evidence } from './model.ts';

/** What dpconform keeps in a test's `task.meta`. */
export interface ConformanceMeta {
  evidence: Evidence[];
}

declare module 'vitest' {
  interface TaskMeta {
    dpconform?: ConformanceMeta;
  }
}

/** Anything carrying vitest's task meta: the test context's `task`, or the context itself. */
export type EvidenceTarget = { meta: object } | { task: { meta: object } };

function metaOf(target: EvidenceTarget): { dpconform?: ConformanceMeta } {
  return ('task' in target ? target.task.meta : target.meta) as { dpconform?: ConformanceMeta };
}

/** Attaches one item of evidence to the running test (shown with its verdict, pass or fail). */
export function recordEvidence(target: EvidenceTarget, item: Evidence): void {
  const meta = metaOf(target);
  meta.dpconform ??= { evidence: [] };
  // The meta travels to the reporter as JSON: keep only what survives that trip.
  meta.dpconform.evidence.push(JSON.parse(JSON.stringify(item)) as Evidence);
}

/** The evidence recorded on a task so far. */
export function evidenceOf(target: EvidenceTarget): Evidence[] {
  return metaOf(target).dpconform?.evidence ?? [];
}

/** Details of a conformance failure. */
export interface FailureDetails {
  expected?: string;
  seen?: string;
  /** Where to look: node, interface, capture. */
  where?: string;
}

/**
 * The system under test did not behave as required. Reported as `non-conformant`; any other
 * error a test throws (other than a failed `expect`) is reported as `error`.
 */
export class ConformanceFailure extends Error {
  readonly expected: string | undefined;
  readonly seen: string | undefined;
  readonly where: string | undefined;

  constructor(message: string, details: FailureDetails = {}) {
    super(message);
    this.name = 'ConformanceFailure';
    this.expected = details.expected;
    this.seen = details.seen;
    this.where = details.where;
  }
}

/** Throws a {@link ConformanceFailure} unless the condition holds. */
export function requireThat(
  condition: boolean,
  message: string,
  details: FailureDetails = {},
): asserts condition {
  if (!condition) throw new ConformanceFailure(message, details);
}

/** Evidence for a counter read before and after the traffic. */
export function counterEvidence(
  name: string,
  before: number,
  after: number,
  extra: Pick<CounterEvidence, 'where' | 'label'> = {},
): CounterEvidence {
  return { kind: 'counter', name, before, after, delta: after - before, ...extra };
}

/** Evidence for a probe and what the echo server answered. */
export function echoEvidence(
  from: string,
  result: ProbeResult,
  extra: Pick<EchoEvidence, 'sourceSeen' | 'label'> = {},
): EchoEvidence {
  const item: EchoEvidence = {
    kind: 'echo',
    from,
    target: result.target,
    protocol: result.kind,
    ok: result.ok,
  };
  if (result.body !== undefined) item.reply = result.body.trim().slice(0, 500);
  if (result.error !== undefined) {
    item.error = result.errorMessage ? `${result.error} (${result.errorMessage})` : result.error;
  }
  item.totalMs = Math.round(result.totalMs);
  return { ...item, ...extra };
}
