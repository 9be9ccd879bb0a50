/**
 * A kernel given as an image file: its release read from the image itself (the x86 boot
 * protocol's version string), its modules found beside it or under /lib/modules.
 */
import { open } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { pathExists } from '../sys/fs.ts';
import type { BootableKernel } from './debian.ts';

/** Bytes of an image the boot header and its version string lie within. */
const HEADER_BYTES = 64 * 1024;

/**
 * The release of an x86 bzImage (`6.1.0-57-amd64`), from the version string its setup header
 * points at; undefined when the bytes are not a bzImage.
 */
export function bzImageRelease(image: Uint8Array): string | undefined {
  const buf = Buffer.from(image.buffer, image.byteOffset, image.byteLength);
  if (buf.length < 0x210 || buf.toString('latin1', 0x202, 0x206) !== 'HdrS') return undefined;
  // The boot protocol's kernel_version: an offset from the end of the first 512-byte sector.
  const at = buf.readUInt16LE(0x20e) + 0x200;
  if (at >= buf.length) return undefined;
  const end = buf.indexOf(0, at);
  const text = buf.toString('latin1', at, end < 0 ? Math.min(buf.length, at + 256) : end);
  const release = text.split(' ')[0];
  return release && /^\d+\.\d+/.test(release) ? release : undefined;
}

/** True when an ELF executable asks for no program interpreter (it is statically linked). */
export function isStaticElf(bytes: Uint8Array): boolean {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.length < 64 || buf.toString('latin1', 0, 4) !== '\x7fELF' || buf[4] !== 2) return false;
  const phoff = Number(buf.readBigUInt64LE(0x20));
  const phentsize = buf.readUInt16LE(0x36);
  const phnum = buf.readUInt16LE(0x38);
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    if (at + 4 > buf.length) return false;
    if (buf.readUInt32LE(at) === 3) return false; // PT_INTERP
  }
  return true;
}

/** The first bytes of a file. */
export async function readHead(path: string, bytes = HEADER_BYTES): Promise<Buffer> {
  const fh = await open(path, 'r');
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

/** The places a kernel image's modules are looked for, in order. */
export function modulesCandidates(image: string, release: string): string[] {
  const top = dirname(dirname(image));
  return [
    join(top, 'lib', 'modules', release),
    join(top, 'usr', 'lib', 'modules', release),
    join('/lib/modules', release),
  ];
}

/** A kernel image (and its modules) made bootable, or an error saying what is missing. */
export async function imageKernel(spec: { image: string; modules?: string }): Promise<BootableKernel> {
  const release = bzImageRelease(await readHead(spec.image));
  if (release === undefined) {
    throw new Error(`${spec.image} is not an x86 bzImage (no boot header with a version string)`);
  }
  const candidates = spec.modules !== undefined ? [spec.modules] : modulesCandidates(spec.image, release);
  for (const dir of candidates) {
    if (await pathExists(join(dir, 'modules.dep'))) {
      return { release, image: spec.image, modulesDir: dir, source: `kernel image ${spec.image}` };
    }
  }
  throw new Error(
    `no modules with a modules.dep for ${release} (looked in ${candidates.join(', ')}): give image:modules-directory, run depmod there`,
  );
}
