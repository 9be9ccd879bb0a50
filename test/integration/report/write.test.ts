/**
 * Writes a whole report to disk and checks each file with an outside tool: junit.xml against
 * src/report/junit.xsd with xmllint, report.json against its JSON Schema.
 */
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import { renderJunit, renderQualificationJunit } from '../../../src/report/render-junit.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { attachmentBaseFor, reportDir, writeQualification, writeReport } from '../../../src/report/write.ts';
import { run } from '../../../src/sys/exec.ts';
import { conformantRun, sampleRun } from '../../unit/report/sample-run.ts';

const XSD = new URL('../../../src/report/junit.xsd', import.meta.url).pathname;

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-write-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function xmllint(file: string) {
  return run(['xmllint', '--noout', '--schema', XSD, file], { reject: false });
}

describe('writeReport', () => {
  test('writes the four files, and nothing else, into reports/<run-id>/', async () => {
    const runModel = sampleRun();
    const out = reportDir(join(dir, 'reports'), runModel.runId);
    const files = await writeReport(out, runModel);
    expect(Object.values(files).sort()).toEqual(
      ['junit.xml', 'report.html', 'report.json', 'report.md'].map((f) => join(out, f)),
    );
    expect((await readdir(out)).sort()).toEqual(['junit.xml', 'report.html', 'report.json', 'report.md']);
    expect(reportProblems(JSON.parse(await readFile(files.json, 'utf8')))).toEqual([]);
  });

  test('refuses a run id that is not a plain directory name', () => {
    expect(() => reportDir('/r', '../escape')).toThrow(/not usable/);
    expect(reportDir('/r', 'r1-abc.2')).toBe('/r/r1-abc.2');
  });
});

describe('junit.xml', () => {
  test.each([
    ['the sample run (every verdict, problems, hostile text)', sampleRun],
    ['a conformant run', conformantRun],
  ])('%s is valid against src/report/junit.xsd', async (_name, make) => {
    const file = join(dir, `${make.name}.xml`);
    await writeFile(file, renderJunit(make()));
    const r = await xmllint(file);
    expect(r.stderr.trim()).toBe(`${file} validates`);
    expect(r.exitCode).toBe(0);
  });

  test('the schema rejects what CI systems would not read', async () => {
    const good = renderJunit(sampleRun());
    const broken: [string, string][] = [
      ['no-name', good.replace(/<testcase name="[^"]*"/, '<testcase')],
      ['bad-suites-time', good.replace(/(<testsuites [^>]*) time="[0-9.]+"/, '$1 time="soon"')],
      ['bad-testcase-time', good.replace(/(<testcase [^>]*) time="[0-9.]+"/, '$1 time="soon"')],
      ['two-results', good.replace('<skipped ', '<failure message="x">x</failure><skipped ')],
      ['not-well-formed', good.replace('&lt;script&gt;', '<script>')],
    ];
    for (const [name, text] of broken) {
      expect(text, name).not.toBe(good);
      const file = join(dir, `${name}.xml`);
      await writeFile(file, text);
      const r = await xmllint(file);
      expect(r.exitCode, name).not.toBe(0);
    }
  });

  test('a qualification (two runs merged), attachments included, is valid too', async () => {
    const q = mergeRuns(
      [
        { run: sampleRun(), source: 'a', sourceSchemaVersion: 2 },
        { run: { ...conformantRun(), runId: 'r2' }, source: 'b', sourceSchemaVersion: 2 },
      ],
      'q',
    );
    const file = join(dir, 'qualification.xml');
    const text = renderQualificationJunit(q, { attachmentBase: 'reports/q' });
    expect(text).toContain('<property name="attachment" value="reports/q/runs/r2/');
    await writeFile(file, text);
    const r = await xmllint(file);
    expect(r.stderr.trim()).toBe(`${file} validates`);
  });
});

describe('writeQualification', () => {
  test('writes the four files, a qualification report.json that validates', async () => {
    const q = mergeRuns([{ run: sampleRun(), source: 'a', sourceSchemaVersion: 2 }], 'q');
    const out = join(dir, 'qualification');
    const files = await writeQualification(out, q);
    expect((await readdir(out)).sort()).toEqual(['junit.xml', 'report.html', 'report.json', 'report.md']);
    expect(reportProblems(JSON.parse(await readFile(files.json, 'utf8')))).toEqual([]);
    expect(await readFile(files.markdown, 'utf8')).toMatch(
      /^# dpconform qualification report: ❌ non-conformant\n/,
    );
  });

  test('attachment paths in junit.xml start from the working directory when the report is below it', () => {
    expect(attachmentBaseFor('/work/reports/r1', '/work')).toBe('reports/r1/');
    expect(attachmentBaseFor('/tmp/reports/r1', '/work')).toBe('/tmp/reports/r1/');
    expect(attachmentBaseFor('/work', '/work')).toBe('');
  });
});
