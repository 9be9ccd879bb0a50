import { describe, expect, test } from 'vitest';
import {
  type Area,
  areaVerdict,
  buildRun,
  combineVerdicts,
  compareRequirementIds,
  countVerdicts,
  exitCodeFor,
  finalizeRun,
  type Pass,
  passVerdict,
  type Requirement,
  runVerdict,
  type Verdict,
} from '../../../src/report/model.ts';
import { sampleRun } from './sample-run.ts';

function req(id: string, verdict: Verdict): Requirement {
  return { id, statement: id, verdict, durationMs: 1, evidence: [] };
}

function area(verdicts: Verdict[], problems: string[] = []): Area {
  const requirements = verdicts.map((v, i) => req(`A-${i}`, v));
  return { name: 'a', verdict: areaVerdict(requirements, problems), requirements, problems };
}

describe('verdicts', () => {
  test('the worst verdict wins: non-conformant over error over conformant over skipped', () => {
    expect(combineVerdicts(['conformant', 'skipped'])).toBe('conformant');
    expect(combineVerdicts(['conformant', 'error', 'skipped'])).toBe('error');
    expect(combineVerdicts(['error', 'non-conformant', 'conformant'])).toBe('non-conformant');
    expect(combineVerdicts(['skipped', 'skipped'])).toBe('skipped');
  });

  test('nothing at all is skipped, not conformant', () => {
    expect(combineVerdicts([])).toBe('skipped');
    expect(areaVerdict([])).toBe('skipped');
    expect(runVerdict([])).toBe('skipped');
  });

  test('an area problem makes an otherwise conformant area an error', () => {
    expect(area(['conformant', 'conformant']).verdict).toBe('conformant');
    expect(area(['conformant'], ['afterAll failed']).verdict).toBe('error');
    expect(area([], ['file did not load']).verdict).toBe('error');
    // A problem does not hide a real non-conformance.
    expect(area(['non-conformant'], ['afterAll failed']).verdict).toBe('non-conformant');
  });

  test('a pass problem makes the pass an error', () => {
    expect(passVerdict([area(['conformant'])])).toBe('conformant');
    expect(passVerdict([area(['conformant'])], ['unhandled error'])).toBe('error');
    expect(passVerdict([area(['conformant']), area(['skipped'])])).toBe('conformant');
  });

  test('the run verdict combines its passes', () => {
    const pass = (v: Verdict): Pass => ({
      mode: { dataplane: 'bpf', serviceMode: 'Tunnel' },
      startedAt: '2025-01-01T00:00:00.000Z',
      durationMs: 0,
      verdict: v,
      areas: [],
      problems: [],
    });
    expect(runVerdict([pass('conformant'), pass('skipped')])).toBe('conformant');
    expect(runVerdict([pass('conformant'), pass('error')])).toBe('error');
    expect(runVerdict([pass('error'), pass('non-conformant')])).toBe('non-conformant');
  });

  test('exit code: 0 for conformant or skipped, 1 for non-conformant or error', () => {
    expect(exitCodeFor('conformant')).toBe(0);
    expect(exitCodeFor('skipped')).toBe(0);
    expect(exitCodeFor('non-conformant')).toBe(1);
    expect(exitCodeFor('error')).toBe(1);
  });
});

describe('finalizeRun', () => {
  test('recomputes stale verdicts bottom-up', () => {
    const stale = sampleRun();
    stale.verdict = 'conformant';
    for (const p of stale.passes) {
      p.verdict = 'conformant';
      for (const a of p.areas) a.verdict = 'conformant';
    }
    const run = finalizeRun(stale);
    expect(run.passes.map((p) => p.verdict)).toEqual(['conformant', 'non-conformant', 'error']);
    expect(run.passes[1]?.areas.map((a) => [a.name, a.verdict])).toEqual([
      ['nodeport', 'non-conformant'],
      ['map-full', 'error'],
    ]);
    expect(run.passes[2]?.areas[0]?.verdict).toBe('error');
    expect(run.verdict).toBe('non-conformant');
  });
});

describe('buildRun', () => {
  test('stamps the schema version and computes the verdict from the passes', () => {
    const { passes, environment, config } = sampleRun();
    const run = buildRun({
      runId: 'r1',
      startedAt: '2025-01-01T00:00:00.000Z',
      endedAt: '2025-01-01T00:01:00.000Z',
      environment,
      config,
      passes: passes.slice(0, 1),
    });
    expect(run.schemaVersion).toBe(2);
    expect(run.verdict).toBe('conformant');
    expect(buildRun({ ...run, passes }).verdict).toBe('non-conformant');
  });
});

describe('helpers', () => {
  test('requirement ids sort numerically', () => {
    expect(['NP-10', 'NP-2', 'NP-001', 'DSR-1'].sort(compareRequirementIds)).toEqual([
      'DSR-1',
      'NP-001',
      'NP-2',
      'NP-10',
    ]);
  });

  test('counts verdicts', () => {
    const c = countVerdicts([
      req('a', 'conformant'),
      req('b', 'skipped'),
      req('c', 'conformant'),
      req('d', 'error'),
    ]);
    expect(c).toEqual({ conformant: 2, 'non-conformant': 0, skipped: 1, error: 1, total: 4 });
  });
});
