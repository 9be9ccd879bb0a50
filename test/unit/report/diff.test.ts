import { describe, expect, test } from 'vitest';
import {
  compareFigure,
  diffReports,
  isEmptyDiff,
  lanesOf,
  regressions,
  renderDiffMarkdown,
} from '../../../src/report/diff.ts';
import { mergeRuns } from '../../../src/report/merge.ts';
import { type FigureEvidence, finalizeRun, type Requirement, type Run } from '../../../src/report/model.ts';
import { conformantRun, sampleRun } from './sample-run.ts';

const NAMES = { old: 'main', new: 'pr' };

/** A copy of a run with one requirement (by pass index and id) changed. */
function edit(run: Run, pass: number, id: string, change: (r: Requirement) => Requirement): Run {
  const copy = structuredClone(run);
  const p = copy.passes[pass]!;
  p.areas = p.areas.map((a) => ({
    ...a,
    requirements: a.requirements.map((r) => (r.id === id ? change(r) : r)),
  }));
  return finalizeRun(copy);
}

function figure(
  value: number,
  spread: number | undefined,
  better: 'higher' | 'lower' = 'higher',
): FigureEvidence {
  return {
    kind: 'figure',
    name: 'requests per second',
    value,
    unit: 'req/s',
    ...(spread === undefined ? {} : { spread }),
    better,
  };
}

function withFigure(run: Run, f: FigureEvidence): Run {
  return edit(run, 0, 'NP-001', (r) => ({ ...r, evidence: [...r.evidence, f] }));
}

describe('diffReports', () => {
  test('a report against itself is empty, and renders as nothing', () => {
    const d = diffReports(sampleRun(), sampleRun());
    expect(isEmptyDiff(d)).toBe(true);
    expect(regressions(d)).toEqual([]);
    expect(renderDiffMarkdown(d, NAMES)).toBe('');
  });

  test('a requirement that stopped conforming is a regression, named with its lane', () => {
    const broken = edit(conformantRun(), 0, 'NP-002', (r) => ({
      ...r,
      verdict: 'non-conformant',
      failure: { message: 'DSR: the reply crossed the entry node' },
    }));
    const d = diffReports(conformantRun(), broken);
    expect(d.changed).toEqual([
      {
        lane: 'bpf/Tunnel · netns · kernel 6.8.0-45-generic · x64',
        area: 'nodeport',
        id: 'NP-002',
        statement: 'a NodePort hit on node A for a backend on node B replies through A',
        was: 'conformant',
        now: 'non-conformant',
        note: 'DSR: the reply crossed the entry node',
      },
    ]);
    expect(regressions(d)).toEqual([
      'NP-002 (bpf/Tunnel · netns · kernel 6.8.0-45-generic · x64): conformant → non-conformant',
    ]);
    const md = renderDiffMarkdown(d, NAMES);
    expect(md.split('\n')[0]).toBe('## dpconform report diff: ❌ 1 regression');
    expect(md).toContain(
      '| `bpf/Tunnel · netns · kernel 6.8.0-45-generic · x64` | **NP-002** a NodePort hit',
    );
    expect(md).toContain('| ✅ conformant | ❌ non-conformant | DSR: the reply crossed the entry node |');
  });

  test('a requirement that came to conform is a change but no regression', () => {
    const fixed = edit(sampleRun(), 1, 'NP-002', (r) => {
      const { failure: _f, ...rest } = r;
      return { ...rest, verdict: 'conformant' };
    });
    const d = diffReports(sampleRun(), fixed);
    expect(d.changed.map((c) => `${c.id} ${c.was}→${c.now}`)).toEqual(['NP-002 non-conformant→conformant']);
    expect(regressions(d)).toEqual([]);
    expect(renderDiffMarkdown(d, NAMES).split('\n')[0]).toBe('## dpconform report diff: ✅ no regression');
  });

  test('new and removed requirements are listed; a new one that fails is a regression', () => {
    const old = conformantRun();
    const next = structuredClone(old);
    const np = next.passes[0]!.areas[0]!;
    np.requirements = [
      ...np.requirements.filter((r) => r.id !== 'NP-010'),
      {
        id: 'NP-011',
        statement: 'a new check',
        verdict: 'error',
        reason: 'broke',
        durationMs: 1,
        evidence: [],
      },
    ];
    const d = diffReports(old, finalizeRun(next));
    expect(d.added.map((a) => `${a.id} ${a.verdict}`)).toEqual(['NP-011 error']);
    expect(d.removed.map((r) => `${r.id} ${r.verdict}`)).toEqual(['NP-010 conformant']);
    expect(regressions(d)).toEqual([
      'NP-011 (bpf/Tunnel · netns · kernel 6.8.0-45-generic · x64): new and error',
    ]);
    const md = renderDiffMarkdown(d, NAMES);
    expect(md).toContain('### New requirements');
    expect(md).toContain('### Removed requirements');
  });

  test('a mode checked before and not now is a regression; a new mode is not', () => {
    const old = sampleRun();
    const fewer = finalizeRun({ ...old, passes: old.passes.slice(0, 2) });
    expect(regressions(diffReports(old, fewer))).toEqual([
      'iptables/Tunnel · netns · kernel 6.8.0-45-generic · x64: checked before, not checked now',
    ]);
    const d = diffReports(fewer, old);
    expect(d.onlyNew).toEqual(['iptables/Tunnel · netns · kernel 6.8.0-45-generic · x64']);
    // Its problems come with the lane, not as new problems of a lane that was there.
    expect(d.newProblems).toEqual([]);
    expect(regressions(d)).toEqual([]);
  });

  test('problems outside requirements that appear are a regression', () => {
    const clean = finalizeRun({
      ...sampleRun(),
      passes: sampleRun().passes.map((p) => ({
        ...p,
        problems: [],
        areas: p.areas.map((a) => ({ ...a, problems: [] })),
      })),
    });
    const d = diffReports(clean, sampleRun());
    expect(d.newProblems.map((p) => `${p.area} ${p.problems.length}`)).toEqual(['policy 1', 'run 1']);
    expect(regressions(d)).toHaveLength(2);
    expect(diffReports(sampleRun(), clean).goneProblems).toHaveLength(2);
  });

  test('a lane whose kernel changed is compared across the change, and says so', () => {
    const old = conformantRun();
    const next = structuredClone(old);
    next.environment.kernel.release = '6.11.0-1012-azure';
    const broken = edit(next, 0, 'NP-001', (r) => ({
      ...r,
      verdict: 'non-conformant',
      failure: { message: 'x' },
    }));
    const d = diffReports(old, broken);
    expect(d.notes).toEqual([
      'bpf/Tunnel: compared across a kernel change, 6.8.0-45-generic → 6.11.0-1012-azure',
    ]);
    expect(d.onlyOld).toEqual([]);
    expect(d.changed.map((c) => c.id)).toEqual(['NP-001']);
  });

  test('two runs alike but for the host are two lanes in a qualification', () => {
    const a = conformantRun();
    const b = { ...structuredClone(a), runId: 'other' };
    b.environment.hostname = 'ci-runner-8';
    const q = mergeRuns(
      [
        { run: a, source: 'a', sourceSchemaVersion: 2 },
        { run: b, source: 'b', sourceSchemaVersion: 2 },
      ],
      'q',
    );
    const keys = lanesOf(q).map((l) => l.key);
    expect(new Set(keys).size).toBe(2);
    expect(isEmptyDiff(diffReports(q, q))).toBe(true);
  });
});

describe('figures', () => {
  test('a move within the spreads is no change; beyond them, worse or better by the figure’s own direction', () => {
    expect(compareFigure(figure(1000, 30), figure(950, 30))).toEqual({
      delta: -50,
      beyond: false,
      worse: false,
    });
    expect(compareFigure(figure(1000, 30), figure(930, 30))).toEqual({
      delta: -70,
      beyond: true,
      worse: true,
    });
    expect(compareFigure(figure(1000, 30), figure(1070, 30))).toEqual({
      delta: 70,
      beyond: true,
      worse: false,
    });
    expect(compareFigure(figure(2.0, 0.1, 'lower'), figure(2.5, 0.1, 'lower'))).toEqual({
      delta: 0.5,
      beyond: true,
      worse: true,
    });
  });

  test('without a direction a move beyond the spreads is shown, but is no regression', () => {
    const { better: _b, ...plain } = figure(1000, 30);
    const moved = { ...plain, value: 500 };
    expect(compareFigure(plain, moved)).toEqual({ delta: -500, beyond: true, worse: false });
    const d = diffReports(withFigure(conformantRun(), plain), withFigure(conformantRun(), moved));
    expect(d.figures).toHaveLength(1);
    expect(regressions(d)).toEqual([]);
    expect(renderDiffMarkdown(d, NAMES)).toContain('| moved (-500 req/s) |');
  });

  test('without a spread on both readings nothing counts', () => {
    expect(compareFigure(figure(1000, undefined), figure(10, 30)).beyond).toBe(false);
    expect(compareFigure(figure(1000, 30), figure(10, undefined)).beyond).toBe(false);
  });

  test('a figure worse beyond its spread makes the diff a regression, with both readings shown', () => {
    const old = withFigure(conformantRun(), figure(1520, 40));
    const slower = withFigure(conformantRun(), figure(1300, 35));
    const d = diffReports(old, slower);
    expect(d.figures.map((f) => `${f.id} ${f.name} ${f.delta} ${f.worse}`)).toEqual([
      'NP-001 requests per second -220 true',
    ]);
    expect(regressions(d)).toEqual([
      'NP-001 requests per second (bpf/Tunnel · netns · kernel 6.8.0-45-generic · x64): worse beyond its spread',
    ]);
    const md = renderDiffMarkdown(d, NAMES);
    expect(md).toContain('### Figures beyond their spread');
    expect(md).toContain(
      '| 1520 req/s ± 40 req/s (higher is better) | 1300 req/s ± 35 req/s (higher is better) | ❌ worse (-220 req/s) |',
    );
  });

  test('a figure within its spread leaves the diff empty', () => {
    const d = diffReports(
      withFigure(conformantRun(), figure(1520, 40)),
      withFigure(conformantRun(), figure(1490, 40)),
    );
    expect(isEmptyDiff(d)).toBe(true);
  });
});
