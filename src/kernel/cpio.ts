/**
 * The cpio "newc" archive format the kernel unpacks as its initramfs (the kernel's
 * Documentation/driver-api/early-userspace/buffer-format.rst): written here, so building an
 * initramfs needs no cpio tool.
 */

/** One entry of an archive. */
export type CpioEntry =
  | { type: 'dir'; path: string; mode?: number }
  | { type: 'file'; path: string; data: Uint8Array; mode?: number }
  | { type: 'symlink'; path: string; target: string };

const S_IFDIR = 0o040000;
const S_IFREG = 0o100000;
const S_IFLNK = 0o120000;

function hex8(n: number): string {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new RangeError(`cpio field out of range: ${n}`);
  return n.toString(16).padStart(8, '0');
}

function pad4(n: number): number {
  return (4 - (n % 4)) % 4;
}

function header(ino: number, mode: number, nlink: number, size: number, nameSize: number): string {
  // magic, ino, mode, uid, gid, nlink, mtime, filesize, devmajor, devminor, rdevmajor, rdevminor,
  // namesize (with its NUL), check
  return `070701${[ino, mode, 0, 0, nlink, 0, size, 0, 0, 0, 0, nameSize, 0].map(hex8).join('')}`;
}

function record(ino: number, mode: number, nlink: number, name: string, data: Uint8Array): Buffer[] {
  const nameBytes = Buffer.from(`${name}\0`, 'utf8');
  const head = Buffer.from(header(ino, mode, nlink, data.length, nameBytes.length), 'latin1');
  return [
    head,
    nameBytes,
    Buffer.alloc(pad4(head.length + nameBytes.length)),
    Buffer.from(data),
    Buffer.alloc(pad4(data.length)),
  ];
}

/** Encodes entries (paths relative to the archive root, parents before children) as newc. */
export function encodeCpio(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  let ino = 1;
  for (const e of entries) {
    const name = e.path.replace(/^\/+/, '');
    if (name === '' || name.split('/').includes('..')) throw new Error(`cpio: bad path "${e.path}"`);
    if (e.type === 'dir')
      parts.push(...record(ino++, S_IFDIR | (e.mode ?? 0o755), 2, name, new Uint8Array()));
    else if (e.type === 'file') parts.push(...record(ino++, S_IFREG | (e.mode ?? 0o644), 1, name, e.data));
    else parts.push(...record(ino++, S_IFLNK | 0o777, 1, name, Buffer.from(e.target, 'utf8')));
  }
  parts.push(...record(0, 0, 1, 'TRAILER!!!', new Uint8Array()));
  return Buffer.concat(parts);
}
