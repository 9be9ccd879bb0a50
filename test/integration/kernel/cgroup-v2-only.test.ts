/**
 * A host with only cgroup v2, mounted at /sys/fs/cgroup (most current distributions, CI runners
 * included), made in a private mount namespace: the nodes' cgroups go into the real hierarchy
 * and nothing named `unified` is created in it.
 */
import { existsSync, readdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { newRunId } from '../../../src/cluster/run-id.ts';
import { run } from '../../../src/sys/exec.ts';
import { findCgroup2Mount } from '../../../src/sys/mounts.ts';

const CHILD = fileURLToPath(new URL('./cgroup-v2-only-child.ts', import.meta.url));
const hostRoot = findCgroup2Mount();
const runId = newRunId();

// A stray cgroup would be a real one in the machine's hierarchy: take it away (children first).
function removeTree(dir: string): void {
  if (!existsSync(dir)) return;
  for (const e of readdirSync(dir, { withFileTypes: true }))
    if (e.isDirectory()) removeTree(join(dir, e.name));
  rmdirSync(dir);
}

afterAll(() => {
  if (!hostRoot) return;
  removeTree(join(hostRoot, `dpc-${runId}`));
  if (!existsSync(join(hostRoot, 'unified', 'cgroup.procs'))) return;
  removeTree(join(hostRoot, 'unified'));
});

describe('cgroup v2 mounted alone at /sys/fs/cgroup', () => {
  test.skipIf(!hostRoot)(
    'node cgroups are made in the real hierarchy; no stray "unified" cgroup',
    async () => {
      const straysBefore = hostRoot ? existsSync(join(hostRoot, 'unified')) : false;
      const r = await run(
        ['unshare', '--mount', '--propagation', 'private', '--', process.execPath, CHILD, runId],
        {
          timeoutMs: 60_000,
        },
      );
      const seen = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}') as Record<string, unknown>;
      expect(seen.mount).toBe('/sys/fs/cgroup');
      expect(seen.nodeCgroup).toBe(true);
      expect(seen.nodePlaceCgroup).toBe(`/sys/fs/cgroup/dpc-${runId}/dpc-control-plane`);
      expect(seen.rootEntries).toEqual([`dpc-${runId}`]);
      expect(seen.afterReap).toEqual([]);
      // Seen from the host: the same hierarchy, where it is mounted here.
      expect(straysBefore).toBe(false);
      expect(existsSync(join(hostRoot!, 'unified'))).toBe(false);
      expect(existsSync(join(hostRoot!, `dpc-${runId}`))).toBe(false);
    },
  );
});
