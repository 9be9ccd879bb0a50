/**
 * The VM's initramfs: a static busybox, the kernel's own modules that reach the host's files
 * (virtio, 9p, overlay), and an init that mounts the host's root read-only under a tmpfs overlay,
 * runs the job named on the kernel command line inside it, and powers the VM off. What the job
 * writes reaches the host through a second, writable share.
 */
import { copyFile, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { run, shellQuote } from '../sys/exec.ts';
import { type CpioEntry, encodeCpio } from './cpio.ts';
import type { BootableKernel } from './debian.ts';
import { isStaticElf } from './image.ts';

/** The 9p shares of a VM: mount tag, and where the guest mounts it. */
export const SHARES = {
  /** The host's `/`, read-only, under a tmpfs overlay in the guest. */
  root: { tag: 'dpcroot' },
  /** The kernel's modules, at /lib/modules/<release> in the guest's root. */
  modules: { tag: 'dpcmods' },
  /** The job and everything it brings back. */
  results: { tag: 'dpcresults', guestPath: '/dpconform-results' },
  /**
   * A copy of the checkout taken when the run started, laid over the host's root: every VM of a
   * matrix runs the same code, whatever is edited meanwhile (node_modules still comes from below).
   */
  snapshot: { tag: 'dpcsnap' },
} as const;

/** The modules the initramfs loads (with what they depend on), unless built in. */
export const INITRAMFS_MODULES: readonly string[] = ['virtio_pci', '9pnet_virtio', '9p', 'overlay'];

/** Console lines the init prints, which the host reads. */
export const MARK = {
  prefix: 'dpconform-vm: ',
  booted: 'dpconform-vm: booted ',
  checkPassed: 'dpconform-vm: check passed',
  error: 'dpconform-vm: error: ',
  jobExited: 'dpconform-vm: job exited ',
} as const;

/** The job name that only checks the VM boots and reaches the host's root, then powers off. */
export const CHECK_JOB = 'check';

// modules.dep and modules.builtin name a module by its path: kernel/fs/9p/9p.ko(.xz|.zst|.gz).
function moduleName(path: string): string {
  return basename(path)
    .replace(/\.ko(?:\.(?:xz|zst|gz))?$/, '')
    .replace(/-/g, '_');
}

/**
 * The module files to load, dependencies first, for the wanted module names; built-in modules
 * need nothing. Throws naming a module the kernel has neither built in nor as a file.
 */
export function moduleLoadOrder(
  modulesDep: string,
  modulesBuiltin: string,
  wanted: readonly string[],
): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of modulesDep.split('\n')) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const path = line.slice(0, colon).trim();
    deps.set(
      path,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter((d) => d !== ''),
    );
    byName.set(moduleName(path), path);
  }
  const builtin = new Set(
    modulesBuiltin
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map(moduleName),
  );
  const order: string[] = [];
  const visit = (path: string, from: string[]) => {
    if (order.includes(path)) return;
    if (from.includes(path)) throw new Error(`module dependency loop: ${[...from, path].join(' -> ')}`);
    // modules.dep lists every dependency, indirect ones too, the deepest last.
    for (const d of [...(deps.get(path) ?? [])].reverse()) visit(d, [...from, path]);
    order.push(path);
  };
  for (const name of wanted) {
    const key = name.replace(/-/g, '_');
    const path = byName.get(key);
    if (builtin.has(key)) continue;
    if (path === undefined) throw new Error(`the kernel has no ${name} module, built in or loadable`);
    visit(path, []);
  }
  return order;
}

/** What the init runs: the job's argv inside the overlay root, with the job file's path last. */
export interface InitOptions {
  /** Module files in the initramfs, in load order (`/modules/00-virtio_ring.ko`). */
  modules: readonly string[];
  /** The command run (chrooted into the host's root) with the job file appended. */
  command: readonly string[];
  /** Whether a snapshot of the checkout is shared, to lay over the host's root. */
  snapshot?: boolean;
}

/** The init script (busybox sh). Every path and word in it is quoted. */
export function initScript(opts: InitOptions): string {
  const results = SHARES.results.guestPath;
  const p9 = 'trans=virtio,version=9p2000.L';
  const lines = [
    '#!/bin/busybox sh',
    '# dpconform VM init: reach the host root, run the job, power off.',
    '/bin/busybox mkdir -p /sbin /usr/bin /usr/sbin /proc /sys /dev /mnt/lower /mnt/snap /mnt/rw /mnt/root',
    '/bin/busybox --install -s',
    'export PATH=/sbin:/bin:/usr/sbin:/usr/bin',
    `say() { echo "${MARK.prefix}$*"; }`,
    'fail() { say "error: $*"; poweroff -f; }',
    'mount -t proc proc /proc',
    'mount -t sysfs sysfs /sys',
    'mount -t devtmpfs devtmpfs /dev',
    'say "booted $(uname -r)"',
    ...opts.modules.map((m) => `insmod ${shellQuote([m])} || fail ${shellQuote([`could not load ${m}`])}`),
    'job=',
    'for word in $(cat /proc/cmdline); do',
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    '  case "$word" in dpc.job=*) job=${word#dpc.job=} ;; esac',
    'done',
    '[ -n "$job" ] || fail "no dpc.job= on the kernel command line"',
    `mount -t 9p -o ${p9},ro,cache=loose,msize=512000 ${SHARES.root.tag} /mnt/lower || fail "could not mount the host root over 9p"`,
    `if [ "$job" = ${CHECK_JOB} ]; then say "check passed"; poweroff -f; fi`,
    'mount -t tmpfs -o mode=0755 tmpfs /mnt/rw || fail "could not mount the tmpfs for the overlay"',
    'mkdir /mnt/rw/upper /mnt/rw/work',
    ...(opts.snapshot
      ? [
          `mount -t 9p -o ${p9},ro,cache=loose,msize=512000 ${SHARES.snapshot.tag} /mnt/snap || fail "could not mount the snapshot of the checkout over 9p"`,
          'mount -t overlay overlay -o lowerdir=/mnt/snap:/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/root || fail "could not mount the overlay"',
        ]
      : [
          'mount -t overlay overlay -o lowerdir=/mnt/lower,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work /mnt/root || fail "could not mount the overlay"',
        ]),
    'mods="/mnt/root/lib/modules/$(uname -r)"',
    `mkdir -p "$mods" /mnt/root${results}`,
    `mount -t 9p -o ${p9},ro,msize=512000 ${SHARES.modules.tag} "$mods" || fail "could not mount the kernel modules over 9p"`,
    `mount -t 9p -o ${p9},msize=512000 ${SHARES.results.tag} /mnt/root${results} || fail "could not mount the results share over 9p"`,
    'mount -t proc proc /mnt/root/proc && mount -t sysfs sysfs /mnt/root/sys && mount -t devtmpfs devtmpfs /mnt/root/dev || fail "could not mount proc, sys and dev"',
    'mkdir -p /mnt/root/dev/pts /mnt/root/dev/shm',
    'mount -t devpts devpts /mnt/root/dev/pts; mount -t tmpfs tmpfs /mnt/root/dev/shm',
    // The kernel runs its module loader in init's root: send it to the host's modprobe.
    'echo /sbin/dpc-modprobe > /proc/sys/kernel/modprobe',
    `chroot /mnt/root ${shellQuote(opts.command)} "${results}/$job"`,
    'say "job exited $?"',
    'sync',
    `umount /mnt/root${results}`,
    'poweroff -f',
    '',
  ];
  return lines.join('\n');
}

/** The module loader the kernel calls: the host's modprobe, inside the overlay root. */
export const MODPROBE_WRAPPER = '#!/bin/busybox sh\nexec /bin/busybox chroot /mnt/root /sbin/modprobe "$@"\n';

/**
 * A module file's bytes, uncompressed (busybox's insmod takes plain .ko files). xz and zstd
 * unpack a copy in `scratch`, beside nothing of the kernel's own.
 */
async function moduleBytes(path: string, scratch: string): Promise<Buffer> {
  if (path.endsWith('.ko')) return readFile(path);
  if (path.endsWith('.ko.gz')) return gunzipSync(await readFile(path));
  const copy = join(scratch, basename(path));
  const plain = copy.replace(/\.(?:xz|zst)$/, '');
  await copyFile(path, copy);
  if (path.endsWith('.ko.xz')) await run(['xz', '-d', '-f', copy], { timeoutMs: 60_000 });
  else if (path.endsWith('.ko.zst'))
    await run(['zstd', '-d', '-q', '-f', '--rm', copy, '-o', plain], { timeoutMs: 60_000 });
  else throw new Error(`unknown module compression: ${path}`);
  return readFile(plain);
}

/** Builds the initramfs of a kernel: busybox, its modules, the init running `command`. */
export async function buildInitramfs(
  kernel: BootableKernel,
  command: readonly string[],
  opts: { snapshot?: boolean; busybox?: string } = {},
): Promise<Buffer> {
  const busybox = opts.busybox ?? '/bin/busybox';
  const box = await readFile(busybox).catch(() => {
    throw new Error(`${busybox} not found: run scripts/setup.sh (installs busybox-static from Debian)`);
  });
  if (!isStaticElf(box)) {
    throw new Error(`${busybox} is dynamically linked: install busybox-static (scripts/setup.sh does)`);
  }
  const [dep, builtin] = await Promise.all([
    readFile(join(kernel.modulesDir, 'modules.dep'), 'utf8'),
    readFile(join(kernel.modulesDir, 'modules.builtin'), 'utf8').catch(() => ''),
  ]);
  const order = moduleLoadOrder(dep, builtin, INITRAMFS_MODULES);
  const scratch = await mkdtemp(join(tmpdir(), 'dpconform-initramfs-'));
  const modules = await Promise.all(
    order.map(async (rel, i) => ({
      path: `/modules/${String(i).padStart(2, '0')}-${moduleName(rel)}.ko`,
      data: await moduleBytes(join(kernel.modulesDir, rel), scratch),
    })),
  ).finally(() => rm(scratch, { recursive: true, force: true }));
  const entries: CpioEntry[] = [
    { type: 'dir', path: 'bin' },
    { type: 'dir', path: 'sbin' },
    { type: 'dir', path: 'modules' },
    { type: 'file', path: 'bin/busybox', data: box, mode: 0o755 },
    { type: 'file', path: 'sbin/dpc-modprobe', data: Buffer.from(MODPROBE_WRAPPER), mode: 0o755 },
    ...modules.map((m): CpioEntry => ({ type: 'file', path: m.path, data: m.data })),
    {
      type: 'file',
      path: 'init',
      data: Buffer.from(
        initScript({ modules: modules.map((m) => m.path), command, snapshot: opts.snapshot === true }),
      ),
      mode: 0o755,
    },
  ];
  return encodeCpio(entries);
}
