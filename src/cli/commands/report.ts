/**
 * `dpconform report merge DIR...` (several runs' reports made one qualification report) and
 * `dpconform report diff OLD NEW` (what changed between two reports, as Markdown for a
 * pull-request comment; exit 1 on a regression). Neither touches a cluster.
 */
import { cp, mkdir, readdir, rm } from 'node:fs/promises';
import { basename, join, relative, resolve } from 'node:path';
import { diffReports, regressions, renderDiffMarkdown } from '../../report/diff.ts';
import { DuplicateRunError, type MergeInput, mergeRuns, runDir } from '../../report/merge.ts';
import { exitCodeFor, type Qualification, type Run } from '../../report/model.ts';
import { type LoadedReport, ReportReadError, readReport } from '../../report/read.ts';
import { writeQualification } from '../../report/write.ts';
import { CliError, type Command, EXIT, type Parsed, strOption } from '../command.ts';

const USAGE = 'merge DIR... [--out DIR] [--name NAME] | diff OLD NEW';

async function load(path: string): Promise<LoadedReport> {
  try {
    return await readReport(path);
  } catch (err) {
    if (err instanceof ReportReadError) throw new CliError(`report: ${err.message}`, EXIT.usage);
    throw err;
  }
}

/** A run to merge and the directory its files are copied from. */
interface Source extends MergeInput {
  dir: string;
}

function sourcesOf(path: string, loaded: LoadedReport): Source[] {
  if (loaded.kind === 'run') {
    return [
      { run: loaded.run, source: path, sourceSchemaVersion: loaded.sourceSchemaVersion, dir: loaded.dir },
    ];
  }
  // A qualification merged again: its runs, each from where it keeps them.
  return loaded.qualification.runs.map((r) => ({
    run: r.run,
    source: `${path}/${r.dir}`,
    sourceSchemaVersion: r.sourceSchemaVersion,
    dir: join(loaded.dir, r.dir),
  }));
}

async function isEmptyOrMissing(dir: string): Promise<boolean> {
  const entries = await readdir(dir).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return [];
    throw new CliError(`report merge: --out ${dir} is not a directory we can write`, EXIT.usage);
  });
  return entries.length === 0;
}

async function merge(args: Parsed, paths: string[]): Promise<number> {
  if (paths.length === 0)
    throw new CliError('report merge: give the report directories to merge', EXIT.usage);
  const out = strOption(args, 'out') ?? join('reports', 'qualification');
  const name = strOption(args, 'name') ?? basename(resolve(out));
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) {
    throw new CliError(
      `report merge: --name must be a plain name (letters, digits, . _ -), got "${name}"`,
      EXIT.usage,
    );
  }
  const sources: Source[] = [];
  for (const p of paths) sources.push(...sourcesOf(p, await load(p)));
  for (const s of sources) {
    if (resolve(out) === resolve(s.dir) || !relative(resolve(s.dir), resolve(out)).startsWith('..')) {
      throw new CliError(
        `report merge: --out ${out} is inside ${s.source}; choose another --out`,
        EXIT.usage,
      );
    }
  }
  if (!(await isEmptyOrMissing(out))) {
    throw new CliError(
      `report merge: ${out} already exists and is not empty; remove it or choose another --out`,
      EXIT.usage,
    );
  }
  let q: Qualification;
  try {
    q = mergeRuns(sources, name);
  } catch (err) {
    if (err instanceof DuplicateRunError) throw new CliError(`report merge: ${err.message}`, EXIT.usage);
    throw err;
  }
  const created = !(await readdir(out).catch(() => undefined));
  try {
    await mkdir(out, { recursive: true });
    // Each run whole (its own report and its evidence files), so the qualification is one folder to archive.
    for (const s of sources)
      await cp(s.dir, join(out, runDir(s.run.runId)), { recursive: true, errorOnExist: true });
    const files = await writeQualification(out, q);
    const runs = q.runs.map((r) => `${r.run.runId} ${r.run.verdict}`).join(', ');
    process.stdout.write(`${q.verdict.toUpperCase()}: ${q.runs.length} runs merged (${runs})\n`);
    for (const d of q.differences) process.stdout.write(`differs: ${d}\n`);
    for (const f of Object.values(files))
      process.stdout.write(`report: ${relative(process.cwd(), f) || f}\n`);
  } catch (err) {
    // Half a qualification would read as a whole one.
    if (created) await rm(out, { recursive: true, force: true });
    else
      for (const e of await readdir(out).catch(() => []))
        await rm(join(out, e), { recursive: true, force: true });
    throw err;
  }
  return exitCodeFor(q.verdict);
}

function title(path: string, loaded: LoadedReport): string {
  return loaded.kind === 'run'
    ? `${path} (run ${loaded.run.runId})`
    : `${path} (qualification ${loaded.qualification.name}, ${loaded.qualification.runs.length} runs)`;
}

function modelOf(loaded: LoadedReport): Run | Qualification {
  return loaded.kind === 'run' ? loaded.run : loaded.qualification;
}

async function diff(args: Parsed, paths: string[]): Promise<number> {
  if (paths.length !== 2) throw new CliError('report diff: give two reports, OLD and NEW', EXIT.usage);
  for (const flag of ['out', 'name']) {
    if (args.values[flag] !== undefined)
      throw new CliError(`report diff: --${flag} is for report merge`, EXIT.usage);
  }
  const [oldPath = '', newPath = ''] = paths;
  const [oldReport, newReport] = [await load(oldPath), await load(newPath)];
  const d = diffReports(modelOf(oldReport), modelOf(newReport));
  process.stdout.write(
    renderDiffMarkdown(d, { old: title(oldPath, oldReport), new: title(newPath, newReport) }),
  );
  return regressions(d).length > 0 ? 1 : EXIT.ok;
}

/** `dpconform report`. */
export const report: Command = {
  name: 'report',
  summary:
    "Merge runs' reports into one qualification report (exit 1 if non-conformant), or diff two reports (exit 1 on a regression).",
  usage: USAGE,
  positionals: true,
  options: {
    out: {
      type: 'string',
      arg: 'DIR',
      help: 'merge: where the qualification report goes, new or empty (default reports/qualification)',
    },
    name: {
      type: 'string',
      arg: 'NAME',
      help: "merge: the qualification's name (default: the --out folder's name)",
    },
  },
  async run(args) {
    const [sub, ...paths] = args.positionals;
    if (sub === 'merge') return merge(args, paths);
    if (sub === 'diff') return diff(args, paths);
    throw new CliError(`report: say merge or diff (dpconform report ${USAGE})`, EXIT.usage);
  },
};
