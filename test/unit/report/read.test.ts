import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { SCHEMA_VERSION } from '../../../src/report/model.ts';
import { ReportReadError, readReport } from '../../../src/report/read.ts';
import { renderJson } from '../../../src/report/render-json.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { sampleRun, schemaOneRun } from './sample-run.ts';

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-read-'));
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function reportIn(name: string, text: string): Promise<string> {
  const d = join(dir, name);
  await rm(d, { recursive: true, force: true });
  await mkdir(d, { recursive: true });
  await writeFile(join(d, 'report.json'), text);
  return d;
}

describe('schema versions', () => {
  test('a report written with schema 1 still validates', () => {
    expect(reportProblems(JSON.parse(JSON.stringify(schemaOneRun())))).toEqual([]);
  });

  test('the new fields are checked: an evidence file path cannot leave the report directory', () => {
    const run = JSON.parse(renderJson(sampleRun()));
    run.passes[1].areas[0].requirements[1].attachments[0].path = '../../etc/passwd';
    expect(reportProblems(run)).toEqual([
      '/passes/1/areas/0/requirements/1/attachments/0/path must match pattern "^(?!/)(?!.*(^|/)\\.\\.(/|$)).+$"',
    ]);
    run.passes[1].areas[0].requirements[1].attachments[0].path = '/etc/passwd';
    expect(reportProblems(run)).toHaveLength(1);
  });
});

describe('readReport', () => {
  test('reads a directory or its report.json, and brings schema 1 to the current version', async () => {
    const d = await reportIn('v1', JSON.stringify(schemaOneRun()));
    for (const path of [d, join(d, 'report.json')]) {
      const loaded = await readReport(path);
      expect(loaded.kind).toBe('run');
      if (loaded.kind !== 'run') return;
      expect(loaded.sourceSchemaVersion).toBe(1);
      expect(loaded.run.schemaVersion).toBe(SCHEMA_VERSION);
      expect(loaded.run.runId).toBe('r20250301-100000-ab12');
    }
  });

  test('says in one line what is wrong: no report, not JSON, a newer schema, an invalid report', async () => {
    const cases: [string, RegExp][] = [
      [
        join(dir, 'missing'),
        /missing: no such file or directory \(give a report directory or its report\.json\)$/,
      ],
      [await reportIn('notjson', '{'), /report\.json is not JSON: /],
      [
        await reportIn('newer', JSON.stringify({ ...sampleRun(), schemaVersion: 9 })),
        /written by a newer dpconform \(report schema 9; this one reads 1 and 2\): upgrade dpconform$/,
      ],
      [
        await reportIn('invalid', JSON.stringify({ ...sampleRun(), verdict: 'passed' })),
        /is not a valid dpconform report: \/verdict must be equal to one of the allowed values$/,
      ],
    ];
    for (const [path, message] of cases) {
      const err = await readReport(path).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(ReportReadError);
      expect((err as Error).message).toMatch(message);
      expect((err as Error).message).not.toContain('\n');
    }
    const empty = join(dir, 'empty');
    await mkdir(empty, { recursive: true });
    await expect(readReport(empty)).rejects.toThrow('holds no report.json');
  });
});
