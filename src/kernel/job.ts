/**
 * What the host hands a VM (the job file) and what the VM hands back (the result file), both in
 * the shared results directory. Plain JSON, checked on reading: the two sides are different
 * processes, possibly of different revisions of this code.
 */
import type { PassMode, TimeScale } from '../report/model.ts';
import type { Accel } from './qemu.ts';

/** The job file's name in the results directory (the name the kernel command line carries). */
export const JOB_FILE = 'job.json';

/** The kernel's build configuration, when the host has it (the guest puts it in /boot). */
export const KERNEL_CONFIG_FILE = 'kernel.config';

/** What the guest writes back, beside its report. */
export const RESULT_FILE = 'result.json';

/** Format version of both files. */
export const JOB_VERSION = 1;

/** A conformance run to perform inside the VM. */
export interface GuestJob {
  version: typeof JOB_VERSION;
  /** The kernel as `--kernel` named it. */
  label: string;
  accel: Accel;
  areas: string[];
  passes: PassMode[];
  nodes: number;
  /** Manifests applied before the suites (paths on the shared root). */
  manifests: string[];
  /** The command line of the whole run, for the report. */
  argv: string[];
  /** The factor the user gave; the guest measures its own when absent. */
  timeScale?: number;
  /** How long the calibration work took on the host, the reference for the guest's measure. */
  hostCalibrationMs: number;
}

/** What came of a job. */
export interface GuestResult {
  version: typeof JOB_VERSION;
  /** `uname -r` inside the VM. */
  release: string;
  timeScale?: TimeScale;
  /** The run's report directory, relative to the results directory. */
  reportDir?: string;
  /** Why the suites did not run or did not finish, one line. */
  error?: string;
}

function fail(what: string, why: string): never {
  throw new Error(`${what}: ${why}`);
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function strings(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/** Parses a job file; throws naming what is wrong. */
export function parseGuestJob(text: string, what = JOB_FILE): GuestJob {
  const v: unknown = JSON.parse(text);
  if (!isObject(v)) fail(what, 'not a JSON object');
  if (v.version !== JOB_VERSION) fail(what, `version ${String(v.version)}, expected ${JOB_VERSION}`);
  if (typeof v.label !== 'string') fail(what, 'no label');
  if (v.accel !== 'kvm' && v.accel !== 'tcg') fail(what, 'accel is neither kvm nor tcg');
  if (!strings(v.areas) || !strings(v.manifests) || !strings(v.argv)) fail(what, 'areas, manifests, argv');
  if (!Array.isArray(v.passes) || v.passes.length === 0) fail(what, 'no passes');
  if (!Number.isInteger(v.nodes) || (v.nodes as number) < 1) fail(what, 'nodes is not a positive integer');
  if (typeof v.hostCalibrationMs !== 'number') fail(what, 'no hostCalibrationMs');
  if (v.timeScale !== undefined && typeof v.timeScale !== 'number') fail(what, 'timeScale is not a number');
  return v as unknown as GuestJob;
}

/** Parses a result file; throws naming what is wrong. */
export function parseGuestResult(text: string, what = RESULT_FILE): GuestResult {
  const v: unknown = JSON.parse(text);
  if (!isObject(v)) fail(what, 'not a JSON object');
  if (v.version !== JOB_VERSION) fail(what, `version ${String(v.version)}, expected ${JOB_VERSION}`);
  if (typeof v.release !== 'string') fail(what, 'no release');
  if (v.reportDir !== undefined && typeof v.reportDir !== 'string') fail(what, 'reportDir is not a string');
  if (v.error !== undefined && typeof v.error !== 'string') fail(what, 'error is not a string');
  return v as unknown as GuestResult;
}
