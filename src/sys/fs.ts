/**
 * Small file-system questions the harness asks of the host.
 */
import { stat } from 'node:fs/promises';

/** True when something exists at the path (a file, directory, socket or pin). */
export async function pathExists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}
