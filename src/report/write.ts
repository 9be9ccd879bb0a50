/**
 * Writes a run's report into its directory (`reports/<run-id>/`): junit.xml, report.json,
 * report.md and report.html. Each file is written under a temporary name and renamed, so a
 * reader never sees half a report.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Run } from './model.ts';
import { renderHtml } from './render-html.ts';
import { renderJson } from './render-json.ts';
import { renderJunit } from './render-junit.ts';
import { renderMarkdown } from './render-md.ts';

/** The files of a written report, by format. */
export interface ReportFiles {
  junit: string;
  json: string;
  markdown: string;
  html: string;
}

/** The report directory of a run under a reports root: `<root>/<run-id>`. */
export function reportDir(reportsRoot: string, runId: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(runId))
    throw new Error(`run id not usable as a directory name: ${runId}`);
  return join(reportsRoot, runId);
}

/** Renders the run in every format and writes the files into `dir` (created if needed). */
export async function writeReport(dir: string, run: Run): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const files: ReportFiles = {
    junit: join(dir, 'junit.xml'),
    json: join(dir, 'report.json'),
    markdown: join(dir, 'report.md'),
    html: join(dir, 'report.html'),
  };
  const contents: [string, string][] = [
    [files.junit, renderJunit(run)],
    [files.json, renderJson(run)],
    [files.markdown, renderMarkdown(run)],
    [files.html, renderHtml(run)],
  ];
  await Promise.all(
    contents.map(async ([path, text]) => {
      const tmp = `${path}.${process.pid}.tmp`;
      await writeFile(tmp, text, 'utf8');
      await rename(tmp, path);
    }),
  );
  return files;
}
