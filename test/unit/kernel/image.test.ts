import { describe, expect, test } from 'vitest';
import { bzImageRelease, isStaticElf, readHead } from '../../../src/kernel/image.ts';

/** A fake bzImage: the setup header's magic and a version string where kernel_version points. */
function bzImage(version: string): Buffer {
  const b = Buffer.alloc(0x1000);
  b.write('HdrS', 0x202, 'latin1');
  b.writeUInt16LE(0x0800 - 0x200, 0x20e);
  b.write(`${version}\0`, 0x800, 'latin1');
  return b;
}

describe('kernel images', () => {
  test('the release comes from the boot header', () => {
    expect(bzImageRelease(bzImage('6.1.0-57-amd64 (debian-kernel@lists.debian.org) #1 SMP'))).toBe(
      '6.1.0-57-amd64',
    );
    expect(bzImageRelease(Buffer.alloc(0x1000))).toBeUndefined();
    expect(bzImageRelease(bzImage('not a version'))).toBeUndefined();
  });

  test('a static binary asks for no interpreter', async () => {
    // This test's own runtime is dynamically linked; a hand-built ELF header with no PT_INTERP is static.
    expect(isStaticElf(await readHead(process.execPath))).toBe(false);
    const elf = Buffer.alloc(64 + 56);
    elf.write('\x7fELF', 0, 'latin1');
    elf[4] = 2;
    elf.writeBigUInt64LE(64n, 0x20);
    elf.writeUInt16LE(56, 0x36);
    elf.writeUInt16LE(1, 0x38);
    elf.writeUInt32LE(1, 64); // PT_LOAD
    expect(isStaticElf(elf)).toBe(true);
    elf.writeUInt32LE(3, 64); // PT_INTERP
    expect(isStaticElf(elf)).toBe(false);
    expect(isStaticElf(Buffer.from('#!/bin/sh\n'))).toBe(false);
  });
});
