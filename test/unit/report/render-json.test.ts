import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import { describe, expect, test } from 'vitest';
import { type Run, SCHEMA_VERSION } from '../../../src/report/model.ts';
import { REPORT_SCHEMA_URL, renderJson } from '../../../src/report/render-json.ts';
import { assertReport, reportProblems } from '../../../src/report/validate.ts';
import { conformantRun, sampleRun } from './sample-run.ts';

// Validated here with a fresh ajv, independent of src/report/validate.ts.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;
const ajv = new Ajv2020({ allErrors: true, strict: true });
addFormats(ajv);
const validate = ajv.compile(JSON.parse(readFileSync(REPORT_SCHEMA_URL, 'utf8')) as object);

function parsed(text: string): Record<string, unknown> {
  return JSON.parse(text) as Record<string, unknown>;
}

describe('renderJson', () => {
  test('the sample run validates against report.schema.json', () => {
    const doc = parsed(renderJson(sampleRun()));
    const ok = validate(doc);
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
    expect(validate(parsed(renderJson(conformantRun())))).toBe(true);
  });

  test('round-trips the model and puts schemaVersion and verdict first', () => {
    const run = sampleRun();
    const text = renderJson(run);
    expect(JSON.parse(text)).toEqual(run);
    expect(Object.keys(parsed(text)).slice(0, 3)).toEqual(['schemaVersion', 'runId', 'verdict']);
    expect(parsed(text).schemaVersion).toBe(SCHEMA_VERSION);
    expect(text.endsWith('}\n')).toBe(true);
  });

  test('the schema rejects what the model forbids', () => {
    const bad = (edit: (doc: Run) => void) => {
      const doc = JSON.parse(renderJson(sampleRun())) as Run;
      edit(doc);
      return validate(doc);
    };
    const first = (d: Run) => d.passes[0]!.areas[0]!.requirements[0]!;
    expect(bad((d) => Object.assign(d, { verdict: 'passed' }))).toBe(false);
    expect(bad((d) => Object.assign(d, { schemaVersion: 3 }))).toBe(false);
    expect(bad((d) => delete (d.environment.kernel as Partial<Run['environment']['kernel']>).btf)).toBe(
      false,
    );
    expect(bad((d) => Object.assign(first(d).evidence[0]!, { kind: 'pcap' }))).toBe(false);
    expect(bad((d) => Object.assign(first(d), { extra: 1 }))).toBe(false);
    expect(bad((d) => Object.assign(d, { startedAt: 'yesterday' }))).toBe(false);
    // A non-conformant requirement must say why; a skipped one must give its reason.
    expect(bad((d) => delete d.passes[1]!.areas[0]!.requirements[1]!.failure)).toBe(false);
    expect(bad((d) => delete d.passes[0]!.areas[0]!.requirements[2]!.reason)).toBe(false);
    // The edits above are what made those fail: the untouched document passes.
    expect(bad(() => {})).toBe(true);
  });

  test('validate.ts agrees with the schema and names the violation', () => {
    expect(reportProblems(sampleRun())).toEqual([]);
    const doc = JSON.parse(renderJson(sampleRun())) as Run;
    Object.assign(doc.passes[0]!.mode, { dataplane: 'xdp' });
    expect(reportProblems(doc)).toEqual([
      '/passes/0/mode/dataplane must be equal to one of the allowed values',
    ]);
    expect(() => assertReport(doc)).toThrow(/not a valid dpconform report/);
  });
});
