/**
 * Where this machine mounts things, read from /proc/self/mountinfo: the one place that finds the
 * cgroup v2 hierarchy instead of assuming a path (hybrid hosts mount it at
 * /sys/fs/cgroup/unified, hosts with only cgroup v2 at /sys/fs/cgroup).
 */
import { readFileSync } from 'node:fs';

/** One mount, as /proc/self/mountinfo describes it. */
export interface Mount {
  /** The directory of the mounted file system that appears at the mount point. */
  root: string;
  mountPoint: string;
  fsType: string;
  source: string;
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo octal.
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8)));
}

/** Parses /proc/self/mountinfo (proc(5)); lines it cannot read are skipped. */
export function parseMountinfo(text: string): Mount[] {
  const mounts: Mount[] = [];
  for (const line of text.split('\n')) {
    const fields = line.split(' ');
    // id parent dev root mount-point options [optional fields...] - type source super-options
    const dash = fields.indexOf('-', 6);
    if (dash < 0 || fields.length < dash + 3) continue;
    mounts.push({
      root: unescapeOctal(fields[3] ?? ''),
      mountPoint: unescapeOctal(fields[4] ?? ''),
      fsType: fields[dash + 1] ?? '',
      source: unescapeOctal(fields[dash + 2] ?? ''),
    });
  }
  return mounts;
}

/**
 * The mount point of the cgroup v2 hierarchy, or undefined when none is mounted. A mount of the
 * whole hierarchy (root `/`) wins over one of a subtree; among equals, the first.
 */
export function cgroup2MountPoint(mounts: readonly Mount[]): string | undefined {
  const v2 = mounts.filter((m) => m.fsType === 'cgroup2');
  return (v2.find((m) => m.root === '/') ?? v2[0])?.mountPoint;
}

/** The cgroup v2 mount point of the mount namespace this process lives in, or undefined. */
export function findCgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return undefined;
  }
  return cgroup2MountPoint(parseMountinfo(text));
}
