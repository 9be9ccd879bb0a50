/**
 * The VM's side of a kernel run: make the booted kernel a machine the suites can use (bpffs,
 * cgroup v2 on its own as current distributions mount it, tmpfs for run state, the dataplane's
 * modules), check it meets the prerequisites, measure the time scale, run the same conformance
 * run as on the host, and write back where its report is.
 */
import { existsSync } from 'node:fs';
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { dirname, join, relative } from 'node:path';
import type { TimeScale } from '../report/model.ts';
import { REPO_ROOT, runConformance } from '../run/conformance.ts';
import { run } from '../sys/exec.ts';
import { preflight } from '../sys/preflight.ts';
import { factorFromCalibration, TIME_SCALE_ENV } from '../sys/time-scale.ts';
import { calibrationMs } from './calibrate.ts';
import {
  type GuestJob,
  type GuestResult,
  JOB_VERSION,
  KERNEL_CONFIG_FILE,
  parseGuestJob,
  RESULT_FILE,
} from './job.ts';
import { missingPrerequisites } from './probes.ts';

/** Modules loaded up front: what the host's setup loads, and what a fresh VM has not autoloaded. */
export const GUEST_MODULES: readonly string[] = [
  'veth',
  'bridge',
  'vxlan',
  'sch_ingress',
  'cls_bpf',
  'br_netfilter',
];

/** The PATH the run has in the VM. */
export const GUEST_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Console line the guest prints now and then, so the host can tell a busy VM from a stuck one. */
export const HEARTBEAT = 'dpconform-vm: alive';

/** How often the heartbeat is printed. */
export const HEARTBEAT_MS = 30_000;

/**
 * The mounts a VM needs before a run, in order. The host's root is read-only below a tmpfs
 * overlay; /run gets a tmpfs of its own so the host's run state is not taken for the VM's. /tmp
 * stays the overlay's, so the host's Node compile cache is there to be read.
 */
export function guestMounts(): string[][] {
  return [
    ['mount', '-t', 'tmpfs', '-o', 'mode=0755', 'tmpfs', '/run'],
    ['mount', '-t', 'bpf', 'bpf', '/sys/fs/bpf'],
    // cgroup v2 alone, where current distributions put it: the harness must find it, not assume it.
    ['mount', '-t', 'cgroup2', 'cgroup2', '/sys/fs/cgroup'],
  ];
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

/** Mounts what a run needs and loads the dataplane's modules; returns warnings, one line each. */
async function prepare(say: (line: string) => void): Promise<{ bpffs: boolean }> {
  let bpffs = false;
  for (const argv of guestMounts()) {
    const r = await run(argv, { reject: false });
    if (r.exitCode === 0) bpffs ||= argv.includes('bpf');
    else say(`could not ${argv.join(' ')}: ${r.stderr.trim()}`);
  }
  for (const m of GUEST_MODULES) {
    const r = await run(['modprobe', m], { reject: false });
    if (r.exitCode !== 0) say(`modprobe ${m} failed: ${r.stderr.trim()}`);
  }
  return { bpffs };
}

/** The time scale of this VM: the one given, or the calibration work's time here over the host's. */
async function timeScaleOf(job: GuestJob): Promise<TimeScale> {
  if (job.timeScale !== undefined) return { factor: job.timeScale, source: 'given' };
  const measuredMs = await calibrationMs();
  return {
    factor: factorFromCalibration(measuredMs, job.hostCalibrationMs),
    source: 'measured',
    measuredMs,
    referenceMs: job.hostCalibrationMs,
  };
}

/**
 * Performs the job in `jobPath` and writes {@link RESULT_FILE} beside it, whatever happens: a
 * kernel that lacks a prerequisite, or a run that fails to start, is a result with an error.
 */
export async function runGuestJob(jobPath: string): Promise<number> {
  const dir = dirname(jobPath);
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const result: GuestResult = { version: JOB_VERSION, release: release() };
  const heartbeat = setInterval(() => say(HEARTBEAT), HEARTBEAT_MS);
  try {
    const job = parseGuestJob(await readFile(jobPath, 'utf8'));
    process.chdir(REPO_ROOT);
    const { bpffs } = await prepare(say);
    // Where bpftool looks for the kernel's configuration (the host's /boot has its own kernel's).
    await copyFile(join(dir, KERNEL_CONFIG_FILE), `/boot/config-${result.release}`).catch(() => undefined);
    const missing = missingPrerequisites({
      release: result.release,
      btf: existsSync('/sys/kernel/btf/vmlinux'),
      bpffsMounted: bpffs,
    });
    if (missing.length > 0) throw new Error(`kernel ${result.release} lacks ${missing.join(', ')}`);
    const problems = await preflight({ provider: 'netns' });
    if (problems.length > 0) throw new Error(`the VM cannot run the suites: ${problems.join('; ')}`);
    say(`measuring this VM's speed against the host's for the time scale`);
    const timeScale = await timeScaleOf(job);
    result.timeScale = timeScale;
    process.env[TIME_SCALE_ENV] = String(timeScale.factor);
    say(
      `time scale ${timeScale.factor}${timeScale.source === 'measured' ? ` (calibration ${timeScale.measuredMs} ms here, ${timeScale.referenceMs} ms on the host)` : ' (given)'}`,
    );
    const outcome = await runConformance({
      areas: job.areas,
      passes: job.passes,
      nodes: job.nodes,
      provider: 'netns',
      reportsRoot: dir,
      keep: false,
      manifests: job.manifests,
      argv: job.argv,
      log: say,
      timeScale,
    });
    result.reportDir = relative(dir, outcome.reportDir);
  } catch (err) {
    result.error = firstLine(err);
    // All of it on the console (kept as vm-console.log): a log tail often follows the first line.
    say(`error: ${err instanceof Error ? err.message : String(err)}`);
  } finally {
    clearInterval(heartbeat);
  }
  await writeFile(join(dir, RESULT_FILE), `${JSON.stringify(result, null, 2)}\n`);
  return result.error === undefined ? 0 : 1;
}
