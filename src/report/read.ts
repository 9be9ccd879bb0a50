/**
 * Reads a report back from disk (a run's or a qualification's): checked against the schema,
 * any version this dpconform reads brought to the current one, or one line saying what is wrong.
 */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { type Qualification, READABLE_SCHEMA_VERSIONS, type Run, SCHEMA_VERSION } from './model.ts';
import { reportProblems } from './validate.ts';

/** A report read from disk. */
export type LoadedReport =
  | { kind: 'run'; run: Run; dir: string; file: string; sourceSchemaVersion: number }
  | { kind: 'qualification'; qualification: Qualification; dir: string; file: string };

/** A report that cannot be read: the message is the one line to show. */
export class ReportReadError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportReadError';
  }
}

/** Where a report's `report.json` is, given its directory or the file itself. */
export async function reportJsonPath(path: string): Promise<string> {
  const s = await stat(path).catch(() => undefined);
  if (!s)
    throw new ReportReadError(
      `${path}: no such file or directory (give a report directory or its report.json)`,
    );
  if (s.isDirectory()) {
    const file = join(path, 'report.json');
    if (!(await stat(file).catch(() => undefined))?.isFile()) {
      throw new ReportReadError(
        `${path} holds no report.json (give a report directory such as reports/<run-id>)`,
      );
    }
    return file;
  }
  return path;
}

/**
 * Brings a parsed report of a readable version to the current one. Version 1 differs only by
 * what it lacks (evidence files, summaries, figures), so its runs are version 2 runs as they are.
 */
export function upgradeRun(run: Run | (Omit<Run, 'schemaVersion'> & { schemaVersion: number })): Run {
  return { ...run, schemaVersion: SCHEMA_VERSION };
}

/** Reads and checks a report from its directory or its `report.json`. */
export async function readReport(path: string): Promise<LoadedReport> {
  const file = await reportJsonPath(path);
  const dir = dirname(file);
  let value: unknown;
  try {
    value = JSON.parse(await readFile(file, 'utf8'));
  } catch (err) {
    throw new ReportReadError(`${file} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const version = (value as { schemaVersion?: unknown } | null)?.schemaVersion;
  if (typeof version !== 'number' || !READABLE_SCHEMA_VERSIONS.includes(version)) {
    const known = READABLE_SCHEMA_VERSIONS.join(' and ');
    throw new ReportReadError(
      typeof version === 'number' && version > SCHEMA_VERSION
        ? `${file} was written by a newer dpconform (report schema ${version}; this one reads ${known}): upgrade dpconform`
        : `${file} is not a dpconform report (schemaVersion ${JSON.stringify(version)}; readable: ${known})`,
    );
  }
  const problems = reportProblems(value);
  if (problems.length > 0) {
    const more = problems.length > 3 ? ` (and ${problems.length - 3} more)` : '';
    throw new ReportReadError(
      `${file} is not a valid dpconform report: ${problems.slice(0, 3).join('; ')}${more}`,
    );
  }
  if ((value as { kind?: unknown }).kind === 'qualification') {
    return { kind: 'qualification', qualification: value as Qualification, dir, file };
  }
  return { kind: 'run', run: upgradeRun(value as Run), dir, file, sourceSchemaVersion: version };
}

/** A short name for a report read from `path`: its directory's name. */
export function reportName(loaded: LoadedReport): string {
  return basename(loaded.dir);
}
