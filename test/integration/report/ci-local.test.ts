/**
 * The CI recipe, run here: `scripts/ci-local.sh` runs three jobs of the workflow's matrix (real
 * runs in Tunnel, DSR and iptables mode), merges them and diffs the merge. The qualification's
 * verdicts are those of the three runs, and the workflow in docs/ci/ runs the same jobs.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { allRequirements, modeLabel, type Qualification, type Run } from '../../../src/report/model.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { type RunResult, run } from '../../../src/sys/exec.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SCRIPT = join(ROOT, 'scripts/ci-local.sh');

let dir = '';
let result: RunResult;

/** The `dpconform run` flags of each job the script runs, as the script lists them. */
function scriptJobs(): Record<string, string> {
  const text = readFileSync(SCRIPT, 'utf8');
  const block = /^jobs=\(\n([\s\S]*?)\n\)$/m.exec(text)?.[1] ?? '';
  return Object.fromEntries(
    [...block.matchAll(/^\s*"(\S+) (.*)"$/gm)].map((m) => [m[1]!, m[2]!] as [string, string]),
  );
}

function verdicts(runs: readonly Run[]): string[] {
  return runs
    .flatMap((r) =>
      [...allRequirements(r)].map(
        (x) =>
          `${r.runId} ${modeLabel(x.pass.mode)} ${x.area.name} ${x.requirement.id} ${x.requirement.verdict}`,
      ),
    )
    .sort();
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-ci-local-'));
  result = await run([SCRIPT, '--out', join(dir, 'ci')], { reject: false, timeoutMs: 12 * 60_000 });
}, 13 * 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('scripts/ci-local.sh', () => {
  test('runs end to end: three jobs, the merge, an empty diff, exit 0', () => {
    expect(result.stderr.split('\n').filter((l) => l.startsWith('ci-local:'))).toEqual([]);
    expect(result.exitCode, result.stdout.slice(-2000)).toBe(0);
    expect(result.stdout).toContain('== final job: merge');
    expect(result.stdout).toContain('no difference from the baseline');
    expect(readFileSync(join(dir, 'ci', 'diff.md'), 'utf8')).toBe('');
  });

  test('the qualification holds the three runs, one per mode, with the verdicts each run reported', async () => {
    const artifacts = join(dir, 'ci', 'artifacts');
    const jobs: Run[] = readdirSync(artifacts).flatMap((a) =>
      readdirSync(join(artifacts, a)).map(
        (id) => JSON.parse(readFileSync(join(artifacts, a, id, 'report.json'), 'utf8')) as Run,
      ),
    );
    expect(jobs).toHaveLength(3);
    const q = JSON.parse(
      await readFile(join(dir, 'ci', 'qualification', 'report.json'), 'utf8'),
    ) as Qualification;
    expect(reportProblems(q)).toEqual([]);
    expect(q.runs.map((r) => r.run.passes.map((p) => modeLabel(p.mode)).join())).toEqual([
      'bpf/Tunnel',
      'bpf/DSR',
      'iptables/Tunnel',
    ]);
    expect(verdicts(q.runs.map((r) => r.run))).toEqual(verdicts(jobs));
    expect(q.runs.map((r) => r.run.verdict).sort()).toEqual(jobs.map((r) => r.verdict).sort());
    // JUnit: one test suite per run, named by it.
    const junit = await readFile(join(dir, 'ci', 'qualification', 'junit.xml'), 'utf8');
    const suites = [...junit.matchAll(/<testsuite name="run (\S+) /g)].map((m) => m[1]);
    expect(suites.sort()).toEqual(jobs.map((r) => r.runId).sort());
  });

  test('nothing of the three runs is left on the machine', async () => {
    const artifacts = join(dir, 'ci', 'artifacts');
    const ids = readdirSync(artifacts).flatMap((a) => readdirSync(join(artifacts, a)));
    expect(ids).toHaveLength(3);
    expect((await listNetns()).filter((n) => ids.some((id) => n.startsWith(`dpc-${id}-`)))).toEqual([]);
  });

  test('bad input: one line and exit 2, nothing run', async () => {
    const r = await run([SCRIPT, '--frobnicate'], { reject: false });
    expect(r.exitCode).toBe(2);
    expect(r.stderr.trim()).toBe(
      'ci-local: unknown argument "--frobnicate" (see scripts/ci-local.sh --help)',
    );
  });
});

describe('docs/ci/dpconform.yml', () => {
  const workflow = parse(readFileSync(join(ROOT, 'docs/ci/dpconform.yml'), 'utf8')) as {
    jobs: Record<
      string,
      { strategy?: { matrix: Record<string, unknown> }; steps: { run?: string; uses?: string }[] }
    >;
  };

  test('its matrix runs the modes the local script runs, with the same dpconform flags', () => {
    const matrix = workflow.jobs.run!.strategy!.matrix as {
      runner: string[];
      mode: string[];
      include: { mode: string; flags: string }[];
    };
    expect(matrix.runner.length).toBeGreaterThanOrEqual(2);
    expect(Object.fromEntries(matrix.include.map((i) => [i.mode, i.flags]))).toEqual(scriptJobs());
    const steps = workflow.jobs.run!.steps;
    expect(
      // The workflow's own expression syntax, verbatim.
      steps.some((s) => s.run?.includes(`npx dpconform run $\{{ matrix.flags }} --report-dir reports`)),
    ).toBe(true);
    expect(steps.some((s) => s.uses?.startsWith('actions/upload-artifact'))).toBe(true);
  });

  test('its final job merges every report, and diffs against main, failing on a regression', () => {
    const runs = workflow.jobs.qualify!.steps.map((s) => s.run ?? '').join('\n');
    expect(runs).toContain('dpconform report merge artifacts/*/*/report.json --out qualification');
    expect(runs).toContain('dpconform report diff baseline qualification > diff.md');
    expect(runs).toContain('gh pr comment');
    expect(runs).toContain('exit "$status"');
  });
});
