import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { encodeCpio } from '../../../src/kernel/cpio.ts';
import { run } from '../../../src/sys/exec.ts';

const dir = mkdtempSync(join(tmpdir(), 'dpconform-cpio-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** busybox cpio, an independent reader, run on the archive in `file` from directory `cwd`. */
function cpio(file: string, cwd: string, ...flags: string[]) {
  return run(['busybox', 'sh', '-c', 'cd "$1" && shift && busybox cpio "$@" < "$0"', file, cwd, ...flags]);
}

describe('newc archives', () => {
  test('busybox cpio unpacks what was written, byte for byte, with modes and links', async () => {
    const data = Buffer.from([0, 1, 2, 255, 254]);
    const file = join(dir, 'a.cpio');
    writeFileSync(
      file,
      encodeCpio([
        { type: 'dir', path: 'bin' },
        { type: 'file', path: '/bin/tool', data, mode: 0o755 },
        { type: 'file', path: 'odd name.txt', data: Buffer.from('abc') },
        { type: 'symlink', path: 'bin/sh', target: 'tool' },
      ]),
    );
    expect(readFileSync(file).length % 4).toBe(0);
    const out = join(dir, 'out');
    mkdirSync(out);
    const listed = await cpio(file, out, '-t');
    expect(listed.stdout.split('\n').filter(Boolean)).toEqual(['bin', 'bin/tool', 'odd name.txt', 'bin/sh']);
    await cpio(file, out, '-i', '-d');
    expect(readFileSync(join(out, 'bin/tool'))).toEqual(data);
    expect(statSync(join(out, 'bin/tool')).mode & 0o777).toBe(0o755);
    expect(readFileSync(join(out, 'odd name.txt'), 'utf8')).toBe('abc');
    expect(readlinkSync(join(out, 'bin/sh'))).toBe('tool');
  });

  test('paths that would escape the archive are refused', () => {
    expect(() => encodeCpio([{ type: 'dir', path: '../etc' }])).toThrow(/bad path/);
    expect(() => encodeCpio([{ type: 'dir', path: '/' }])).toThrow(/bad path/);
  });
});
