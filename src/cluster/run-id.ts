/**
 * Run ids: six hex digits naming everything one run makes, short enough to keep interface,
 * namespace and container names readable.
 */
import { randomBytes } from 'node:crypto';

/** Makes a fresh run id. */
export function newRunId(): string {
  return randomBytes(3).toString('hex');
}

/** True when the text is a run id this tool would make. */
export function isRunId(text: string): boolean {
  return /^[0-9a-f]{6}$/.test(text);
}
