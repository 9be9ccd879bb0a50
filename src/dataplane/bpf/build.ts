/**
 * Compiles the C sources in bpf/ into build/bpf/<key>/, where the key hashes every C file and
 * header under bpf/ (lib/ included), the compiler flags and the map sizes (max_entries is a
 * compile-time constant of each map).
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, rename, rm } from 'node:fs/promises';
import { basename, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FelixSettings } from '../../k8s/felix-settings.ts';
import { CommandError, run } from '../../sys/exec.ts';
import { pathExists as exists } from '../../sys/fs.ts';

/** The repository root (this file is src/dataplane/bpf/build.ts). */
export const REPO_ROOT = resolve(fileURLToPath(new URL('../../..', import.meta.url)));

/** max_entries of the maps FelixConfiguration sizes. */
export interface BpfMapSizes {
  natFrontend: number;
  natBackend: number;
  natAffinity: number;
  route: number;
  conntrack: number;
}

/** Map sizes from the FelixConfiguration fields. */
export function mapSizesFrom(s: FelixSettings): BpfMapSizes {
  return {
    natFrontend: s.bpfMapSizeNATFrontend,
    natBackend: s.bpfMapSizeNATBackend,
    natAffinity: s.bpfMapSizeNATAffinity,
    route: s.bpfMapSizeRoute,
    conntrack: s.bpfMapSizeConntrack,
  };
}

/** The -D flags that size the maps. */
export function sizeDefines(sizes: BpfMapSizes): string[] {
  for (const [k, v] of Object.entries(sizes)) {
    if (!Number.isInteger(v) || v < 1 || v > 0x7fffffff) throw new Error(`bad map size ${k}=${v}`);
  }
  return [
    `-DDPC_NAT_FE_SIZE=${sizes.natFrontend}`,
    `-DDPC_NAT_BE_SIZE=${sizes.natBackend}`,
    `-DDPC_NAT_AFF_SIZE=${sizes.natAffinity}`,
    `-DDPC_ROUTE_SIZE=${sizes.route}`,
    `-DDPC_CT_SIZE=${sizes.conntrack}`,
  ];
}

/** Where the kernel's asm/ headers live for this machine's architecture (Debian multiarch). */
export function multiarchIncludeDir(arch: string = process.arch): string {
  const triplet: Record<string, string> = { x64: 'x86_64-linux-gnu', arm64: 'aarch64-linux-gnu' };
  return `/usr/include/${triplet[arch] ?? `${arch}-linux-gnu`}`;
}

/** The clang command line for one source file. */
export function clangArgv(
  src: string,
  out: string,
  defines: readonly string[],
  includeDirs: readonly string[],
): string[] {
  return [
    'clang',
    '-target',
    'bpf',
    '-O2',
    '-g',
    '-Wall',
    '-Werror',
    ...includeDirs.map((d) => `-I${d}`),
    ...defines,
    '-c',
    src,
    '-o',
    out,
  ];
}

/**
 * Every C file and header under `dir`, however deep: paths relative to it, `/`-separated, sorted.
 * All of them go into the build key, since an object's content follows every header it includes.
 */
export async function listBpfSources(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && (e.name.endsWith('.c') || e.name.endsWith('.h')))
    .map((e) => relative(dir, join(e.parentPath, e.name)).split(sep).join('/'))
    .sort();
}

/** The files compiled into objects: top-level `.c` files only; headers under lib/ are included. */
export function objectSources(files: readonly string[]): string[] {
  return files.filter((f) => f.endsWith('.c') && !f.includes('/'));
}

/** The cache key: the flags, then each file's path, length and content (so no two framings collide). */
export function buildKey(
  defines: readonly string[],
  files: ReadonlyArray<{ path: string; content: Uint8Array }>,
): string {
  const hash = createHash('sha256');
  hash.update(JSON.stringify({ defines, v: 2 }));
  for (const f of files) {
    hash.update(`\0${JSON.stringify([f.path, f.content.byteLength])}\0`);
    hash.update(f.content);
  }
  return hash.digest('hex').slice(0, 16);
}

/** clang refused a source file; `diagnostics` is clang's own output, verbatim. */
export class BpfCompileError extends Error {
  readonly file: string;
  readonly diagnostics: string;
  readonly argv: string[];
  constructor(file: string, diagnostics: string, argv: string[]) {
    super(`clang failed to compile ${file}:\n${diagnostics}`);
    this.name = 'BpfCompileError';
    this.file = file;
    this.diagnostics = diagnostics;
    this.argv = argv;
  }
}

/** What to build. */
export interface BuildOptions {
  /** Map sizes (default: Calico's defaults). */
  sizes: BpfMapSizes;
  /** Test build: `-DDPC_TEST` (faked tunnel key input, recorded sends). */
  test?: boolean;
  /** Directory of the C sources (default `<repo>/bpf`). */
  sourceDir?: string;
  /** Root of the build output (default `<repo>/build/bpf`). */
  outDir?: string;
  signal?: AbortSignal;
}

/** Where the objects went. */
export interface BuildResult {
  /** Object path by source base name (`dpc` -> `.../dpc.o`). */
  objects: Record<string, string>;
  dir: string;
  key: string;
  /** True when every object came from the cache. */
  cached: boolean;
}

/**
 * Compiles every top-level bpf/*.c, cached by the content of every source and header, the flags
 * and the sizes; throws {@link BpfCompileError}.
 */
export async function buildBpf(opts: BuildOptions): Promise<BuildResult> {
  const sourceDir = opts.sourceDir ?? join(REPO_ROOT, 'bpf');
  const outRoot = opts.outDir ?? join(REPO_ROOT, 'build', 'bpf');
  const files = await listBpfSources(sourceDir);
  const sources = objectSources(files);
  if (sources.length === 0) throw new Error(`no C sources in ${sourceDir}`);
  const defines = [...sizeDefines(opts.sizes), ...(opts.test ? ['-DDPC_TEST'] : [])];
  // bpf/ itself is on the include path, so `#include "lib/x.h"` and `"dpc.h"` resolve the same
  // from the entry file and from any header under lib/.
  const includes = [sourceDir, multiarchIncludeDir()];
  const contents = await Promise.all(
    files.map(async (path) => ({ path, content: await readFile(join(sourceDir, path)) })),
  );
  const key = buildKey(defines, contents);
  const dir = join(outRoot, key);
  await mkdir(dir, { recursive: true });
  const objects: Record<string, string> = {};
  let cached = true;
  for (const src of sources) {
    const name = basename(src, '.c');
    const out = join(dir, `${name}.o`);
    objects[name] = out;
    if (await exists(out)) continue;
    cached = false;
    const tmp = `${out}.${process.pid}.tmp`;
    const argv = clangArgv(join(sourceDir, src), tmp, defines, includes);
    try {
      await run(argv, { timeoutMs: 120_000, signal: opts.signal });
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof CommandError && err.exitCode !== undefined) {
        throw new BpfCompileError(src, `${err.stderr}${err.stdout}`, argv);
      }
      throw err;
    }
    await rename(tmp, out);
  }
  return { objects, dir, key, cached };
}
