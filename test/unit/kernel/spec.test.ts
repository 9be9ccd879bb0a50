import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { KernelSpecError, labelDir, parseKernelItem, parseKernelList } from '../../../src/kernel/spec.ts';

const dir = mkdtempSync(join(tmpdir(), 'dpconform-spec-test-'));
writeFileSync(join(dir, 'vmlinuz-6.1.0-57-amd64'), 'x');
writeFileSync(join(dir, 'linux-image-6.12.117+deb12-amd64_6.12.117-1_amd64.deb'), 'x');
mkdirSync(join(dir, 'mods'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('--kernel items', () => {
  test('host, Debian series and Debian releases are read without touching the disk', () => {
    expect(parseKernelItem('host')).toEqual({ kind: 'host', label: 'host' });
    expect(parseKernelItem('5.10')).toEqual({
      kind: 'debian-series',
      label: '5.10',
      series: '5.10',
      suite: 'bullseye',
    });
    expect(parseKernelItem('6.12')).toMatchObject({ kind: 'debian-series', suite: 'bookworm' });
    for (const r of ['6.1.0-57-amd64', '6.12.117+deb12-amd64', '5.10.0-46-cloud-amd64']) {
      expect(parseKernelItem(r)).toEqual({ kind: 'debian-release', label: r, release: r });
    }
  });

  test('files: a .deb, an image, an image with its modules directory', () => {
    expect(parseKernelItem('linux-image-6.12.117+deb12-amd64_6.12.117-1_amd64.deb', dir)).toEqual({
      kind: 'deb',
      label: 'linux-image-6.12.117+deb12-amd64_6.12.117-1_amd64',
      path: join(dir, 'linux-image-6.12.117+deb12-amd64_6.12.117-1_amd64.deb'),
    });
    expect(parseKernelItem(`${dir}/vmlinuz-6.1.0-57-amd64`)).toEqual({
      kind: 'image',
      label: 'vmlinuz-6.1.0-57-amd64',
      image: join(dir, 'vmlinuz-6.1.0-57-amd64'),
    });
    expect(parseKernelItem(`${dir}/vmlinuz-6.1.0-57-amd64:${dir}/mods`)).toMatchObject({
      kind: 'image',
      modules: join(dir, 'mods'),
    });
  });

  test('what names nothing bootable is a one-line error saying what is accepted', () => {
    expect(() => parseKernelItem('4.19')).toThrow(
      /not one dpconform fetches from Debian \(known: 5\.10, 6\.1, 6\.12\)/,
    );
    expect(() => parseKernelItem('latest')).toThrow(/unknown kernel "latest": give host, a Debian series/);
    expect(() => parseKernelItem(`${dir}/nope`)).toThrow(KernelSpecError);
    expect(() => parseKernelItem(`${dir}/mods`)).toThrow(/is not a file/);
    expect(() => parseKernelItem('')).toThrow(/empty item/);
  });

  test('a list: comma-separated, each kernel once', () => {
    expect(parseKernelList('5.10,6.1,6.12,host').map((k) => k.label)).toEqual([
      '5.10',
      '6.1',
      '6.12',
      'host',
    ]);
    expect(() => parseKernelList('6.1,host,6.1')).toThrow(/names 6\.1 twice/);
    expect(() => parseKernelList('6.1,,host')).toThrow(/empty item/);
  });

  test('labels become directory names', () => {
    expect(labelDir('6.12.117+deb12-amd64')).toBe('6.12.117+deb12-amd64');
    expect(labelDir('a b/c')).toBe('a_b_c');
  });
});
