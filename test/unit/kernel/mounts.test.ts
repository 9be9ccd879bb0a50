import { describe, expect, test } from 'vitest';
import { cgroup2MountPoint, parseMountinfo } from '../../../src/sys/mounts.ts';

// A hybrid host (v1 controllers, v2 at unified) and a v2-only host, as /proc/self/mountinfo shows them.
const HYBRID = `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime shared:9 - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime shared:12 - cgroup2 cgroup2 rw
`;
const V2_ONLY = `24 30 0:22 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
26 24 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`;

describe('mounts', () => {
  test('mountinfo lines, optional fields and escapes included', () => {
    const m = parseMountinfo(
      '90 26 0:50 /sub /mnt/with\\040space rw shared:1 master:2 - ext4 /dev/my\\134disk rw\nnot a line\n',
    );
    expect(m).toEqual([
      { root: '/sub', mountPoint: '/mnt/with space', fsType: 'ext4', source: '/dev/my\\disk' },
    ]);
  });

  test('the cgroup v2 mount is found wherever it is, not assumed', () => {
    expect(cgroup2MountPoint(parseMountinfo(HYBRID))).toBe('/sys/fs/cgroup/unified');
    expect(cgroup2MountPoint(parseMountinfo(V2_ONLY))).toBe('/sys/fs/cgroup');
    expect(cgroup2MountPoint(parseMountinfo(HYBRID.split('\n').slice(0, 2).join('\n')))).toBeUndefined();
  });

  test('a mount of the whole hierarchy wins over a subtree mounted first', () => {
    const text = `50 24 0:24 /user.slice /run/sub rw - cgroup2 cgroup2 rw\n${V2_ONLY}`;
    expect(cgroup2MountPoint(parseMountinfo(text))).toBe('/sys/fs/cgroup');
  });
});
