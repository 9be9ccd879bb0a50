/**
 * The node image: Debian with the tools a node runs (ip, tc, bpftool, iptables, tcpdump, ...),
 * named by a hash of what goes into it so that a changed package list is a new image. Where a
 * registry is reachable it is built from a Dockerfile `FROM debian:bookworm`; where none is (a
 * private engine never reaches one), from the machine's own apt mirror with mmdebstrap into a
 * root file system kept in a cache, which each engine imports.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { haveCommand, run } from '../../sys/exec.ts';
import { pathExists } from '../../sys/fs.ts';
import { docker, type Engine, existingEngine, INSTALL_DOCKER_HINT } from './engine.ts';

/** The Debian release the image is made from (the one kind's own node images use). */
export const NODE_IMAGE_SUITE = 'bookworm';

/** What a node (and an external client) runs, beyond Debian's minimal base. */
export const NODE_PACKAGES: readonly string[] = [
  'bpftool',
  'ca-certificates',
  'conntrack',
  'iproute2',
  'iptables',
  'iperf3',
  'iputils-ping',
  'kmod',
  'procps',
  'tcpdump',
];

/** The image's repository; its tag is the hash. */
export const NODE_IMAGE_REPOSITORY = 'dpconform/node';

/** Where root file systems built with mmdebstrap are kept between runs. */
export const IMAGE_CACHE_DIR = '/var/cache/dpconform';

/** The label an image carries with its hash. */
export const IMAGE_LABEL = 'dpconform.image';

/** Twelve hex digits naming what goes into the image (suite and packages, in any order). */
export function nodeImageHash(suite: string = NODE_IMAGE_SUITE, packages: readonly string[] = NODE_PACKAGES) {
  const text = JSON.stringify({ suite, packages: [...new Set(packages)].sort() });
  return createHash('sha256').update(text).digest('hex').slice(0, 12);
}

/** The image's name, as `docker` and the report show it. */
export function nodeImageTag(hash: string = nodeImageHash()): string {
  return `${NODE_IMAGE_REPOSITORY}:${hash}`;
}

/** The cached root file system of an image. */
export function rootfsPath(hash: string = nodeImageHash()): string {
  return `${IMAGE_CACHE_DIR}/node-${hash}.tar`;
}

/** The Dockerfile of the image, for engines that can pull `debian:<suite>`. */
export function dockerfileText(hash: string = nodeImageHash()): string {
  return [
    `FROM debian:${NODE_IMAGE_SUITE}`,
    `RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ${NODE_PACKAGES.join(' ')} && rm -rf /var/lib/apt/lists/*`,
    `LABEL ${IMAGE_LABEL}=${hash}`,
    'CMD ["sleep", "infinity"]',
    '',
  ].join('\n');
}

/** The mmdebstrap argv that writes the root file system to `target` from the given apt sources. */
export function mmdebstrapArgv(target: string, sources: readonly string[]): string[] {
  return [
    'mmdebstrap',
    '--variant=minbase',
    // Said, not guessed from the name: the build writes to a temporary name first.
    '--format=tar',
    `--include=${NODE_PACKAGES.join(',')}`,
    NODE_IMAGE_SUITE,
    target,
    ...sources,
  ];
}

/** How an image came to be, for messages. */
export interface ImageResult {
  tag: string;
  /** `cached`: it was there already. */
  how: 'cached' | 'mmdebstrap' | 'dockerfile' | 'imported';
  ms: number;
}

/**
 * This machine's apt sources when it runs the image's release (the packages then come from the
 * mirror the machine is configured with); otherwise none, and mmdebstrap uses Debian's mirror.
 */
async function hostSources(): Promise<string[]> {
  const release = await readFile('/etc/os-release', 'utf8').catch(() => '');
  if (/^VERSION_CODENAME=(.*)$/m.exec(release)?.[1]?.replace(/"/g, '') !== NODE_IMAGE_SUITE) return [];
  for (const file of ['/etc/apt/sources.list.d/debian.sources', '/etc/apt/sources.list']) {
    const text = await readFile(file, 'utf8').catch(() => '');
    if (/^\s*(deb|Types:)/m.test(text)) return [file];
  }
  return [];
}

/**
 * The root file system of the image, built with mmdebstrap unless the cache has it. Written
 * aside and renamed, so a build cut short never leaves a half file under the cached name.
 */
export async function ensureRootfs(
  log: (line: string) => void = () => {},
  opts: { rebuild?: boolean } = {},
): Promise<{ path: string; built: boolean; ms: number }> {
  const path = rootfsPath();
  const t0 = performance.now();
  if (opts.rebuild) await rm(path, { force: true });
  if (await pathExists(path)) return { path, built: false, ms: 0 };
  if (!(await haveCommand('mmdebstrap')))
    throw new Error(`the node image must be built and mmdebstrap is not installed: ${INSTALL_DOCKER_HINT}`);
  await mkdir(IMAGE_CACHE_DIR, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  log(`building the node image ${nodeImageTag()} with mmdebstrap (about a minute)`);
  try {
    await run(mmdebstrapArgv(tmp, await hostSources()), { timeoutMs: 20 * 60_000 });
    await rename(tmp, path);
  } finally {
    await rm(tmp, { force: true });
  }
  return { path, built: true, ms: performance.now() - t0 };
}

/** True when the engine has the image. */
export async function hasImage(engine: Engine, tag: string = nodeImageTag()): Promise<boolean> {
  const r = await docker(engine, ['image', 'inspect', '--format', '{{.Id}}', tag], { reject: false });
  return r.exitCode === 0;
}

/** Imports the cached root file system into an engine as the node image. */
async function importRootfs(engine: Engine, path: string): Promise<void> {
  const hash = nodeImageHash();
  await docker(
    engine,
    [
      'import',
      '--change',
      `LABEL ${IMAGE_LABEL}=${hash}`,
      '--change',
      'CMD ["sleep", "infinity"]',
      path,
      nodeImageTag(hash),
    ],
    { timeoutMs: 10 * 60_000 },
  );
}

/** True when the engine can get `debian:<suite>` (it has it, or a registry gives it). */
async function canPullBase(engine: Engine): Promise<boolean> {
  const base = `debian:${NODE_IMAGE_SUITE}`;
  const have = await docker(engine, ['image', 'inspect', base], { reject: false });
  if (have.exitCode === 0) return true;
  const pull = await docker(engine, ['pull', '--quiet', base], { reject: false, timeoutMs: 5 * 60_000 });
  return pull.exitCode === 0;
}

/**
 * Makes sure an engine has the node image: kept if there, else built from the Dockerfile where a
 * registry serves the base image, else imported from the cached root file system (built first if
 * need be). A private engine never reaches a registry, so it always imports.
 */
export async function ensureNodeImage(
  engine: Engine,
  log: (line: string) => void = () => {},
  opts: { rebuild?: boolean } = {},
): Promise<ImageResult> {
  const tag = nodeImageTag();
  const t0 = performance.now();
  if (opts.rebuild) await docker(engine, ['image', 'rm', '--force', tag], { reject: false });
  else if (await hasImage(engine, tag)) return { tag, how: 'cached', ms: 0 };
  if (!engine.private && (await canPullBase(engine))) {
    log(`building the node image ${tag} from debian:${NODE_IMAGE_SUITE}`);
    await docker(engine, ['build', '--tag', tag, '-'], { input: dockerfileText(), timeoutMs: 20 * 60_000 });
    return { tag, how: 'dockerfile', ms: performance.now() - t0 };
  }
  const rootfs = await ensureRootfs(log, opts);
  await importRootfs(engine, rootfs.path);
  return { tag, how: rootfs.built ? 'mmdebstrap' : 'imported', ms: performance.now() - t0 };
}

/** What `dpconform image build` made, and where it is. */
export interface NodeImageBuild {
  tag: string;
  /** `cached`: nothing had to be built. */
  how: ImageResult['how'];
  ms: number;
  /** The engine that has the image, or undefined when only the root file system was built. */
  engine?: string;
  /** The cached root file system (built with mmdebstrap), where there is one. */
  rootfs?: string;
}

/**
 * Builds the node image ahead of a run: into this machine's Docker engine when it has one, else
 * the root file system every private engine of a docker run imports.
 */
export async function buildNodeImage(
  opts: { rebuild?: boolean; log?: (line: string) => void } = {},
): Promise<NodeImageBuild> {
  const log = opts.log ?? (() => {});
  const engine = await existingEngine();
  if (engine) {
    const r = await ensureNodeImage(engine, log, { rebuild: opts.rebuild === true });
    const rootfs = (await pathExists(rootfsPath())) ? rootfsPath() : undefined;
    return { ...r, engine: engine.host, ...(rootfs ? { rootfs } : {}) };
  }
  const r = await ensureRootfs(log, { rebuild: opts.rebuild === true });
  return { tag: nodeImageTag(), how: r.built ? 'mmdebstrap' : 'cached', ms: r.ms, rootfs: r.path };
}
