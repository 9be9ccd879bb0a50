/**
 * The conformance suites on disk and the choice of which to run.
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { compareAreas } from '../report/classify.ts';

/** The folder holding one `<area>.test.ts` per area. */
export const SUITES_DIR = fileURLToPath(new URL('../../suites', import.meta.url));

/** The areas that have a suite file, in report order. */
export function availableAreas(dir: string = SUITES_DIR): string[] {
  const found = readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .map((f) => f.slice(0, -'.test.ts'.length));
  return found.sort(compareAreas);
}

/**
 * Areas run only when named: their figures need a machine left to itself and minutes of
 * traffic, which the default run and CI on every change should not pay for.
 */
export const ON_REQUEST_AREAS: readonly string[] = ['performance'];

/** The areas a run takes when none are named. */
export function defaultAreas(available: readonly string[]): string[] {
  return available.filter((a) => !ON_REQUEST_AREAS.includes(a));
}

/**
 * Resolves `--suite a,b` against the suites there are (`all`, or nothing, is the default set);
 * unknown names are an error naming them.
 */
export function selectAreas(requested: string | undefined, available: readonly string[]): string[] {
  if (requested === undefined || requested === '' || requested === 'all') return defaultAreas(available);
  const asked = requested
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  const unknown = asked.filter((a) => !available.includes(a));
  if (unknown.length > 0) {
    throw new Error(
      `unknown suite ${unknown.map((u) => `"${u}"`).join(', ')} (suites: ${available.join(', ')})`,
    );
  }
  return available.filter((a) => asked.includes(a));
}

/** The file of an area's suite. */
export function suiteFile(area: string, dir: string = SUITES_DIR): string {
  return `${dir}/${area}.test.ts`;
}
