/**
 * Run by cgroup-v2-only.test.ts inside a private mount namespace: makes this namespace look like
 * a host with only cgroup v2 (mounted at /sys/fs/cgroup), brings up the netns provider's places
 * for one node, and prints what the cgroup tree looked like, then removes everything.
 */
import { existsSync, readdirSync } from 'node:fs';
import { netnsProvider } from '../../../src/cluster/netns/provider.ts';
import { runSteps } from '../../../src/cluster/steps.ts';
import { run } from '../../../src/sys/exec.ts';
import { findCgroup2Mount } from '../../../src/sys/mounts.ts';

const runId = process.argv[2] ?? '';
await run(['umount', '--recursive', '/sys/fs/cgroup']);
await run(['mount', '-t', 'cgroup2', 'cgroup2', '/sys/fs/cgroup']);
const seen: Record<string, unknown> = { mount: findCgroup2Mount() };
try {
  const t = netnsProvider.plan(runId, { nodes: 1, clients: 1 });
  await runSteps(netnsProvider.provisionSteps(t));
  seen.nodeCgroup = existsSync(`/sys/fs/cgroup/dpc-${runId}/${t.nodes[0]?.name}`);
  seen.nodePlaceCgroup = netnsProvider.nodePlace(t, t.nodes[0]!).cgroupDir;
  seen.rootEntries = readdirSync('/sys/fs/cgroup').filter(
    (e) => e === 'unified' || e.startsWith(`dpc-${runId}`),
  );
} finally {
  await netnsProvider.reap(runId);
}
seen.afterReap = readdirSync('/sys/fs/cgroup').filter((e) => e === 'unified' || e.startsWith(`dpc-${runId}`));
process.stdout.write(`${JSON.stringify(seen)}\n`);
