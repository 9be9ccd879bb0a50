/**
 * What `--kernel` names, read without touching the network: the running kernel (`host`), a
 * Debian kernel series or release fetched with apt, a Debian kernel package file, or a kernel
 * image with its modules directory. Bad input is one line saying what is accepted, before
 * anything is built.
 */
import { existsSync, statSync } from 'node:fs';
import { basename, resolve } from 'node:path';

/**
 * The Debian kernel series `--kernel` knows by number, and the Debian release whose archive
 * holds each (`deb.debian.org`, main, with its security and updates suites).
 */
export const DEBIAN_SERIES: Readonly<Record<string, string>> = {
  '5.10': 'bullseye',
  '6.1': 'bookworm',
  '6.12': 'bookworm',
};

/** The Debian releases whose archives are searched for a kernel named by its full release. */
export const DEBIAN_SUITES: readonly string[] = [...new Set(Object.values(DEBIAN_SERIES))];

/** One kernel of a run. */
export type KernelSpec =
  /** The kernel this machine runs: the suites run here, as without `--kernel`. */
  | { kind: 'host'; label: string }
  /** A Debian series (`6.1`): its newest amd64 kernel in the Debian archive. */
  | { kind: 'debian-series'; label: string; series: string; suite: string }
  /** A Debian kernel release (`6.1.0-57-amd64`): the package `linux-image-<release>`. */
  | { kind: 'debian-release'; label: string; release: string }
  /** A Debian kernel package file (`linux-image-*.deb`). */
  | { kind: 'deb'; label: string; path: string }
  /** A bzImage, with its modules directory (found beside it or under /lib/modules when not given). */
  | { kind: 'image'; label: string; image: string; modules?: string };

/** A `--kernel` value that names nothing we can boot. */
export class KernelSpecError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'KernelSpecError';
  }
}

/** What `--kernel` accepts, for error messages and help. */
export const KERNEL_FORMS = `host, a Debian series (${Object.keys(DEBIAN_SERIES).join(', ')}), a Debian kernel release (e.g. 6.1.0-57-amd64), a linux-image-*.deb file, or a kernel image path[:modules directory]`;

// Debian's flavour names: 6.1.0-57-amd64, 5.10.0-46-cloud-amd64, 6.12.117+deb12-amd64.
const DEBIAN_RELEASE = /^\d+\.\d+(?:\.\d+)?(?:-\d+)?(?:\+deb\d+)?-(?:cloud-|rt-)?amd64$/;

function isFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

function isDir(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Reads one `--kernel` item; throws {@link KernelSpecError} naming what is accepted. */
export function parseKernelItem(item: string, cwd: string = process.cwd()): KernelSpec {
  const text = item.trim();
  if (text === '') throw new KernelSpecError(`--kernel has an empty item: give ${KERNEL_FORMS}`);
  if (text === 'host') return { kind: 'host', label: 'host' };
  const suite = DEBIAN_SERIES[text];
  if (suite !== undefined) return { kind: 'debian-series', label: text, series: text, suite };
  if (DEBIAN_RELEASE.test(text)) return { kind: 'debian-release', label: text, release: text };
  if (/^\d+\.\d+$/.test(text)) {
    throw new KernelSpecError(
      `kernel series ${text} is not one dpconform fetches from Debian (known: ${Object.keys(DEBIAN_SERIES).join(', ')}): give a Debian kernel release, a .deb or a kernel image instead`,
    );
  }
  if (!text.includes('/') && !text.endsWith('.deb')) {
    throw new KernelSpecError(`unknown kernel "${text}": give ${KERNEL_FORMS}`);
  }
  // path[:modules]: a colon is a separator only when what follows it is a directory.
  const colon = text.lastIndexOf(':');
  const [pathPart, modulesPart] =
    colon > 0 && isDir(resolve(cwd, text.slice(colon + 1)))
      ? [text.slice(0, colon), text.slice(colon + 1)]
      : [text, undefined];
  const path = resolve(cwd, pathPart);
  if (!existsSync(path)) throw new KernelSpecError(`kernel "${text}": no such file ${path}`);
  if (!isFile(path)) throw new KernelSpecError(`kernel "${text}": ${path} is not a file`);
  if (path.endsWith('.deb')) {
    if (modulesPart !== undefined)
      throw new KernelSpecError(`kernel "${text}": a .deb brings its own modules; give the file alone`);
    return { kind: 'deb', label: basename(path).replace(/\.deb$/, ''), path };
  }
  return {
    kind: 'image',
    label: basename(path),
    image: path,
    ...(modulesPart !== undefined ? { modules: resolve(cwd, modulesPart) } : {}),
  };
}

/** Reads the whole `--kernel` list (comma-separated); every label must be distinct. */
export function parseKernelList(value: string, cwd: string = process.cwd()): KernelSpec[] {
  const specs = value.split(',').map((item) => parseKernelItem(item, cwd));
  const seen = new Set<string>();
  for (const s of specs) {
    if (seen.has(s.label))
      throw new KernelSpecError(`--kernel names ${s.label} twice: give each kernel once`);
    seen.add(s.label);
  }
  return specs;
}

/** A label made safe as a directory name. */
export function labelDir(label: string): string {
  return label.replace(/[^A-Za-z0-9._+-]/g, '_');
}
