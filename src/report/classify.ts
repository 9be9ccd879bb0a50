/**
 * Pure rules that turn what vitest knows about a test (its name, file, state, errors, skip note)
 * into the report's words: area, requirement id and statement, verdict, failure.
 */
import { basename, relative } from 'node:path';
import type { Failure, Verdict } from './model.ts';

/** The areas in the order a report lists them; any other area follows, alphabetically. */
export const AREA_ORDER: readonly string[] = [
  'nodeport',
  'loadbalancer',
  'dsr',
  'source-ip',
  'policy',
  'map-full',
  'rollback',
  'host-protection',
  'mtu',
  'felix',
  'datapath',
  'performance',
];

/** Orders area names: known areas first in {@link AREA_ORDER}, the rest alphabetically. */
export function compareAreas(a: string, b: string): number {
  const ia = AREA_ORDER.indexOf(a);
  const ib = AREA_ORDER.indexOf(b);
  if (ia !== -1 || ib !== -1) return (ia === -1 ? Infinity : ia) - (ib === -1 ? Infinity : ib);
  return a.localeCompare(b);
}

/** The area a suite file covers: `suites/source-ip.test.ts` -> `source-ip`. */
export function areaFromFile(file: string): string {
  return basename(file)
    .replace(/\.(test|spec)\.[cm]?[jt]sx?$/, '')
    .replace(/\.[cm]?[jt]sx?$/, '');
}

/** Stands in for the id of a test whose name does not start with one. */
export const MISSING_ID = '(no id)';

// `NP-003`, `SRC-IP-001`, `MAPFULL-002b`: letters, then dash-separated parts ending in a number.
const NAMED = /^\s*([A-Z][A-Z0-9]*(?:-[A-Z0-9]+)*-\d+[a-z]?)\s*:\s*(\S.*?)\s*$/s;

/** Splits `NP-003: a NodePort answers on every node's IP` into id and statement. */
export function parseTestName(name: string): { id: string; statement: string } {
  const m = NAMED.exec(name);
  if (m?.[1] && m[2]) return { id: m[1], statement: m[2] };
  return { id: MISSING_ID, statement: name.trim() };
}

/** The parts of a serialised error the report reads. */
export interface ErrorLike {
  name?: string;
  message: string;
  expected?: unknown;
  actual?: unknown;
  stacks?: ReadonlyArray<{ file: string; line: number; column: number }>;
  [key: string]: unknown;
}

/** True for an error that says "the behaviour was not as required" rather than "could not check". */
export function isConformanceError(error: ErrorLike): boolean {
  const name = error.name ?? '';
  return name === 'ConformanceFailure' || /AssertionError$/.test(name);
}

function text(value: unknown, limit = 4000): string | undefined {
  if (value === undefined || value === null) return undefined;
  const s = typeof value === 'string' ? value : JSON.stringify(value);
  if (s === undefined) return undefined;
  return s.length > limit ? `${s.slice(0, limit)}…` : s;
}

/** The first line of a message, for one-line reasons. */
export function firstLine(message: string): string {
  return (
    message
      .split('\n')
      .map((l) => l.trim())
      .find((l) => l !== '') ?? ''
  );
}

/** Builds the report's failure from a test's errors (the first one decides; the others are listed). */
export function failureFrom(errors: readonly ErrorLike[], root?: string): Failure {
  const [first, ...rest] = errors;
  if (!first) return { message: 'failed without an error' };
  const failure: Failure = { message: first.message };
  if (first.name) failure.type = first.name;
  if (first.name === 'ConformanceFailure') {
    assign(failure, 'expected', text(first.expected));
    assign(failure, 'seen', text(first.seen));
    assign(failure, 'where', text(first.where));
  } else if (isConformanceError(first)) {
    assign(failure, 'expected', text(first.expected));
    assign(failure, 'seen', text(first.actual));
  } else if (first.name === 'CommandError') {
    // The command line is already in the message; what it printed is what a person needs next.
    assign(failure, 'seen', text(first.stderr, 2000) || undefined);
  }
  const frame = first.stacks?.[0];
  if (frame) {
    const file = root ? relative(root, frame.file) : frame.file;
    failure.source = `${file}:${frame.line}:${frame.column}`;
  }
  if (rest.length > 0) {
    failure.message += `\n…and ${rest.length} more: ${rest.map((e) => firstLine(e.message)).join(' | ')}`;
  }
  return failure;
}

function assign(failure: Failure, key: 'expected' | 'seen' | 'where', value: string | undefined): void {
  if (value !== undefined && value !== '') failure[key] = value;
}

/** What vitest said about a finished test, reduced to what classification needs. */
export type CaseOutcome =
  | { state: 'passed' }
  | { state: 'failed'; errors: readonly ErrorLike[] }
  | {
      state: 'skipped';
      note?: string | undefined;
      mode: 'run' | 'only' | 'skip' | 'todo';
      /** Errors of the enclosing suites/module: a failed `beforeAll` skips the tests under it. */
      setupErrors: readonly ErrorLike[];
    }
  | { state: 'pending' };

/** A requirement's verdict, reason and failure from one test's outcome. */
export function classify(
  outcome: CaseOutcome,
  root?: string,
): { verdict: Verdict; reason?: string; failure?: Failure } {
  switch (outcome.state) {
    case 'passed':
      return { verdict: 'conformant' };
    case 'failed': {
      const failure = failureFrom(outcome.errors, root);
      const first = outcome.errors[0];
      if (first && isConformanceError(first)) return { verdict: 'non-conformant', failure };
      return { verdict: 'error', reason: firstLine(failure.message), failure };
    }
    case 'skipped': {
      if (outcome.note) return { verdict: 'skipped', reason: outcome.note };
      if (outcome.mode === 'run' && outcome.setupErrors.length > 0) {
        // vitest marks the tests under a failed beforeAll as skipped; they were never checked.
        const failure = failureFrom(outcome.setupErrors, root);
        return { verdict: 'error', reason: `setup failed: ${firstLine(failure.message)}`, failure };
      }
      if (outcome.mode === 'todo') return { verdict: 'skipped', reason: 'not written yet (todo)' };
      return { verdict: 'skipped', reason: 'no reason given' };
    }
    case 'pending':
      return { verdict: 'error', reason: 'did not finish (the run was interrupted)' };
  }
}
