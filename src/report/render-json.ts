/**
 * The run (or a qualification) as `report.json`: the model itself, schema-versioned, for
 * machines. Its shape is described by `report.schema.json` next to this file.
 */
import type { Qualification, Run } from './model.ts';

/** Where the JSON Schema of `report.json` lives. */
export const REPORT_SCHEMA_URL: URL = new URL('./report.schema.json', import.meta.url);

/** Renders the run as pretty-printed JSON with a final newline. */
export function renderJson(run: Run): string {
  // Fixed key order at the top, so a person opening the file sees the verdict first.
  const { schemaVersion, runId, verdict, startedAt, endedAt, environment, config, passes, evidenceFiles } =
    run;
  const ordered = {
    schemaVersion,
    runId,
    verdict,
    startedAt,
    endedAt,
    environment,
    config,
    ...(evidenceFiles ? { evidenceFiles } : {}),
    passes,
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/** Renders a qualification as pretty-printed JSON, its verdict and differences before its runs. */
export function renderQualificationJson(q: Qualification): string {
  const { schemaVersion, kind, name, verdict, createdAt, differences, runs } = q;
  const ordered = { schemaVersion, kind, name, verdict, createdAt, differences, runs };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
