/**
 * A run as a report shows it: on its own (its own report), or as one of the runs of a
 * qualification report, where its files sit under `runs/<run-id>/` and its rows carry its name.
 * The renderers draw both from the same views, so a run reads the same in either.
 */
import { compareAreas } from './classify.ts';
import {
  type Area,
  allRequirements,
  type Pass,
  type Qualification,
  type Requirement,
  type Run,
} from './model.ts';

/** One run, placed in a report. */
export interface RunView {
  run: Run;
  /** Path from the report's files to the run's directory: '' alone, `runs/<run-id>/` merged. */
  base: string;
  /** Names the run beside its rows in a qualification; '' alone. */
  label: string;
  /** Prefix of the HTML ids of its rows and areas: '' alone, `r0-` merged. */
  idPrefix: string;
}

/** The view of a run in its own report. */
export function soloView(run: Run): RunView {
  return { run, base: '', label: '', idPrefix: '' };
}

/** What tells the runs of a qualification apart: `r1 (netns, kernel 6.8.0-45, x64)`. */
export function runLabel(run: Run): string {
  return `${run.runId} (${run.config.provider}, kernel ${run.environment.kernel.release}, ${run.environment.arch})`;
}

/** The views of a qualification's runs, in its order. */
export function qualificationViews(q: Qualification): RunView[] {
  return q.runs.map((r, i) => ({
    run: r.run,
    base: r.dir.endsWith('/') ? r.dir : `${r.dir}/`,
    label: runLabel(r.run),
    idPrefix: `r${i}-`,
  }));
}

/** A column of a matrix: one pass of one run. */
export interface Column {
  view: RunView;
  pass: Pass;
  /** The pass's index in its run. */
  index: number;
}

/** Every pass of every view, in order. */
export function columnsOf(views: readonly RunView[]): Column[] {
  return views.flatMap((view) => view.run.passes.map((pass, index) => ({ view, pass, index })));
}

/** The areas any pass ran, in report order. */
export function areaNamesOf(views: readonly RunView[]): string[] {
  return [...new Set(views.flatMap((v) => v.run.passes.flatMap((p) => p.areas.map((a) => a.name))))].sort(
    compareAreas,
  );
}

/** A requirement with everything that places it. */
export interface Placed {
  view: RunView;
  pass: Pass;
  area: Area;
  requirement: Requirement;
}

/** Requirements that did not hold or could not be checked, non-conformant first. */
export function failingOf(views: readonly RunView[]): Placed[] {
  const out = views.flatMap((view) =>
    [...allRequirements(view.run)]
      .filter(({ requirement: r }) => r.verdict === 'non-conformant' || r.verdict === 'error')
      .map((x) => ({ view, ...x })),
  );
  // Stable: within a verdict, report order.
  return [
    ...out.filter((x) => x.requirement.verdict === 'non-conformant'),
    ...out.filter((x) => x.requirement.verdict !== 'non-conformant'),
  ];
}

/** A problem outside any requirement, with where it was met. */
export interface PlacedProblem {
  view: RunView;
  pass: Pass;
  /** The area, or `run` for a problem of the pass itself. */
  where: string;
  text: string;
}

/** Every problem outside a requirement, areas' first within each pass. */
export function problemsOf(views: readonly RunView[]): PlacedProblem[] {
  return views.flatMap((view) =>
    view.run.passes.flatMap((pass) => [
      ...pass.areas.flatMap((a) => a.problems.map((text) => ({ view, pass, where: a.name, text }))),
      ...pass.problems.map((text) => ({ view, pass, where: 'run', text })),
    ]),
  );
}
