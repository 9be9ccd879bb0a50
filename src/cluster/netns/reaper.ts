/**
 * Removes what netns runs left behind (a killed process, a power cut): every namespace, pin and
 * cgroup named with our prefix, and the processes living in them.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { findCgroup2Mount } from '../../sys/mounts.ts';
import { stopProcesses } from '../../sys/process.ts';
import type { ReapReport } from '../provider.ts';
import { BPFFS_ROOT, NAME_PREFIX } from './address-plan.ts';
import { removeCgroups } from './infra.ts';
import { deleteNetns, listNetns } from './ip.ts';

const OURS = /^dpc-([0-9a-f]{6})(?:-|$)/;

async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Pids in a cgroup and its children (they must leave before the cgroup can go). */
async function cgroupPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const child of ['', ...(await dirEntries(dir))]) {
    const text = await readFile(`${dir}/${child}/cgroup.procs`, 'utf8').catch(() => '');
    pids.push(...text.split('\n').filter(Boolean).map(Number));
  }
  return pids;
}

function plural(n: number, what: string): string {
  return `${n} ${what}${n === 1 ? '' : 's'}`;
}

/**
 * Removes leftovers. With `runId`, only that run's; without, every run's (`dpconform down --all`).
 * Only names that start with our prefix are touched.
 */
export async function reap(runId?: string): Promise<ReapReport> {
  const match = (name: string) => (runId ? name.startsWith(`${NAME_PREFIX}-${runId}`) : OURS.test(name));
  const runs = new Set<string>();
  const note = (name: string) => {
    const id = OURS.exec(name)?.[1];
    if (id) runs.add(id);
  };

  const netns = (await listNetns()).filter(match);
  netns.forEach(note);
  await deleteNetns(netns);

  // No cgroup v2 mounted: no run could have made a cgroup, and there is nothing to look in.
  const cgroupRoot = findCgroup2Mount();
  const cgroups = cgroupRoot === undefined ? [] : (await dirEntries(cgroupRoot)).filter(match);
  cgroups.forEach(note);
  for (const c of cgroups) {
    await stopProcesses(await cgroupPids(`${cgroupRoot}/${c}`));
    await removeCgroups(c.slice(NAME_PREFIX.length + 1));
  }

  // Unpinning drops the last reference to programs and maps whose links went with the namespaces.
  const pins = (await dirEntries(BPFFS_ROOT)).filter(match);
  pins.forEach(note);
  for (const p of pins) await rm(`${BPFFS_ROOT}/${p}`, { recursive: true, force: true });

  const removed: string[] = [];
  if (netns.length > 0) removed.push(plural(netns.length, 'network namespace'));
  if (pins.length > 0) removed.push(plural(pins.length, 'bpffs directory'));
  if (cgroups.length > 0) removed.push(plural(cgroups.length, 'cgroup'));
  return { removed, runs: [...runs].sort() };
}
