import { describe, expect, test } from 'vitest';
import {
  aptOptions,
  aptSources,
  compareReleases,
  newestRelease,
  packageOf,
} from '../../../src/kernel/debian.ts';

describe('Debian kernels', () => {
  test('the newest generic amd64 kernel of a series, by its numbers', () => {
    const names = [
      'linux-image-6.1.0-9-amd64',
      'linux-image-6.1.0-57-amd64',
      'linux-image-6.1.0-57-cloud-amd64',
      'linux-image-6.1.0-57-amd64-unsigned',
      'linux-image-6.1.0-57-amd64-dbg',
      'linux-image-6.12.117+deb12-amd64',
      'linux-image-6.12.99+deb12-amd64',
      'linux-image-amd64',
    ];
    expect(newestRelease(names, '6.1')).toBe('6.1.0-57-amd64');
    expect(newestRelease(names, '6.12')).toBe('6.12.117+deb12-amd64');
    expect(newestRelease(names, '5.10')).toBeUndefined();
    expect(compareReleases('6.1.0-9-amd64', '6.1.0-57-amd64')).toBeLessThan(0);
    expect(packageOf('5.10.0-46-amd64')).toBe('linux-image-5.10.0-46-amd64');
  });

  test('apt gets a state of its own and each release with its security and updates suites', () => {
    expect(aptSources(['bullseye'])).toBe(
      [
        'deb http://deb.debian.org/debian bullseye main',
        'deb http://deb.debian.org/debian bullseye-updates main',
        'deb http://deb.debian.org/debian-security bullseye-security main',
        '',
      ].join('\n'),
    );
    const o = aptOptions('/c/apt');
    expect(o).toContain('Dir::Etc::SourceList=/c/apt/sources.list');
    expect(o).toContain('Dir::State::Lists=/c/apt/lists');
    expect(o).toContain('Dir::Cache=/c/apt/cache');
    // The machine's own sources must not be read: both the list and its directory are replaced.
    expect(o).toContain('Dir::Etc::SourceParts=/c/apt/sources.list.d');
  });
});
