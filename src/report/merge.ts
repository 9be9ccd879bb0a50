/**
 * Several runs' reports made one qualification report: each run kept whole (its verdicts, its
 * environment, its evidence files under `runs/<run-id>/`), one verdict over all of them, and a
 * plain account of what differs between them (requirement sets, statements, report schema,
 * `bpf/` revisions) instead of a refusal.
 */
import { compareAreas } from './classify.ts';
import {
  compareRequirementIds,
  modeLabel,
  type Qualification,
  type QualificationRun,
  qualificationVerdict,
  type Run,
  SCHEMA_VERSION,
} from './model.ts';

/** The folder of a qualification report that holds its runs' directories. */
export const RUNS_DIR = 'runs';

/** One run to merge, with where it came from. */
export interface MergeInput {
  run: Run;
  /** What it was read from, as the user gave it. */
  source: string;
  sourceSchemaVersion: number;
}

/** Two inputs are the same run: merging it twice would count its verdicts twice. */
export class DuplicateRunError extends Error {
  constructor(runId: string, sources: readonly string[]) {
    super(`run ${runId} is given more than once (${sources.join(', ')}): give each run's report once`);
    this.name = 'DuplicateRunError';
  }
}

/** Where a run's files go inside a qualification report. */
export function runDir(runId: string): string {
  return `${RUNS_DIR}/${runId}`;
}

function list(names: readonly string[]): string {
  if (names.length <= 1) return names.join('');
  return `${names.slice(0, -1).join(', ')} and ${names[names.length - 1]}`;
}

/** What differs between runs that a reader of their matrix should know, one line each. */
export function differencesOf(inputs: readonly MergeInput[]): string[] {
  const out: string[] = [];
  const ids = inputs.map((i) => i.run.runId);

  const versions = [...new Set(inputs.map((i) => i.sourceSchemaVersion))].sort();
  if (versions.length > 1) {
    for (const v of versions) {
      const runs = inputs.filter((i) => i.sourceSchemaVersion === v).map((i) => i.run.runId);
      const lacks = v < SCHEMA_VERSION ? ' (no evidence files, summaries or figures)' : '';
      out.push(`report schema ${v}${lacks}: ${list(runs)}`);
    }
  }

  const revisions = new Map<string, string[]>();
  for (const i of inputs) {
    const src = i.run.environment.bpfSource;
    const rev = src.commit ? `${src.commit.slice(0, 12)}${src.dirty ? '+changes' : ''}` : 'unknown';
    revisions.set(rev, [...(revisions.get(rev) ?? []), i.run.runId]);
  }
  if (revisions.size > 1) {
    out.push(
      `bpf/ revisions differ: ${[...revisions].map(([rev, runs]) => `${rev} in ${list(runs)}`).join('; ')}`,
    );
  }

  // Per area: which runs ran it, and which requirement ids (and statements) each run has.
  const areas = new Map<string, Map<string, Map<string, string>>>();
  for (const i of inputs) {
    for (const pass of i.run.passes) {
      for (const area of pass.areas) {
        const byRun = areas.get(area.name) ?? new Map<string, Map<string, string>>();
        areas.set(area.name, byRun);
        const reqs = byRun.get(i.run.runId) ?? new Map<string, string>();
        byRun.set(i.run.runId, reqs);
        for (const r of area.requirements) reqs.set(r.id, r.statement);
      }
    }
  }
  for (const name of [...areas.keys()].sort(compareAreas)) {
    const byRun = areas.get(name)!;
    const ran = ids.filter((id) => byRun.has(id));
    const missing = ids.filter((id) => !byRun.has(id));
    if (missing.length > 0) out.push(`area ${name} ran in ${list(ran)}, not in ${list(missing)}`);
    const allIds = [...new Set([...byRun.values()].flatMap((m) => [...m.keys()]))].sort(
      compareRequirementIds,
    );
    for (const id of allIds) {
      const have = ran.filter((r) => byRun.get(r)?.has(id));
      const lack = ran.filter((r) => !byRun.get(r)?.has(id));
      if (lack.length > 0) out.push(`${id} (${name}) is in ${list(have)}, not in ${list(lack)}`);
      const statements = new Set(have.map((r) => byRun.get(r)?.get(id)));
      if (statements.size > 1) {
        out.push(
          `${id} (${name}) is stated differently: ${have.map((r) => `${r}: "${byRun.get(r)?.get(id)}"`).join('; ')}`,
        );
      }
    }
  }
  return out;
}

const MODE_ORDER = ['bpf/Tunnel', 'bpf/DSR', 'iptables/Tunnel', 'iptables/DSR'];

function modeRank(run: Run): number {
  const first = run.passes[0];
  const i = first ? MODE_ORDER.indexOf(modeLabel(first.mode)) : -1;
  return i === -1 ? MODE_ORDER.length : i;
}

/** The order a qualification lists its runs in: by mode (as a run orders its passes), kernel, provider. */
export function compareRuns(a: Run, b: Run): number {
  const text = (x: string, y: string) => x.localeCompare(y, 'en', { numeric: true });
  return (
    modeRank(a) - modeRank(b) ||
    text(a.environment.kernel.release, b.environment.kernel.release) ||
    text(a.config.provider, b.config.provider) ||
    text(a.environment.arch, b.environment.arch) ||
    text(a.runId, b.runId)
  );
}

/** Merges runs into a qualification, ordered by {@link compareRuns}. Throws when a run is given twice. */
export function mergeRuns(
  inputs: readonly MergeInput[],
  name: string,
  createdAt = new Date(),
): Qualification {
  const seen = new Map<string, string[]>();
  for (const i of inputs) seen.set(i.run.runId, [...(seen.get(i.run.runId) ?? []), i.source]);
  for (const [id, sources] of seen) if (sources.length > 1) throw new DuplicateRunError(id, sources);
  const ordered = [...inputs].sort((a, b) => compareRuns(a.run, b.run));
  const runs: QualificationRun[] = ordered.map((i) => ({
    dir: runDir(i.run.runId),
    source: i.source,
    sourceSchemaVersion: i.sourceSchemaVersion,
    run: { ...i.run, schemaVersion: SCHEMA_VERSION },
  }));
  return {
    schemaVersion: SCHEMA_VERSION,
    kind: 'qualification',
    name,
    createdAt: createdAt.toISOString(),
    verdict: qualificationVerdict(runs.map((r) => r.run)),
    runs,
    differences: differencesOf(ordered),
  };
}
