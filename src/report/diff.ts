/**
 * What changed between two reports (a run's or a qualification's, e.g. the main branch's last
 * one and a pull request's): requirements whose verdict changed, new and removed ones, figures
 * that moved beyond their spread, problems outside requirements, and modes checked on one side
 * only. Pure: the CLI reads the reports and prints the Markdown.
 *
 * Results are matched by lane: provider, architecture, kernel and mode. A lane whose kernel
 * changed (a CI runner image moved on) is matched on the rest when that is unambiguous.
 */
import { compareAreas } from './classify.ts';
import { figureText, round } from './evidence-text.ts';
import {
  compareRequirementIds,
  type FigureEvidence,
  modeLabel,
  type PassMode,
  type Qualification,
  type Requirement,
  type Run,
  type Verdict,
} from './model.ts';
import { mdCode, mdText } from './render-md.ts';

/** One pass of one run, as a diff matches it. */
export interface Lane {
  /** Matches the same lane in another report: provider, arch, kernel, mode. */
  key: string;
  /** Matches a lane whose kernel changed: provider, arch, mode. */
  looseKey: string;
  /** For people: `bpf/DSR · netns · kernel 6.8.0 · x64`. */
  label: string;
  runId: string;
  kernel: string;
  mode: PassMode;
  /** Requirements by `area/id`. */
  results: Map<string, { area: string; requirement: Requirement }>;
  /** Problems outside requirements, by area (`run` for the pass's own). */
  problems: Map<string, string[]>;
}

/** The lanes of a report: one per pass of each run. */
export function lanesOf(report: Run | Qualification): Lane[] {
  const runs =
    'kind' in report && report.kind === 'qualification' ? report.runs.map((r) => r.run) : [report as Run];
  const lanes: Lane[] = [];
  const taken = new Map<string, number>();
  for (const run of runs) {
    const env = run.environment;
    for (const pass of run.passes) {
      const loose = `${run.config.provider}|${env.arch}|${modeLabel(pass.mode)}`;
      let key = `${loose}|${env.kernel.release}`;
      // Two runs alike but for the machine: tell them apart by host, then by order.
      if (taken.has(key)) key = `${key}|${env.hostname}`;
      const n = (taken.get(key) ?? 0) + 1;
      taken.set(key, n);
      if (n > 1) key = `${key}#${n}`;
      const results = new Map<string, { area: string; requirement: Requirement }>();
      const problems = new Map<string, string[]>();
      for (const area of pass.areas) {
        for (const r of area.requirements)
          results.set(`${area.name}/${r.id}`, { area: area.name, requirement: r });
        if (area.problems.length > 0) problems.set(area.name, area.problems);
      }
      if (pass.problems.length > 0) problems.set('run', pass.problems);
      lanes.push({
        key,
        looseKey: loose,
        label: `${modeLabel(pass.mode)} · ${run.config.provider} · kernel ${env.kernel.release} · ${env.arch}`,
        runId: run.runId,
        kernel: env.kernel.release,
        mode: pass.mode,
        results,
        problems,
      });
    }
  }
  return lanes;
}

/** A requirement as a diff names it. */
export interface DiffItem {
  lane: string;
  area: string;
  id: string;
  statement: string;
}

/** A requirement whose verdict changed. */
export interface VerdictChange extends DiffItem {
  was: Verdict;
  now: Verdict;
  /** What the new report says of it (its failure or reason), one line. */
  note?: string;
}

/** A figure that moved beyond the spreads of both readings. */
export interface FigureChange extends DiffItem {
  name: string;
  was: FigureEvidence;
  now: FigureEvidence;
  delta: number;
  worse: boolean;
}

/** Everything that differs between two reports. */
export interface ReportDiff {
  changed: VerdictChange[];
  added: (DiffItem & { verdict: Verdict })[];
  removed: (DiffItem & { verdict: Verdict })[];
  figures: FigureChange[];
  /** Areas with problems outside requirements that they did not have before, and the reverse. */
  newProblems: { lane: string; area: string; problems: string[] }[];
  goneProblems: { lane: string; area: string }[];
  /** Lanes of one report that match none of the other. */
  onlyOld: string[];
  onlyNew: string[];
  /** How lanes were matched when not exactly (a kernel that changed). */
  notes: string[];
}

function failing(v: Verdict): boolean {
  return v === 'non-conformant' || v === 'error';
}

function noteOf(r: Requirement): string | undefined {
  const text = r.failure?.message ?? r.reason;
  return text?.split('\n')[0];
}

/** Pairs lanes: exact matches first, then by everything but the kernel where that is one to one. */
function pairLanes(old: readonly Lane[], next: readonly Lane[]) {
  const pairs: { old: Lane; now: Lane }[] = [];
  const notes: string[] = [];
  const restOld = new Map(old.map((l) => [l.key, l]));
  const restNew: Lane[] = [];
  for (const l of next) {
    const o = restOld.get(l.key);
    if (o) {
      pairs.push({ old: o, now: l });
      restOld.delete(l.key);
    } else restNew.push(l);
  }
  const unmatched: Lane[] = [];
  for (const l of restNew) {
    const candidates = [...restOld.values()].filter((o) => o.looseKey === l.looseKey);
    const rivals = restNew.filter((x) => x.looseKey === l.looseKey);
    const o = candidates[0];
    if (o && candidates.length === 1 && rivals.length === 1) {
      pairs.push({ old: o, now: l });
      restOld.delete(o.key);
      notes.push(`${modeLabel(l.mode)}: compared across a kernel change, ${o.kernel} → ${l.kernel}`);
    } else unmatched.push(l);
  }
  return {
    pairs,
    notes,
    onlyOld: [...restOld.values()].map((l) => l.label),
    onlyNew: unmatched.map((l) => l.label),
  };
}

function figuresOf(r: Requirement): Map<string, FigureEvidence> {
  const out = new Map<string, FigureEvidence>();
  for (const e of r.evidence)
    if (e.kind === 'figure') out.set(e.label ? `${e.name} (${e.label})` : e.name, e);
  return out;
}

/**
 * Compares two readings of a figure: a change counts only when it is larger than both spreads
 * together (the ranges do not overlap). Without a spread on either side nothing counts; without
 * the direction of improvement a change is shown, never called worse.
 */
export function compareFigure(
  was: FigureEvidence,
  now: FigureEvidence,
): { delta: number; beyond: boolean; worse: boolean } {
  const delta = now.value - was.value;
  if (was.spread === undefined || now.spread === undefined) return { delta, beyond: false, worse: false };
  const beyond = Math.abs(delta) > was.spread + now.spread;
  if (!now.better) return { delta, beyond, worse: false };
  const better = now.better === 'higher' ? delta > 0 : delta < 0;
  return { delta, beyond, worse: beyond && !better };
}

function byKey(a: { area: string; id: string }, b: { area: string; id: string }): number {
  return compareAreas(a.area, b.area) || compareRequirementIds(a.id, b.id);
}

/** Compares two reports. */
export function diffReports(old: Run | Qualification, next: Run | Qualification): ReportDiff {
  const { pairs, notes, onlyOld, onlyNew } = pairLanes(lanesOf(old), lanesOf(next));
  const diff: ReportDiff = {
    changed: [],
    added: [],
    removed: [],
    figures: [],
    newProblems: [],
    goneProblems: [],
    onlyOld,
    onlyNew,
    notes,
  };
  for (const { old: o, now: n } of pairs) {
    const lane = n.label;
    const keys = new Set([...o.results.keys(), ...n.results.keys()]);
    for (const key of keys) {
      const a = o.results.get(key);
      const b = n.results.get(key);
      const base = (x: { area: string; requirement: Requirement }) => ({
        lane,
        area: x.area,
        id: x.requirement.id,
        statement: x.requirement.statement,
      });
      if (a && !b) {
        diff.removed.push({ ...base(a), verdict: a.requirement.verdict });
        continue;
      }
      if (!a && b) {
        diff.added.push({ ...base(b), verdict: b.requirement.verdict });
        continue;
      }
      if (!a || !b) continue;
      if (a.requirement.verdict !== b.requirement.verdict) {
        const note = noteOf(b.requirement);
        diff.changed.push({
          ...base(b),
          was: a.requirement.verdict,
          now: b.requirement.verdict,
          ...(note ? { note } : {}),
        });
      }
      const before = figuresOf(a.requirement);
      for (const [name, now] of figuresOf(b.requirement)) {
        const was = before.get(name);
        if (!was) continue;
        const cmp = compareFigure(was, now);
        if (cmp.beyond) diff.figures.push({ ...base(b), name, was, now, delta: cmp.delta, worse: cmp.worse });
      }
    }
    for (const [area, problems] of n.problems) {
      if (!o.problems.has(area)) diff.newProblems.push({ lane, area, problems });
    }
    for (const area of o.problems.keys()) {
      if (!n.problems.has(area)) diff.goneProblems.push({ lane, area });
    }
  }
  diff.changed.sort(byKey);
  diff.added.sort(byKey);
  diff.removed.sort(byKey);
  diff.figures.sort(byKey);
  return diff;
}

/** The regressions of a diff, one line each: what makes `report diff` exit 1. */
export function regressions(diff: ReportDiff): string[] {
  return [
    ...diff.changed
      .filter((c) => failing(c.now) && !failing(c.was))
      .map((c) => `${c.id} (${c.lane}): ${c.was} → ${c.now}`),
    ...diff.added.filter((a) => failing(a.verdict)).map((a) => `${a.id} (${a.lane}): new and ${a.verdict}`),
    ...diff.figures
      .filter((f) => f.worse)
      .map((f) => `${f.id} ${f.name} (${f.lane}): worse beyond its spread`),
    ...diff.newProblems.map(
      (p) => `${p.area} (${p.lane}): ${p.problems.length} problem(s) outside requirements`,
    ),
    ...diff.onlyOld.map((l) => `${l}: checked before, not checked now`),
  ];
}

/** True when nothing differs. */
export function isEmptyDiff(diff: ReportDiff): boolean {
  return (
    diff.changed.length +
      diff.added.length +
      diff.removed.length +
      diff.figures.length +
      diff.newProblems.length +
      diff.goneProblems.length +
      diff.onlyOld.length +
      diff.onlyNew.length +
      diff.notes.length ===
    0
  );
}

const MARK: Record<Verdict, string> = {
  conformant: '✅ conformant',
  'non-conformant': '❌ non-conformant',
  skipped: '⏭️ skipped',
  error: '⚠️ error',
};

function table(head: readonly string[], rows: readonly (readonly string[])[]): string[] {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
  ];
}

function itemCells(x: DiffItem): string[] {
  return [mdCode(x.lane, true), `**${mdText(x.id)}** ${mdText(x.statement)}`];
}

function figureCell(f: FigureEvidence): string {
  return mdText(figureText(f).replace(/^[^:]*: /, ''));
}

/** Names the two reports in the diff's heading. */
export interface DiffNames {
  old: string;
  new: string;
}

/**
 * The diff as Markdown for a pull-request comment; empty when nothing differs. Regressions come
 * first, then every other change.
 */
export function renderDiffMarkdown(diff: ReportDiff, names: DiffNames): string {
  if (isEmptyDiff(diff)) return '';
  const regressed = regressions(diff);
  const out: string[] = [
    regressed.length > 0
      ? `## dpconform report diff: ❌ ${regressed.length} regression${regressed.length === 1 ? '' : 's'}`
      : '## dpconform report diff: ✅ no regression',
    '',
    `${mdCode(names.old)} → ${mdCode(names.new)}`,
    '',
  ];
  if (regressed.length > 0) out.push('### Regressions', '', ...regressed.map((r) => `- ${mdText(r)}`), '');
  if (diff.changed.length > 0) {
    out.push(
      '### Verdicts that changed',
      '',
      ...table(
        ['lane', 'requirement', 'was', 'now', 'note'],
        diff.changed.map((c) => [...itemCells(c), MARK[c.was], MARK[c.now], mdText(c.note ?? '')]),
      ),
    );
  }
  if (diff.added.length > 0) {
    out.push(
      '### New requirements',
      '',
      ...table(
        ['lane', 'requirement', 'verdict'],
        diff.added.map((a) => [...itemCells(a), MARK[a.verdict]]),
      ),
    );
  }
  if (diff.removed.length > 0) {
    out.push(
      '### Removed requirements',
      '',
      ...table(
        ['lane', 'requirement', 'was'],
        diff.removed.map((r) => [...itemCells(r), MARK[r.verdict]]),
      ),
    );
  }
  if (diff.figures.length > 0) {
    out.push(
      '### Figures beyond their spread',
      '',
      ...table(
        ['lane', 'requirement', 'figure', 'was', 'now', 'change'],
        diff.figures.map((f) => [
          ...itemCells(f),
          mdText(f.name),
          figureCell(f.was),
          figureCell(f.now),
          `${f.worse ? '❌ worse' : f.now.better ? '✅ better' : 'moved'} (${f.delta > 0 ? '+' : ''}${round(f.delta)}${f.now.unit ? ` ${mdText(f.now.unit)}` : ''})`,
        ]),
      ),
    );
  }
  if (diff.newProblems.length + diff.goneProblems.length > 0) {
    out.push(
      '### Problems outside requirements',
      '',
      ...diff.newProblems.map(
        (p) =>
          `- ${mdCode(p.lane)} ${mdText(p.area)}: new — ${mdText(p.problems[0] ?? '')}${p.problems.length > 1 ? ` (and ${p.problems.length - 1} more)` : ''}`,
      ),
      ...diff.goneProblems.map((p) => `- ${mdCode(p.lane)} ${mdText(p.area)}: gone`),
      '',
    );
  }
  if (diff.onlyOld.length + diff.onlyNew.length + diff.notes.length > 0) {
    out.push(
      '### Lanes',
      '',
      ...diff.onlyOld.map((l) => `- only in the old report: ${mdCode(l)}`),
      ...diff.onlyNew.map((l) => `- only in the new report: ${mdCode(l)}`),
      ...diff.notes.map((n) => `- ${mdText(n)}`),
      '',
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}
