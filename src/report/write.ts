/**
 * Writes a report into its directory: junit.xml, report.json, report.md and report.html (for a
 * run, `reports/<run-id>/`, its evidence files already beside them; for a qualification, the
 * merge's output with each run under `runs/<run-id>/`). Each file is written under a temporary
 * name and renamed, so a reader never sees half a report.
 */
import { mkdir, rename, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, sep } from 'node:path';
import type { Qualification, Run } from './model.ts';
import { renderHtml, renderQualificationHtml } from './render-html.ts';
import { renderJson, renderQualificationJson } from './render-json.ts';
import { renderJunit, renderQualificationJunit } from './render-junit.ts';
import { renderMarkdown, renderQualificationMarkdown } from './render-md.ts';

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

/**
 * How a CI job's working directory reaches the report's directory, for the evidence files named
 * in junit.xml: relative when the report is below it, absolute otherwise.
 */
export function attachmentBaseFor(dir: string, cwd: string = process.cwd()): string {
  const rel = relative(cwd, dir);
  const base = rel === '' ? '' : rel.startsWith('..') || isAbsolute(rel) ? dir : rel;
  return base === '' ? '' : `${base.split(sep).join('/')}/`;
}

async function writeAll(dir: string, contents: Record<keyof ReportFiles, string>): Promise<ReportFiles> {
  await mkdir(dir, { recursive: true });
  const files: ReportFiles = {
    junit: join(dir, 'junit.xml'),
    json: join(dir, 'report.json'),
    markdown: join(dir, 'report.md'),
    html: join(dir, 'report.html'),
  };
  await Promise.all(
    (Object.keys(files) as (keyof ReportFiles)[]).map(async (k) => {
      const tmp = `${files[k]}.${process.pid}.tmp`;
      await writeFile(tmp, contents[k], 'utf8');
      await rename(tmp, files[k]);
    }),
  );
  return files;
}

/** Renders the run in every format and writes the files into `dir` (created if needed). */
export async function writeReport(dir: string, run: Run): Promise<ReportFiles> {
  const attachmentBase = attachmentBaseFor(dir);
  return writeAll(dir, {
    junit: renderJunit(run, { attachmentBase }),
    json: renderJson(run),
    markdown: renderMarkdown(run),
    html: renderHtml(run),
  });
}

/** Renders a qualification in every format and writes the files into `dir`. */
export async function writeQualification(dir: string, q: Qualification): Promise<ReportFiles> {
  const attachmentBase = attachmentBaseFor(dir);
  return writeAll(dir, {
    junit: renderQualificationJunit(q, { attachmentBase }),
    json: renderQualificationJson(q),
    markdown: renderQualificationMarkdown(q),
    html: renderQualificationHtml(q),
  });
}
