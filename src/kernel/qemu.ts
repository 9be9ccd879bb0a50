/**
 * Booting a kernel under qemu: the command line (host root, modules and results shared over 9p,
 * the serial console to a file), a boot check that decides between KVM and software emulation,
 * and watching a VM's console until it powers off or runs out of time.
 */
import { constants } from 'node:fs';
import { access, open, readFile } from 'node:fs/promises';
import { type Started, start } from '../sys/exec.ts';
import type { BootableKernel } from './debian.ts';
import { CHECK_JOB, MARK, SHARES } from './initramfs.ts';

/** The qemu binary. */
export const QEMU = 'qemu-system-x86_64';

/** How the VM's CPU runs: the host's hypervisor, or qemu's software emulation. */
export type Accel = 'kvm' | 'tcg';

/** How much slower software emulation is than the host, as measured here; said when falling back. */
export const TCG_SLOWDOWN = 'ten times or more (more on a busy machine)';

/** How long a KVM boot may take to reach the host's root before KVM is judged unusable. */
export const KVM_CHECK_MS = 15_000;

/** One VM to start. */
export interface VmSpec {
  accel: Accel;
  kernel: Pick<BootableKernel, 'image' | 'modulesDir'>;
  initrd: string;
  /** Host directory shared writable with the guest: the job file and what comes back. */
  resultsDir: string;
  /** The job file's name in `resultsDir`, named on the kernel command line. */
  job: string;
  /** Where the serial console is written. */
  consoleFile: string;
  /** A copy of the checkout to lay over the host's root (see SHARES.snapshot). */
  snapshotDir?: string;
  memoryMiB: number;
  cpus: number;
}

// qemu's option syntax doubles a comma inside a value.
function optValue(v: string): string {
  return v.replaceAll(',', ',,');
}

/** The kernel command line: the serial console, no reboot on panic (the VM stops), the job. */
export function kernelCommandLine(job: string): string {
  if (!/^[A-Za-z0-9._-]+$/.test(job)) throw new Error(`job name not usable on a kernel command line: ${job}`);
  return `console=ttyS0 panic=-1 quiet dpc.job=${job}`;
}

/** qemu's argv for a VM. */
export function qemuArgv(spec: VmSpec): string[] {
  const share = (tag: string, path: string, readonly: boolean, extra = '') =>
    `local,path=${optValue(path)},mount_tag=${tag},security_model=none${readonly ? ',readonly=on' : ''}${extra}`;
  return [
    QEMU,
    ...(spec.accel === 'kvm'
      ? ['-accel', 'kvm', '-cpu', 'host']
      : ['-accel', 'tcg,thread=multi', '-cpu', 'max']),
    '-smp',
    String(spec.cpus),
    '-m',
    `${spec.memoryMiB}M`,
    '-nodefaults',
    '-no-user-config',
    '-display',
    'none',
    '-no-reboot',
    '-serial',
    `file:${spec.consoleFile}`,
    '-kernel',
    spec.kernel.image,
    '-initrd',
    spec.initrd,
    '-append',
    kernelCommandLine(spec.job),
    // The host's file systems are many devices under one share: remap keeps inode numbers apart.
    '-virtfs',
    share(SHARES.root.tag, '/', true, ',multidevs=remap'),
    '-virtfs',
    share(SHARES.modules.tag, spec.kernel.modulesDir, true),
    '-virtfs',
    share(SHARES.results.tag, spec.resultsDir, false),
    ...(spec.snapshotDir !== undefined
      ? ['-virtfs', share(SHARES.snapshot.tag, spec.snapshotDir, true)]
      : []),
  ];
}

/** A VM that is running. */
export interface Vm {
  readonly process: Started;
  /** Stops the VM (its processes and everything in it go with it). */
  stop(): Promise<void>;
}

/** Starts a VM; qemu's own messages go to `qemuLog`. */
export function startVm(spec: VmSpec, qemuLog: string): Vm {
  const proc = start(qemuArgv(spec), { logFile: qemuLog });
  return {
    process: proc,
    stop: async () => {
      await proc.stop('SIGTERM', 3000).catch(() => undefined);
    },
  };
}

/**
 * Follows a console file as it grows, calling `onLine` for every complete line; `stop()` reads
 * what is left and ends.
 */
export function followConsole(path: string, onLine: (line: string) => void, everyMs = 250) {
  let offset = 0;
  let partial = '';
  let reading: Promise<void> = Promise.resolve();
  const readMore = async () => {
    const fh = await open(path, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      for (;;) {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        const text = partial + buf.subarray(0, bytesRead).toString('utf8');
        const lines = text.split(/\r?\n/);
        partial = lines.pop() ?? '';
        for (const l of lines) onLine(l.replace(/\r/g, ''));
      }
    } finally {
      await fh.close();
    }
  };
  const timer = setInterval(() => {
    reading = reading.then(readMore);
  }, everyMs);
  return {
    async stop(): Promise<void> {
      clearInterval(timer);
      reading = reading.then(readMore);
      await reading;
      if (partial !== '') onLine(partial);
      partial = '';
    },
  };
}

/** Whether this machine offers KVM to this process at all. */
export async function kvmAvailable(): Promise<boolean> {
  return access('/dev/kvm', constants.R_OK | constants.W_OK).then(
    () => true,
    () => false,
  );
}

/** What the boot check found. */
export interface KvmCheck {
  ok: boolean;
  /** Why KVM is not used, in one line. */
  why?: string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Boots the kernel under KVM with the job that only reaches the host's root and powers off; KVM
 * is usable when that finishes within {@link KVM_CHECK_MS}. Some hypervisors only boot kernels
 * built for them: others hang, or stop with "KVM internal error".
 */
export async function checkKvm(
  spec: Omit<VmSpec, 'accel' | 'job'>,
  qemuLog: string,
  withinMs = KVM_CHECK_MS,
): Promise<KvmCheck> {
  if (!(await kvmAvailable())) return { ok: false, why: 'no usable /dev/kvm' };
  let passed = false;
  const watch = followConsole(
    spec.consoleFile,
    (line) => {
      if (line.includes(MARK.checkPassed)) passed = true;
    },
    100,
  );
  const vm = startVm({ ...spec, accel: 'kvm', job: CHECK_JOB }, qemuLog);
  let exited = false;
  void vm.process.exited.then(() => {
    exited = true;
  });
  const deadline = performance.now() + withinMs;
  while (!passed && !exited && performance.now() < deadline) await sleep(100);
  await vm.stop();
  await watch.stop();
  if (passed) return { ok: true };
  const log = await readFile(qemuLog, 'utf8').catch(() => '');
  // Our own stop is not a reason; anything else qemu said (e.g. "KVM internal error") is.
  const said = log
    .split('\n')
    .map((l) => l.trim())
    .find((l) => l !== '' && !/terminating on signal/.test(l));
  if (said) return { ok: false, why: `qemu said: ${said.slice(0, 200)}` };
  return { ok: false, why: `the kernel did not reach the host root within ${withinMs / 1000} s` };
}
