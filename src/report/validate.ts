/**
 * Checks a parsed `report.json` (a run's or a qualification's) against its JSON Schema, so a
 * report read back from disk (to merge, diff or re-render it, or in a consumer's CI) is known to
 * have the model's shape.
 */
import { readFileSync } from 'node:fs';
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormatsModule from 'ajv-formats';
import type { Qualification, Run } from './model.ts';
import { REPORT_SCHEMA_URL } from './render-json.ts';

// ajv-formats is CommonJS; under ESM its default export may arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ??
  addFormatsModule) as unknown as (ajv: Ajv2020) => Ajv2020;

let compiled: ReturnType<Ajv2020['compile']> | undefined;

function validator(): ReturnType<Ajv2020['compile']> {
  if (!compiled) {
    const ajv = new Ajv2020({ allErrors: true, strict: true, allowUnionTypes: true });
    addFormats(ajv);
    compiled = ajv.compile(JSON.parse(readFileSync(REPORT_SCHEMA_URL, 'utf8')) as object);
  }
  return compiled;
}

/** Validates a parsed report; returns one line per violation (empty when valid). */
export function reportProblems(value: unknown): string[] {
  const validate = validator();
  if (validate(value)) return [];
  // The root picks the run or the qualification schema; its own "must match else" says nothing more.
  return (validate.errors ?? [])
    .filter((e) => !(e.keyword === 'if' && e.schemaPath === '#/if'))
    .map((e) => `${e.instancePath || '/'} ${e.message ?? 'is invalid'}`);
}

/** Narrows a parsed value to a report (a run or a qualification), or throws listing what is wrong with it. */
export function assertReport(value: unknown): asserts value is Run | Qualification {
  const problems = reportProblems(value);
  if (problems.length > 0) throw new Error(`not a valid dpconform report:\n  ${problems.join('\n  ')}`);
}
