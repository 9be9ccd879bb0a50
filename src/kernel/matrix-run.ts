/**
 * `dpconform run --kernel a,b,c`: the same conformance run on each kernel in turn (the running
 * one as `host`, any other booted under qemu with the host's root shared read-only), then one
 * matrix report with every kernel's report beside it. A kernel that cannot be fetched, cannot
 * boot or lacks a prerequisite is a column with an error; the matrix goes on. Nothing of a VM
 * outlives it: its qemu and its working directory go when it stops, Ctrl-C included.
 */
import { existsSync } from 'node:fs';
import {
  copyFile,
  cp,
  mkdir,
  mkdtemp,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import { availableParallelism, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Interrupted, onInterrupt, throwIfInterrupted } from '../cluster/cleanup.ts';
import { newRunId } from '../cluster/providers.ts';
import { buildBpf, mapSizesFrom, REPO_ROOT } from '../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../k8s/felix-settings.ts';
import { formatDuration } from '../report/format.ts';
import { buildKernelMatrix, type KernelMatrix, type MatrixKernel, matrixKernel } from '../report/matrix.ts';
import type { PassMode, Run, TimeScale } from '../report/model.ts';
import { renderMatrixHtml, renderMatrixMarkdown } from '../report/render-matrix.ts';
import { reportDir } from '../report/write.ts';
import { runConformance } from '../run/conformance.ts';
import { haveCommand, run } from '../sys/exec.ts';
import { processAlive, processArgv, readPidFile, stopProcesses } from '../sys/process.ts';
import { scaled, TIME_SCALE_ENV } from '../sys/time-scale.ts';
import { DEFAULT_COMPILE_CACHE_DIR } from '../workload/agent-process.ts';
import { calibrationMs } from './calibrate.ts';
import { type BootableKernel, fetchDebianKernel, unpackKernelDeb } from './debian.ts';
import { GUEST_PATH, HEARTBEAT } from './guest.ts';
import { imageKernel, isStaticElf, readHead } from './image.ts';
import { buildInitramfs, MARK } from './initramfs.ts';
import {
  type GuestJob,
  JOB_FILE,
  JOB_VERSION,
  KERNEL_CONFIG_FILE,
  parseGuestResult,
  RESULT_FILE,
} from './job.ts';
import { BPF_KERNEL_FLOOR, buildTunnelKeyProbe, GUIDE_KERNEL_FLOOR, missingPrerequisites } from './probes.ts';
import {
  type Accel,
  checkKvm,
  followConsole,
  QEMU,
  startVm,
  TCG_SLOWDOWN,
  type Vm,
  type VmSpec,
} from './qemu.ts';
import { type KernelSpec, labelDir } from './spec.ts';

/** Working directories of VMs are named so: a run finds those a killed run left behind. */
export const VM_DIR_PREFIX = 'dpconform-vm-';

/** The program the VM's init runs. */
export const GUEST_MAIN = fileURLToPath(new URL('./guest-main.ts', import.meta.url));

/** How a `--kernel` run is asked to go. */
export interface KernelRunOptions {
  kernels: KernelSpec[];
  areas: string[];
  passes: PassMode[];
  nodes: number;
  manifests: string[];
  argv: string[];
  reportsRoot: string;
  /** `auto`: KVM when a boot check passes, software emulation otherwise. */
  accel: 'auto' | Accel;
  /** A time scale given by the user; measured per VM when absent (1 on the host). */
  timeScale?: number;
  memoryMiB?: number;
  cpus?: number;
  log: (line: string) => void;
}

/** The image's build configuration, where Debian's packages keep it (beside the image). */
function kernelConfig(kernel: BootableKernel): string {
  return join(dirname(kernel.image), `config-${kernel.release}`);
}

/** What a `--kernel` run wrote. */
export interface KernelRunOutcome {
  matrix: KernelMatrix;
  dir: string;
  files: string[];
}

/** A VM with no sign of life for this long is stuck (the guest prints a heartbeat every 30 s). */
export const VM_SILENCE_LIMIT_MS = 10 * 60_000;

/** Budget of one area in one mode on the host, before the time scale; bounds a whole VM run. */
const AREA_BUDGET_MS = 10 * 60_000;

/** The slowdown assumed for a VM's overall bound before the VM has measured its own. */
const ASSUMED_SCALE: Record<Accel, number> = { kvm: 3, tcg: 15 };

/** The longest a VM may run: boot, then every area in every mode at its budget. */
export function vmLimitMs(areas: number, passes: number, factor: number): number {
  return scaled(5 * 60_000 + areas * passes * AREA_BUDGET_MS, factor);
}

/**
 * What the init runs inside the host's root: the guest program, in a clean environment. Node's
 * compile cache (the agents' own, which the host fills) spares the VM most of compiling the same
 * modules again in every process, which under emulation is most of a process's start.
 */
export function guestCommand(node: string = process.execPath): string[] {
  return [
    '/usr/bin/env',
    '-i',
    `PATH=${GUEST_PATH}`,
    'HOME=/root',
    'LANG=C.UTF-8',
    `NODE_COMPILE_CACHE=${DEFAULT_COMPILE_CACHE_DIR}`,
    node,
    GUEST_MAIN,
  ];
}

/** What booting other kernels needs on this machine, one actionable line per problem. */
export async function kernelPreflight(kernels: readonly KernelSpec[]): Promise<string[]> {
  const vm = kernels.filter((k) => k.kind !== 'host');
  if (vm.length === 0) return [];
  const problems: string[] = [];
  const tools: [string, string][] = [
    [QEMU, 'qemu-system-x86'],
    ['xz', 'xz-utils'],
    ['zstd', 'zstd'],
  ];
  if (vm.some((k) => k.kind === 'debian-series' || k.kind === 'debian-release'))
    tools.push(['apt-get', 'apt']);
  if (vm.some((k) => k.kind !== 'image')) tools.push(['dpkg-deb', 'dpkg'], ['depmod', 'kmod']);
  for (const [tool, pkg] of tools) {
    if (!(await haveCommand(tool)))
      problems.push(`${tool} not found: run scripts/setup.sh (installs ${pkg} from Debian)`);
  }
  if (!existsSync('/sbin/modprobe')) {
    problems.push(
      '/sbin/modprobe not found (the VMs load their modules with it): run scripts/setup.sh (installs kmod)',
    );
  }
  const box = await readHead('/bin/busybox', 1 << 20).catch(() => undefined);
  if (!box || !isStaticElf(box)) {
    problems.push(
      'no static /bin/busybox for the VMs’ initramfs: run scripts/setup.sh (installs busybox-static)',
    );
  }
  if (process.arch !== 'x64') problems.push(`booting kernels needs an x86-64 host (this is ${process.arch})`);
  return problems;
}

/** Where a kernel of the spec comes from: fetched, unpacked or found, ready to boot. */
async function resolveKernel(spec: KernelSpec, log: (line: string) => void): Promise<BootableKernel> {
  switch (spec.kind) {
    case 'debian-series':
      return fetchDebianKernel({ series: spec.series }, log);
    case 'debian-release':
      return fetchDebianKernel({ release: spec.release }, log);
    case 'deb':
      return unpackKernelDeb(spec.path, log);
    case 'image':
      return imageKernel(spec);
    case 'host':
      throw new Error('the host kernel is not booted in a VM');
  }
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}

async function readRun(dir: string): Promise<Run | undefined> {
  const text = await readFile(join(dir, 'report.json'), 'utf8').catch(() => undefined);
  return text === undefined ? undefined : (JSON.parse(text) as Run);
}

/** The running kernel: the prerequisites, then the run as without `--kernel`. */
async function onHost(spec: KernelSpec, dir: string, opts: KernelRunOptions): Promise<MatrixKernel> {
  const started = performance.now();
  const mounts = await readFile('/proc/mounts', 'utf8').catch(() => '');
  const basics = {
    release: release(),
    btf: existsSync('/sys/kernel/btf/vmlinux'),
    bpffsMounted: mounts
      .split('\n')
      .some((l) => l.split(' ')[1] === '/sys/fs/bpf' && l.split(' ')[2] === 'bpf'),
  };
  const missing = missingPrerequisites(basics);
  if (missing.length > 0) throw new Error(`kernel ${basics.release} lacks ${missing.join(', ')}`);
  const timeScale: TimeScale =
    opts.timeScale !== undefined
      ? { factor: opts.timeScale, source: 'given' }
      : { factor: 1, source: 'default' };
  const before = process.env[TIME_SCALE_ENV];
  process.env[TIME_SCALE_ENV] = String(timeScale.factor);
  let outcome: Awaited<ReturnType<typeof runConformance>>;
  try {
    outcome = await runConformance({
      areas: opts.areas,
      passes: opts.passes,
      nodes: opts.nodes,
      provider: 'netns',
      reportsRoot: dir,
      keep: false,
      manifests: opts.manifests,
      argv: opts.argv,
      log: opts.log,
      timeScale,
    });
  } finally {
    if (before === undefined) delete process.env[TIME_SCALE_ENV];
    else process.env[TIME_SCALE_ENV] = before;
  }
  const target = labelDir(spec.label);
  await rename(outcome.reportDir, join(dir, target));
  return matrixKernel(
    {
      label: spec.label,
      release: basics.release,
      source: 'the running kernel',
      where: 'host',
      timeScale,
      durationMs: performance.now() - started,
      reportDir: target,
    },
    outcome.run,
  );
}

/** Decides how the VM runs: KVM when a boot check passes, software emulation otherwise (loudly). */
async function chooseAccel(
  label: string,
  base: Omit<VmSpec, 'accel' | 'job' | 'consoleFile'>,
  work: string,
  opts: KernelRunOptions,
): Promise<{ accel: Accel; detail?: string }> {
  if (opts.accel === 'tcg') return { accel: 'tcg', detail: 'software emulation asked for (--accel tcg)' };
  opts.log(`kernel ${label}: checking whether KVM boots it`);
  const check = await checkKvm(
    { ...base, consoleFile: join(work, 'check-console.log') },
    join(work, 'check-qemu.log'),
  );
  if (check.ok) {
    opts.log(`kernel ${label}: KVM boots it; running under KVM`);
    return { accel: 'kvm' };
  }
  if (opts.accel === 'kvm') throw new Error(`KVM cannot boot kernel ${label} here: ${check.why}`);
  opts.log('');
  opts.log(`!! kernel ${label}: KVM cannot boot it here (${check.why}).`);
  opts.log(
    `!! Running it under software emulation (TCG) instead: expect it to be ${TCG_SLOWDOWN} slower than on the host. The time scale stretches the run's budgets to match.`,
  );
  opts.log('');
  return { accel: 'tcg', detail: `KVM could not boot it here: ${check.why}` };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Waits for the VM to power off, forwarding its console; stops it when it runs out of time or goes silent. */
async function watchVm(
  vm: Vm,
  consoleFile: string,
  label: string,
  limitMs: number,
  log: (line: string) => void,
): Promise<{ why?: string; initError?: string }> {
  const started = performance.now();
  let lastSeen = started;
  let initError: string | undefined;
  const watch = followConsole(consoleFile, (line) => {
    lastSeen = performance.now();
    if (line === HEARTBEAT) return;
    if (line.startsWith(MARK.error)) initError = line.slice(MARK.error.length);
    log(`[${label} ${formatDuration(lastSeen - started)}] ${line}`);
  });
  let exited = false;
  void vm.process.exited.then(() => {
    exited = true;
  });
  const deadline = performance.now() + limitMs;
  let why: string | undefined;
  while (!exited) {
    if (performance.now() > deadline) why = `it ran longer than ${Math.round(limitMs / 60_000)} min`;
    else if (performance.now() - lastSeen > VM_SILENCE_LIMIT_MS)
      why = `its console was silent for ${VM_SILENCE_LIMIT_MS / 60_000} min`;
    if (why) {
      log(`kernel ${label}: stopping the VM: ${why}`);
      await vm.stop();
      break;
    }
    await sleep(500);
  }
  await watch.stop();
  return { ...(why ? { why } : {}), ...(initError ? { initError } : {}) };
}

/**
 * Loads what the VM's programs load (the guest program, the run, vitest) once here with Node's
 * compile cache on, so the VM finds it compiled in the shared /tmp.
 */
async function warmCompileCache(): Promise<void> {
  const guest = pathToFileURL(fileURLToPath(new URL('./guest.ts', import.meta.url))).href;
  await run([process.execPath, '--input-type=module', '-e', `await import(${JSON.stringify(guest)});`], {
    env: { NODE_COMPILE_CACHE: DEFAULT_COMPILE_CACHE_DIR },
    timeoutMs: 120_000,
  });
}

/** Another kernel: fetched, booted under qemu, the run inside, its report brought back. */
async function inVm(
  spec: KernelSpec,
  dir: string,
  opts: KernelRunOptions,
  snapshot?: string,
): Promise<MatrixKernel> {
  const started = performance.now();
  const kernel = await resolveKernel(spec, opts.log);
  opts.log(`kernel ${spec.label}: ${kernel.release} (${kernel.source})`);
  const work = await mkdtemp(join(tmpdir(), VM_DIR_PREFIX));
  let vm: Vm | undefined;
  const unregister = onInterrupt({
    label: `the VM of kernel ${spec.label}`,
    run: async () => {
      await vm?.stop();
      await rm(work, { recursive: true, force: true });
    },
    left: () =>
      `the VM of kernel ${spec.label}: kill qemu (pid ${vm?.process.pid ?? 'none'}), rm -rf ${work}`,
  });
  try {
    await writeFile(join(work, 'owner'), String(process.pid));
    const results = join(work, 'results');
    await mkdir(results);
    // The kernel's build configuration, for the VM's /boot: bpftool reads it for the report.
    await copyFile(kernelConfig(kernel), join(results, KERNEL_CONFIG_FILE)).catch(() => undefined);
    const initrd = join(work, 'initrd.cpio');
    await writeFile(
      initrd,
      await buildInitramfs(kernel, guestCommand(), { snapshot: snapshot !== undefined }),
    );
    const base = {
      kernel,
      initrd,
      resultsDir: results,
      memoryMiB: opts.memoryMiB ?? 4096,
      cpus: opts.cpus ?? Math.min(4, availableParallelism()),
      ...(snapshot !== undefined ? { snapshotDir: snapshot } : {}),
    };
    const { accel, detail } = await chooseAccel(spec.label, base, work, opts);
    // Measured just before the VM measures its own, so both see about the same load on this machine.
    const hostCalibrationMs = opts.timeScale === undefined ? await calibrationMs() : 0;
    if (opts.timeScale === undefined) {
      opts.log(
        `kernel ${spec.label}: host calibration ${hostCalibrationMs} ms (the reference for its time scale)`,
      );
    }
    const job: GuestJob = {
      version: JOB_VERSION,
      label: spec.label,
      accel,
      areas: opts.areas,
      passes: opts.passes,
      nodes: opts.nodes,
      manifests: opts.manifests,
      argv: opts.argv,
      hostCalibrationMs,
      ...(opts.timeScale !== undefined ? { timeScale: opts.timeScale } : {}),
    };
    await writeFile(join(results, JOB_FILE), `${JSON.stringify(job, null, 2)}\n`);
    const consoleFile = join(work, 'console.log');
    opts.log(
      `kernel ${spec.label}: booting ${kernel.release} (${accel === 'kvm' ? 'KVM' : 'software emulation'})`,
    );
    vm = startVm({ ...base, accel, job: JOB_FILE, consoleFile }, join(work, 'qemu.log'));
    await writeFile(join(work, 'qemu.pid'), String(vm.process.pid));
    const limit = vmLimitMs(opts.areas.length, opts.passes.length, opts.timeScale ?? ASSUMED_SCALE[accel]);
    const watched = await watchVm(vm, consoleFile, spec.label, limit, opts.log);
    const result = await readFile(join(results, RESULT_FILE), 'utf8')
      .then((t) => parseGuestResult(t))
      .catch(() => undefined);
    const target = labelDir(spec.label);
    await mkdir(join(dir, target), { recursive: true });
    if (result?.reportDir) await cp(join(results, result.reportDir), join(dir, target), { recursive: true });
    await copyFile(consoleFile, join(dir, target, 'vm-console.log')).catch(() => undefined);
    const run = await readRun(join(dir, target));
    const qemuSaid = (await readFile(join(work, 'qemu.log'), 'utf8').catch(() => '')).trim().split('\n')[0];
    const error =
      result?.error ??
      (result
        ? undefined
        : `the VM stopped without a result (${watched.why ?? watched.initError ?? (qemuSaid || 'it powered off')}): see ${target}/vm-console.log`);
    return matrixKernel(
      {
        label: spec.label,
        release: result?.release ?? kernel.release,
        source: kernel.source,
        where: 'vm',
        accel,
        ...(detail ? { accelDetail: detail } : {}),
        ...(result?.timeScale ? { timeScale: result.timeScale } : {}),
        durationMs: performance.now() - started,
        ...(run ? { reportDir: target } : {}),
        ...(error ? { error } : {}),
      },
      run,
    );
  } finally {
    await vm?.stop();
    await rm(work, { recursive: true, force: true });
    unregister();
  }
}

/**
 * How old a VM directory without an owner file must be before it counts as left behind: a run
 * writes the file right after it makes the directory, and a directory of that name that never
 * got one may not be a run's at all.
 */
const OWNERLESS_AGE_MS = 60 * 60_000;

/** Removes what VMs of runs that were killed outright left: their qemu and their directory. */
export async function sweepStaleVms(root: string = tmpdir()): Promise<number> {
  let swept = 0;
  for (const name of await readdir(root).catch(() => [])) {
    if (!name.startsWith(VM_DIR_PREFIX)) continue;
    const work = join(root, name);
    const owner = await readPidFile(join(work, 'owner'));
    if (owner !== undefined && processAlive(owner)) continue;
    if (owner === undefined) {
      const made = await stat(work).catch(() => undefined);
      if (!made?.isDirectory() || Date.now() - made.mtimeMs < OWNERLESS_AGE_MS) continue;
    }
    const qemu = await readPidFile(join(work, 'qemu.pid'));
    if (qemu !== undefined && (await processArgv(qemu))[0]?.endsWith(QEMU)) await stopProcesses([qemu]);
    await rm(work, { recursive: true, force: true });
    swept += 1;
  }
  return swept;
}

/** Runs the suites on every kernel and writes the matrix report. */
export async function runKernels(opts: KernelRunOptions): Promise<KernelRunOutcome> {
  const id = `kernels-${newRunId()}`;
  const dir = reportDir(opts.reportsRoot, id);
  await mkdir(dir, { recursive: true });
  // A matrix cut short by an interrupt would read as a finished one: it goes.
  const unregister = onInterrupt({
    label: `the matrix report in ${dir}`,
    run: () => rm(dir, { recursive: true, force: true }),
  });
  try {
    return await matrixRun(id, dir, opts);
  } finally {
    unregister();
  }
}

async function matrixRun(id: string, dir: string, opts: KernelRunOptions): Promise<KernelRunOutcome> {
  const startedAt = new Date().toISOString();
  const swept = await sweepStaleVms();
  if (swept > 0) opts.log(`removed ${swept} VM director${swept === 1 ? 'y' : 'ies'} left by killed runs`);
  if (!opts.kernels.some((k) => k.kind !== 'host')) return matrixKernels(id, dir, opts, startedAt);
  // Built here once, the VMs find them ready instead of compiling slowly.
  opts.log('building the dataplane and the kernel probes on the host, for the VMs');
  await buildBpf({ sizes: mapSizesFrom(DEFAULT_FELIX_SETTINGS) });
  await buildTunnelKeyProbe().catch((err: unknown) =>
    opts.log(`the tunnel-key probe did not build (${firstLine(err)}): the reports will say so`),
  );
  await warmCompileCache();
  const shared = await mkdtemp(join(tmpdir(), VM_DIR_PREFIX));
  const unregister = onInterrupt({
    label: `the VMs' snapshot of the checkout in ${shared}`,
    run: () => rm(shared, { recursive: true, force: true }),
  });
  try {
    await writeFile(join(shared, 'owner'), String(process.pid));
    const tree = join(shared, 'tree');
    await snapshotCheckout(tree, [opts.reportsRoot]);
    opts.log(`the VMs run the checkout as it is now (a copy in ${tree})`);
    return await matrixKernels(id, dir, opts, startedAt, tree);
  } finally {
    await rm(shared, { recursive: true, force: true });
    unregister();
  }
}

/** What of the checkout a VM does not take from the snapshot: dependencies, history, reports. */
const NOT_SNAPSHOTTED = new Set(['node_modules', '.git', 'reports']);

/**
 * Copies the checkout to `<tree>/<its own path>`, so that the tree lays over `/` in the VM: the
 * sources, suites, fixtures and the objects built for them, not node_modules (read from below).
 */
export async function snapshotCheckout(
  tree: string,
  skip: readonly string[] = [],
  repo: string = REPO_ROOT,
): Promise<void> {
  const dest = join(tree, resolve(repo));
  const skipped = new Set(skip.map((p) => resolve(p)));
  await mkdir(dest, { recursive: true });
  for (const entry of await readdir(repo)) {
    if (NOT_SNAPSHOTTED.has(entry)) continue;
    await cp(join(repo, entry), join(dest, entry), {
      recursive: true,
      verbatimSymlinks: true,
      filter: (src) => !skipped.has(resolve(src)),
    });
  }
}

async function matrixKernels(
  id: string,
  dir: string,
  opts: KernelRunOptions,
  startedAt: string,
  snapshot?: string,
): Promise<KernelRunOutcome> {
  const kernels: MatrixKernel[] = [];
  for (const spec of opts.kernels) {
    throwIfInterrupted();
    const started = performance.now();
    opts.log(`== kernel ${spec.label}`);
    try {
      kernels.push(
        spec.kind === 'host' ? await onHost(spec, dir, opts) : await inVm(spec, dir, opts, snapshot),
      );
    } catch (err) {
      if (err instanceof Interrupted) throw err;
      const error = firstLine(err);
      opts.log(`kernel ${spec.label}: ${error}`);
      kernels.push(
        matrixKernel({
          label: spec.label,
          where: spec.kind === 'host' ? 'host' : 'vm',
          durationMs: performance.now() - started,
          error,
        }),
      );
    }
    opts.log(`== kernel ${spec.label}: ${kernels.at(-1)?.verdict}`);
  }
  const matrix = buildKernelMatrix({
    id,
    startedAt,
    endedAt: new Date().toISOString(),
    floor: { bpf: BPF_KERNEL_FLOOR, guide: GUIDE_KERNEL_FLOOR },
    argv: opts.argv,
    modes: opts.passes,
    kernels,
  });
  const files = await writeMatrix(dir, matrix);
  return { matrix, dir, files };
}

/** Writes matrix.json, matrix.md and matrix.html, each under a temporary name first. */
export async function writeMatrix(dir: string, matrix: KernelMatrix): Promise<string[]> {
  const contents: [string, string][] = [
    ['matrix.json', `${JSON.stringify(matrix, null, 2)}\n`],
    ['matrix.md', renderMatrixMarkdown(matrix)],
    ['matrix.html', renderMatrixHtml(matrix)],
  ];
  return Promise.all(
    contents.map(async ([name, text]) => {
      const path = join(dir, name);
      await writeFile(`${path}.${process.pid}.tmp`, text, 'utf8');
      await rename(`${path}.${process.pid}.tmp`, path);
      return path;
    }),
  );
}
