/**
 * Input checks a command makes before it builds or changes anything: what a run runs, manifest
 * files read and validated whole, a report directory that can be written. Each failure is a usage error (exit
 * 2) in one line naming the file and what to do.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { manifestsFrom } from '../k8s/manifest.ts';
import { validateManifests } from '../k8s/validate.ts';
import type { PassMode } from '../report/model.ts';
import { DEFAULT_MODES, EVERY_MODE, planPasses } from '../run/passes.ts';
import { selectAreas } from '../run/suites.ts';
import { CliError, EXIT, type Parsed, strOption } from './command.ts';

/**
 * Reads every `-f` file or directory and validates each object in it, so that a bad file is
 * found before the first one is applied. Objects are not checked against a cluster's contents.
 */
export function checkManifestFiles(paths: readonly string[], verb: 'apply' | 'delete'): void {
  for (const path of paths) {
    const manifests = manifestsFrom(path);
    // Deleting reads only each object's identity; applying needs the whole object valid.
    if (verb === 'apply') validateManifests(manifests);
  }
}

/** Fails unless reports can be written under `root` (made if missing, so its nearest existing parent must be writable). */
export async function checkReportRoot(root: string): Promise<void> {
  let dir = resolve(root);
  for (;;) {
    const s = await stat(dir).catch(() => undefined);
    if (s) {
      if (!s.isDirectory())
        throw new CliError(`--report-dir ${root}: ${dir} is not a directory; name a directory`, EXIT.usage);
      break;
    }
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  await access(dir, constants.W_OK).catch(() => {
    throw new CliError(
      `--report-dir ${root}: ${dir} is not writable; name a directory you can write`,
      EXIT.usage,
    );
  });
}

/** What a run runs: its areas, and the modes it runs them in. */
export interface RunSelection {
  areas: string[];
  passes: PassMode[];
}

/** The flags that choose what a run runs, which `--qualify` chooses for itself. */
const SELECTING_FLAGS = ['suite', 'dataplane', 'service-mode'] as const;

/**
 * The areas and passes `run` was asked for. `--qualify` is release qualification: every area of
 * `available`, those run only on request included, in every mode; it takes none of the flags
 * that would choose otherwise.
 */
export function runSelection(args: Parsed, available: readonly string[]): RunSelection {
  if (args.values.qualify === true) {
    const given = SELECTING_FLAGS.filter((f) => args.values[f] !== undefined);
    if (given.length > 0) {
      throw new CliError(
        `--qualify runs every suite in every mode: drop ${given.map((f) => `--${f}`).join(', ')}`,
        EXIT.usage,
      );
    }
    return { areas: [...available], passes: planPasses(EVERY_MODE) };
  }
  try {
    return {
      areas: selectAreas(strOption(args, 'suite'), available),
      passes: planPasses({
        dataplane: strOption(args, 'dataplane') ?? DEFAULT_MODES.dataplane,
        serviceMode: strOption(args, 'service-mode') ?? DEFAULT_MODES.serviceMode,
      }),
    };
  } catch (err) {
    throw new CliError(err instanceof Error ? err.message : String(err), EXIT.usage);
  }
}
