/**
 * `dpconform report merge` and `dpconform report diff` as a user runs them, on reports written to
 * disk: what they write, what they print, their exit codes, and one clear line for bad input.
 */
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test, vi } from 'vitest';
import { main } from '../../../src/cli/main.ts';
import { allRequirements, type Qualification, type Run } from '../../../src/report/model.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { writeReport } from '../../../src/report/write.ts';
import { run } from '../../../src/sys/exec.ts';
import { conformantRun, sampleRun, schemaOneRun } from '../../unit/report/sample-run.ts';

const ROOT = new URL('../../../', import.meta.url).pathname;

let dir = '';
const dirs: Record<string, string> = {};

async function dpconform(...args: string[]) {
  return run([join(ROOT, 'node_modules/.bin/node'), join(ROOT, 'bin/dpconform.js'), ...args], {
    reject: false,
    cwd: dir,
  });
}

async function written(name: string, model: Run): Promise<string> {
  const d = join(dir, 'reports', name);
  await writeReport(d, model);
  // The evidence files the sample run names, so that the merge has something to carry.
  for (const { requirement } of allRequirements(model)) {
    for (const a of requirement.attachments ?? []) {
      if (a.omitted) continue;
      await mkdir(join(d, a.path, '..'), { recursive: true });
      await writeFile(join(d, a.path), `${a.title}\n`);
    }
  }
  return d;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-report-cli-'));
  dirs.sample = await written('sample', sampleRun());
  dirs.ok = await written('ok', { ...conformantRun(), runId: 'r-ok' });
  dirs.v1 = join(dir, 'reports', 'v1');
  await mkdir(dirs.v1, { recursive: true });
  await writeFile(join(dirs.v1, 'report.json'), JSON.stringify({ ...schemaOneRun(), runId: 'r-v1' }));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('dpconform report merge', () => {
  test('writes one qualification in all four formats, each run whole beside it, and exits by its verdict', async () => {
    const r = await dpconform('report', 'merge', dirs.sample!, dirs.ok!, dirs.v1!, '--out', 'q1');
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('NON-CONFORMANT: 3 runs merged');
    expect(r.stdout).toContain('differs: report schema 1 (no evidence files, summaries or figures): r-v1');
    const out = join(dir, 'q1');
    expect((await readdir(out)).sort()).toEqual([
      'junit.xml',
      'report.html',
      'report.json',
      'report.md',
      'runs',
    ]);
    expect((await readdir(join(out, 'runs'))).sort()).toEqual(['r-ok', 'r-v1', 'r20250301-100000-ab12']);
    const q = JSON.parse(await readFile(join(out, 'report.json'), 'utf8')) as Qualification;
    expect(reportProblems(q)).toEqual([]);
    expect(q.name).toBe('q1');
    // The evidence each run linked is inside the qualification, where its links point.
    for (const qr of q.runs) {
      for (const { requirement } of allRequirements(qr.run)) {
        for (const a of requirement.attachments ?? []) {
          if (!a.omitted) expect(existsSync(join(out, qr.dir, a.path)), a.path).toBe(true);
        }
      }
    }
    expect(await readFile(join(out, 'junit.xml'), 'utf8')).toContain('<testsuite name="run r-ok ');
  });

  test('a qualification merged again keeps its runs', async () => {
    await rm(join(dir, 'q2'), { recursive: true, force: true });
    await dpconform('report', 'merge', dirs.ok!, '--out', 'part');
    const r = await dpconform('report', 'merge', 'part', dirs.sample!, '--out', 'q2');
    expect(r.exitCode).toBe(1);
    const q = JSON.parse(await readFile(join(dir, 'q2', 'report.json'), 'utf8')) as Qualification;
    expect(q.runs.map((x) => x.run.runId)).toEqual(['r-ok', 'r20250301-100000-ab12']);
  });

  test.each([
    [['report'], /^dpconform: report: say merge or diff \(dpconform report merge DIR\.\.\./],
    [['report', 'merge'], /^dpconform: report merge: give the report directories to merge$/],
    [['report', 'merge', 'nowhere'], /^dpconform: report: nowhere: no such file or directory/],
    [['report', 'merge', 'reports/sample', 'reports/sample', '--out', 'dup'], /is given more than once/],
    [
      ['report', 'merge', 'reports/sample', '--out', 'reports'],
      /: reports already exists and is not empty; remove it or choose another --out$/,
    ],
    [
      ['report', 'merge', 'reports/sample', '--out', 'reports/sample/q'],
      /--out reports\/sample\/q is inside reports\/sample/,
    ],
    [['report', 'merge', 'reports/sample', '--name', '../x', '--out', 'n'], /--name must be a plain name/],
    [['report', 'diff', 'reports/sample'], /^dpconform: report diff: give two reports, OLD and NEW$/],
    [['report', 'diff', 'reports/sample', 'reports/ok', '--out', 'x'], /--out is for report merge/],
  ])('bad input %j: one line, exit 2, nothing written', async (args, message) => {
    const before = (await readdir(dir, { recursive: true })).sort();
    const cwd = process.cwd();
    const err: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      err.push(String(chunk));
      return true;
    });
    let code: number;
    try {
      process.chdir(dir);
      code = await main(args);
    } finally {
      process.chdir(cwd);
      spy.mockRestore();
    }
    expect(code).toBe(2);
    expect(err.join('').trim()).toMatch(message);
    expect(err.join('').trim().split('\n')).toHaveLength(1);
    expect((await readdir(dir, { recursive: true })).sort()).toEqual(before);
  });
});

describe('dpconform report diff', () => {
  test('a report against a copy of itself: nothing printed, exit 0', async () => {
    await cp(dirs.sample!, join(dir, 'copy'), { recursive: true });
    const r = await dpconform('report', 'diff', dirs.sample!, join(dir, 'copy'));
    expect(r.stdout).toBe('');
    expect(r.exitCode).toBe(0);
    await rm(join(dir, 'copy'), { recursive: true, force: true });
  });

  test('a requirement that stopped conforming: named in the Markdown, exit 1', async () => {
    const good = structuredClone(sampleRun());
    good.runId = 'r-good';
    const np = good.passes[1]!.areas[0]!.requirements[1]!;
    np.verdict = 'conformant';
    delete np.failure;
    const goodDir = await written('good', good);
    const r = await dpconform('report', 'diff', goodDir, dirs.sample!);
    expect(r.exitCode).toBe(1);
    expect(r.stdout).toContain('## dpconform report diff: ❌ 1 regression');
    expect(r.stdout).toContain(
      '- NP-002 (bpf/DSR · netns · kernel 6.8.0-45-generic · x64): conformant → non-conformant',
    );
    // The other way round it is an improvement: no regression.
    const back = await dpconform('report', 'diff', dirs.sample!, goodDir);
    expect(back.exitCode).toBe(0);
    expect(back.stdout).toContain('✅ no regression');
  });
});
