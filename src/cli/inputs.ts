/**
 * Input checks a command makes before it builds or changes anything: manifest files read and
 * validated whole, a report directory that can be written. Each failure is a usage error (exit
 * 2) in one line naming the file and what to do.
 */
import { constants } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { manifestsFrom } from '../k8s/manifest.ts';
import { validateManifests } from '../k8s/validate.ts';
import { CliError, EXIT } from './command.ts';

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
