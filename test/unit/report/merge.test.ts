import { describe, expect, test } from 'vitest';
import { DuplicateRunError, differencesOf, type MergeInput, mergeRuns } from '../../../src/report/merge.ts';
import { allRequirements, finalizeRun, type Run, SCHEMA_VERSION } from '../../../src/report/model.ts';
import { upgradeRun } from '../../../src/report/read.ts';
import { renderQualificationHtml } from '../../../src/report/render-html.ts';
import { renderQualificationJson } from '../../../src/report/render-json.ts';
import { renderQualificationMarkdown } from '../../../src/report/render-md.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { conformantRun, sampleRun, schemaOneRun } from './sample-run.ts';

function input(run: Run, source = run.runId, sourceSchemaVersion: number = SCHEMA_VERSION): MergeInput {
  return { run, source, sourceSchemaVersion };
}

/** The conformant run on another kernel, under another id. */
function otherKernel(): Run {
  const run = structuredClone(conformantRun());
  run.runId = 'r-6.1';
  run.environment.kernel.release = '6.1.0-28-amd64';
  return run;
}

function verdicts(runs: readonly Run[]): string[] {
  return runs.flatMap((run) =>
    [...allRequirements(run)].map(
      (x) =>
        `${run.runId} ${x.pass.mode.dataplane}/${x.pass.mode.serviceMode} ${x.area.name} ${x.requirement.id} ${x.requirement.verdict}`,
    ),
  );
}

describe('mergeRuns', () => {
  const runs = [sampleRun(), otherKernel()];
  const q = mergeRuns(
    runs.map((r) => input(r)),
    'release-7',
    new Date('2025-03-02T00:00:00Z'),
  );

  test('keeps every run whole: the same verdicts, requirement by requirement', () => {
    expect(verdicts(q.runs.map((r) => r.run)).sort()).toEqual(verdicts(runs).sort());
  });

  test('lists the runs by mode, then kernel, whatever order they were given in', () => {
    expect(q.runs.map((r) => r.dir)).toEqual(['runs/r-6.1', 'runs/r20250301-100000-ab12']);
    const dsrOnly = structuredClone(otherKernel());
    dsrOnly.runId = 'r-dsr';
    dsrOnly.passes[0]!.mode.serviceMode = 'DSR';
    const order = mergeRuns([input(dsrOnly), input(sampleRun()), input(otherKernel())], 'q').runs.map(
      (r) => r.run.runId,
    );
    expect(order).toEqual(['r-6.1', 'r20250301-100000-ab12', 'r-dsr']);
  });

  test('one verdict: the worst of the runs', () => {
    expect(q.verdict).toBe('non-conformant');
    expect(mergeRuns([input(conformantRun()), input(otherKernel())], 'q').verdict).toBe('conformant');
  });

  test('a run given twice is refused, naming where from', () => {
    expect(() => mergeRuns([input(sampleRun(), 'a'), input(sampleRun(), 'b')], 'q')).toThrow(
      DuplicateRunError,
    );
    expect(() => mergeRuns([input(sampleRun(), 'a'), input(sampleRun(), 'b')], 'q')).toThrow(
      'run r20250301-100000-ab12 is given more than once (a, b)',
    );
  });

  test('is a valid report.json of kind qualification', () => {
    expect(reportProblems(JSON.parse(renderQualificationJson(q)))).toEqual([]);
    const bad = JSON.parse(renderQualificationJson(q));
    bad.runs[0].run.passes[0].areas[0].requirements[0].verdict = 'passed';
    expect(reportProblems(bad)).toEqual([
      '/runs/0/run/passes/0/areas/0/requirements/0/verdict must be equal to one of the allowed values',
    ]);
  });
});

describe('differencesOf', () => {
  test('runs with the same requirements and schema differ in nothing', () => {
    expect(differencesOf([input(conformantRun()), input(otherKernel())])).toEqual([]);
  });

  test('says which runs lack an area, a requirement, or state one differently', () => {
    const fewer = structuredClone(otherKernel());
    const np = fewer.passes[0]!.areas[0]!;
    np.requirements = np.requirements.filter((r) => r.id !== 'NP-010');
    np.requirements[0]!.statement = 'a NodePort answers on every node address';
    fewer.passes[0]!.areas = [np];
    expect(differencesOf([input(conformantRun()), input(finalizeRun(fewer))])).toEqual([
      'NP-001 (nodeport) is stated differently: r20250301-100000-ab12: "a NodePort answers on every node\'s IP"; r-6.1: "a NodePort answers on every node address"',
      'NP-010 (nodeport) is in r20250301-100000-ab12, not in r-6.1',
      'area map-full ran in r20250301-100000-ab12, not in r-6.1',
    ]);
  });

  test('says which runs were written with an older report schema, and different bpf/ revisions', () => {
    const old = upgradeRun(schemaOneRun());
    const newer = structuredClone(otherKernel());
    newer.environment.bpfSource = { commit: 'fedcba9876543210fedcba9876543210fedcba98' };
    const d = differencesOf([input(old, 'a', 1), input(newer, 'b', 2)]);
    expect(d).toContain('report schema 1 (no evidence files, summaries or figures): r20250301-100000-ab12');
    expect(d).toContain('report schema 2: r-6.1');
    expect(d).toContain(
      'bpf/ revisions differ: 0123456789ab+changes in r20250301-100000-ab12; fedcba987654 in r-6.1',
    );
    // Different requirement sets and versions are described, not refused.
    expect(mergeRuns([input(old, 'a', 1), input(newer, 'b', 2)], 'q').runs).toHaveLength(2);
  });
});

describe('qualification renderers', () => {
  const q = mergeRuns([input(sampleRun()), input(otherKernel())], 'release-7');

  test('Markdown: a matrix of run by mode, each run with its environment, evidence linked in its folder', () => {
    const md = renderQualificationMarkdown(q);
    expect(md.split('\n')[0]).toBe('# dpconform qualification report: ❌ non-conformant');
    expect(md).toContain(
      '| area | `r-6.1` `bpf/Tunnel` | `r20250301-100000-ab12` `bpf/Tunnel` | `r20250301-100000-ab12` `bpf/DSR` | `r20250301-100000-ab12` `iptables/Tunnel` |',
    );
    expect(md).toContain(
      '| `r-6.1` | ✅ conformant | netns | `6.1.0-28-amd64` | x64 | ci-runner-7 | `bpf/Tunnel` | [report.md](runs/r-6.1/report.md) |',
    );
    expect(md).toContain(
      '[dpc-client-eth0.pcap](runs/r20250301-100000-ab12/evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap)',
    );
    expect(md).toContain(
      '[dpc-client-eth0.pcap](runs/r-6.1/evidence/bpf-Tunnel/NP-002/dpc-client-eth0.pcap)',
    );
    expect(md).toContain('### Run r-6.1 (netns, kernel 6.1.0-28-amd64, x64)');
    expect(md).toContain('| kernel release | `6.1.0-28-amd64` |');
  });

  test('HTML: a column per pass of each run, grouped under the run, rows linking into each run', () => {
    const page = renderQualificationHtml(q);
    expect(page).toContain(
      '<header class="banner v-non-conformant" id="verdict" data-verdict="non-conformant">',
    );
    expect(page).toContain('<th scope="colgroup" colspan="1"><a href="#r0-run">');
    expect(page).toContain('<th scope="colgroup" colspan="3"><a href="#r1-run">');
    expect(page).toContain('<a href="#r0-p0-bpf-tunnel-nodeport">');
    expect(page).toContain('<div class="area" id="r0-p0-bpf-tunnel-nodeport">');
    expect(page).toContain('<div class="area" id="r1-p1-bpf-dsr-nodeport">');
    expect(page).toContain('href="runs/r-6.1/evidence/bpf-Tunnel/NP-002/dpc-client-eth0.pcap"');
    expect(page).toContain('<a href="runs/r-6.1/report.html">report.html</a>');
  });
});
