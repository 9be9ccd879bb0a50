/**
 * Debian's kernels, fetched without installing them: apt with a state directory of its own (so
 * the machine's sources and package database are left alone) downloads `linux-image-<release>`,
 * `dpkg-deb -x` unpacks it into a cache outside the repository, and `depmod -b` indexes its
 * modules so that modprobe inside the VM finds them.
 */
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from '../sys/exec.ts';
import { pathExists } from '../sys/fs.ts';
import { DEBIAN_SUITES } from './spec.ts';

/** Where unpacked kernels and apt's own state live (never in the repository). */
export function kernelCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.DPCONFORM_KERNEL_CACHE ?? '/var/cache/dpconform/kernels';
}

/** A kernel ready to boot: its image and the modules directory of the same release. */
export interface BootableKernel {
  release: string;
  image: string;
  modulesDir: string;
  /** Where it came from, for the report: `Debian package linux-image-6.1.0-57-amd64 6.1.192-3`. */
  source: string;
}

/** The archive Debian's kernels come from. */
export const DEBIAN_MIRROR = 'http://deb.debian.org';

/** apt's sources for the suites: each release with its security and updates suites, main only. */
export function aptSources(suites: readonly string[] = DEBIAN_SUITES): string {
  return `${suites
    .flatMap((s) => [
      `deb ${DEBIAN_MIRROR}/debian ${s} main`,
      `deb ${DEBIAN_MIRROR}/debian ${s}-updates main`,
      `deb ${DEBIAN_MIRROR}/debian-security ${s}-security main`,
    ])
    .join('\n')}\n`;
}

/** The options that give apt a state of its own under `dir` and leave the machine's alone. */
export function aptOptions(dir: string): string[] {
  const o = (k: string, v: string) => ['-o', `${k}=${v}`];
  return [
    ...o('Dir::Etc::SourceList', join(dir, 'sources.list')),
    ...o('Dir::Etc::SourceParts', join(dir, 'sources.list.d')),
    ...o('Dir::Etc::Preferences', join(dir, 'preferences')),
    ...o('Dir::Etc::PreferencesParts', join(dir, 'preferences.d')),
    ...o('Dir::State::Lists', join(dir, 'lists')),
    ...o('Dir::Cache', join(dir, 'cache')),
    ...o('APT::Architectures', 'amd64'),
    ...o('Acquire::Languages', 'none'),
    // apt drops to _apt for downloads, which cannot write into root's cache directory.
    ...o('APT::Sandbox::User', 'root'),
  ];
}

/** The numbers of a release, for ordering: `6.12.117+deb12` -> [6, 12, 117, 12]. */
function releaseNumbers(release: string): number[] {
  return (release.match(/\d+/g) ?? []).map(Number);
}

/** Orders kernel releases by their numbers (`6.1.0-9` before `6.1.0-57`). */
export function compareReleases(a: string, b: string): number {
  const x = releaseNumbers(a);
  const y = releaseNumbers(b);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? -1) - (y[i] ?? -1);
    if (d !== 0) return d;
  }
  return 0;
}

/** The newest generic amd64 kernel release of a series among package names, or undefined. */
export function newestRelease(packageNames: readonly string[], series: string): string | undefined {
  const escaped = series.replace(/\./g, '\\.');
  const re = new RegExp(`^linux-image-(${escaped}\\.\\d+(?:-\\d+)?(?:\\+deb\\d+)?-amd64)$`);
  const releases = packageNames.flatMap((n) => re.exec(n)?.[1] ?? []);
  return releases.sort(compareReleases).at(-1);
}

/** The package of a Debian kernel release. */
export function packageOf(release: string): string {
  return `linux-image-${release}`;
}

const APT_LISTS_MAX_AGE_MS = 7 * 24 * 3600 * 1000;

async function aptDir(log: (line: string) => void): Promise<{ dir: string; fresh: boolean }> {
  const dir = join(kernelCacheDir(), 'apt');
  await mkdir(join(dir, 'sources.list.d'), { recursive: true });
  await mkdir(join(dir, 'preferences.d'), { recursive: true });
  await mkdir(join(dir, 'lists', 'partial'), { recursive: true });
  await mkdir(join(dir, 'cache', 'archives', 'partial'), { recursive: true });
  await writeFile(join(dir, 'preferences'), '');
  await writeFile(join(dir, 'sources.list'), aptSources());
  const stamp = join(dir, 'updated');
  const age = await stat(stamp).then(
    (s) => Date.now() - s.mtimeMs,
    () => Number.POSITIVE_INFINITY,
  );
  if (age < APT_LISTS_MAX_AGE_MS) return { dir, fresh: false };
  await aptUpdate(dir, log);
  return { dir, fresh: true };
}

async function aptUpdate(dir: string, log: (line: string) => void): Promise<void> {
  log(`reading Debian's package lists (${DEBIAN_SUITES.join(', ')}) into ${dir}`);
  await run(['apt-get', '-q', ...aptOptions(dir), 'update'], { timeoutMs: 600_000 });
  await writeFile(join(dir, 'updated'), new Date().toISOString());
}

async function packageNames(dir: string, prefix: string): Promise<string[]> {
  const r = await run(['apt-cache', ...aptOptions(dir), 'pkgnames', prefix], { reject: false });
  return r.stdout.split('\n').filter((l) => l !== '');
}

/** The release a series stands for: looked up in the lists, refreshed once when not found. */
async function seriesRelease(series: string, log: (line: string) => void): Promise<string> {
  const { dir, fresh } = await aptDir(log);
  let found = newestRelease(await packageNames(dir, `linux-image-${series}.`), series);
  if (found === undefined && !fresh) {
    await aptUpdate(dir, log);
    found = newestRelease(await packageNames(dir, `linux-image-${series}.`), series);
  }
  if (found === undefined) {
    throw new Error(
      `no Debian kernel of series ${series} in ${DEBIAN_SUITES.join(', ')} (${DEBIAN_MIRROR}): check that the archive is reachable`,
    );
  }
  return found;
}

/** The unpacked kernel of a release in the cache, or undefined when it is not there yet. */
export async function cachedKernel(release: string): Promise<BootableKernel | undefined> {
  const root = join(kernelCacheDir(), release);
  const image = join(root, 'boot', `vmlinuz-${release}`);
  const modulesDir = await modulesDirIn(root, release);
  if (!(await pathExists(image)) || modulesDir === undefined) return undefined;
  if (!(await pathExists(join(modulesDir, 'modules.dep')))) return undefined;
  const source = await readFile(join(root, 'source'), 'utf8').catch(() => `Debian kernel ${release}`);
  return { release, image, modulesDir, source: source.trim() };
}

async function modulesDirIn(root: string, release: string): Promise<string | undefined> {
  // Packages from before the /usr merge ship lib/modules, later ones usr/lib/modules.
  for (const base of ['lib', 'usr/lib']) {
    const dir = join(root, base, 'modules', release);
    if (await pathExists(dir)) return dir;
  }
  return undefined;
}

/** The single kernel release a package tree holds (from its lib/modules). */
async function releaseIn(root: string): Promise<string> {
  for (const base of ['lib', 'usr/lib']) {
    const entries = await readdir(join(root, base, 'modules')).catch(() => []);
    if (entries.length === 1 && entries[0]) return entries[0];
    if (entries.length > 1) throw new Error(`package holds several kernels (${entries.join(', ')})`);
  }
  throw new Error('package holds no lib/modules/<release>: not a kernel image package');
}

/**
 * Unpacks a kernel package into the cache as `<cache>/<release>/` and indexes its modules. The
 * tree is built under a temporary name and renamed, so a half-unpacked kernel is never used.
 */
export async function unpackKernelDeb(deb: string, log: (line: string) => void): Promise<BootableKernel> {
  const fields = await run(['dpkg-deb', '-f', deb, 'Package', 'Version']);
  const pkg = /^Package: (\S+)/m.exec(fields.stdout)?.[1] ?? deb;
  const version = /^Version: (\S+)/m.exec(fields.stdout)?.[1] ?? '';
  const cache = kernelCacheDir();
  await mkdir(cache, { recursive: true });
  const tmp = await mkdtemp(join(cache, '.unpack-'));
  try {
    log(`unpacking ${pkg} ${version} (dpkg-deb -x, not installed)`);
    await run(['dpkg-deb', '-x', deb, tmp], { timeoutMs: 300_000 });
    const release = await releaseIn(tmp);
    const existing = await cachedKernel(release);
    if (existing) return existing;
    const image = join(tmp, 'boot', `vmlinuz-${release}`);
    if (!(await pathExists(image))) throw new Error(`${deb} has no boot/vmlinuz-${release}`);
    const modulesDir = await modulesDirIn(tmp, release);
    if (modulesDir === undefined) throw new Error(`${deb} has no modules for ${release}`);
    await run(['depmod', '-b', modulesDir.slice(0, -`/lib/modules/${release}`.length), release], {
      timeoutMs: 300_000,
    });
    await writeFile(join(tmp, 'source'), `Debian package ${pkg} ${version}`.trim());
    await rename(tmp, join(cache, release));
    const ready = await cachedKernel(release);
    if (!ready) throw new Error(`kernel ${release} unpacked but not found in ${cache}`);
    return ready;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** A Debian kernel by series or release: from the cache, or downloaded with apt and unpacked. */
export async function fetchDebianKernel(
  spec: { series: string } | { release: string },
  log: (line: string) => void,
): Promise<BootableKernel> {
  const release = 'release' in spec ? spec.release : await seriesRelease(spec.series, log);
  const cached = await cachedKernel(release);
  if (cached) return cached;
  const { dir, fresh } = await aptDir(log);
  const downloads = join(kernelCacheDir(), 'downloads');
  await mkdir(downloads, { recursive: true });
  const pkg = packageOf(release);
  log(`downloading ${pkg} with apt-get download into ${downloads}`);
  const download = () =>
    run(['apt-get', '-q', ...aptOptions(dir), 'download', pkg], { cwd: downloads, timeoutMs: 900_000 });
  // A package superseded since the lists were read is gone from the archive: read them again once.
  await download().catch(async (err: unknown) => {
    if (fresh) throw err;
    await aptUpdate(dir, log);
    await download();
  });
  const deb = (await readdir(downloads)).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  if (!deb) throw new Error(`apt-get download ${pkg} left no .deb in ${downloads}`);
  try {
    return await unpackKernelDeb(join(downloads, deb), log);
  } finally {
    await rm(join(downloads, deb), { force: true });
  }
}
