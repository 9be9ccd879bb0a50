/**
 * The time scale: one factor by which every probe timeout, start budget and test limit of a run
 * is stretched, so that a slow machine (a kernel under software emulation is about ten times
 * slower than its host) is not mistaken for a broken dataplane. It travels in the environment,
 * so the suites' workers, the agents and the metrics servers all read the same factor.
 */

/** The environment variable that carries the factor to every process of a run. */
export const TIME_SCALE_ENV = 'DPCONFORM_TIME_SCALE';

/** The largest factor accepted: beyond it a run would wait minutes on every dropped packet. */
export const MAX_TIME_SCALE = 100;

/**
 * Reads a factor as a person types it (`11`, `2.5`); throws one line naming what is accepted.
 * Below 1 is refused: the budgets are tuned on a fast host, and tightening them proves nothing.
 */
export function parseTimeScale(text: string, what = TIME_SCALE_ENV): number {
  const n = Number(text.trim());
  if (text.trim() === '' || !Number.isFinite(n) || n < 1 || n > MAX_TIME_SCALE) {
    throw new Error(`${what} must be a number from 1 to ${MAX_TIME_SCALE}, got "${text}"`);
  }
  return n;
}

/** The factor in effect for this process: the environment's, or 1. */
export function timeScale(env: NodeJS.ProcessEnv = process.env): number {
  const v = env[TIME_SCALE_ENV];
  return v === undefined || v === '' ? 1 : parseTimeScale(v);
}

/** The factor in effect, and whether it was given (in the environment) or is the default. */
export function timeScaleInEffect(env: NodeJS.ProcessEnv = process.env): {
  factor: number;
  source: 'given' | 'default';
} {
  const v = env[TIME_SCALE_ENV];
  return v === undefined || v === ''
    ? { factor: 1, source: 'default' }
    : { factor: parseTimeScale(v), source: 'given' };
}

/** A budget in milliseconds stretched by the factor (default: the one in effect). */
export function scaled(ms: number, factor: number = timeScale()): number {
  return Math.ceil(ms * factor);
}

/**
 * The factor that makes a machine that needed `measuredMs` for the calibration work look like
 * one that needed `referenceMs`: their ratio, rounded up to a tenth, never below 1.
 */
export function factorFromCalibration(measuredMs: number, referenceMs: number): number {
  if (!(measuredMs > 0) || !(referenceMs > 0)) return 1;
  const ratio = Math.ceil((measuredMs / referenceMs) * 10) / 10;
  return Math.min(MAX_TIME_SCALE, Math.max(1, ratio));
}
