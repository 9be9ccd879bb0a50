/**
 * Removes what earlier runs left behind (a killed process, a power cut): every namespace, pin,
 * cgroup and state directory named with our prefix.
 */
import { readdir, readFile, rm } from 'node:fs/promises';
import { NAME_PREFIX } from './address-plan.ts';
import { removeCgroups } from './infra.ts';
import { deleteNetns, killAll, listNetns } from './ip.ts';
import { STATE_ROOT } from './state.ts';

/** What a reap removed, for the CLI to print. */
export interface ReapReport {
  netns: string[];
  pins: string[];
  cgroups: string[];
  stateDirs: string[];
}

const OURS = new RegExp(`^${NAME_PREFIX}-`);

async function dirEntries(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch {
    return [];
  }
}

/** Pids in a cgroup (they must leave before the cgroup can go). */
async function cgroupPids(dir: string): Promise<number[]> {
  const pids: number[] = [];
  for (const child of ['', ...(await dirEntries(dir))]) {
    const text = await readFile(`${dir}/${child}/cgroup.procs`, 'utf8').catch(() => '');
    pids.push(...text.split('\n').filter(Boolean).map(Number));
  }
  return pids;
}

/**
 * Removes leftovers. With `runId`, only that run's; without, every run's (`dpconform down --all`).
 * Only names that start with our prefix are touched.
 */
export async function reap(runId?: string): Promise<ReapReport> {
  const match = (name: string) => (runId ? name.startsWith(`${NAME_PREFIX}-${runId}`) : OURS.test(name));
  const netns = (await listNetns()).filter(match);
  await deleteNetns(netns);

  const cgroupRoot = '/sys/fs/cgroup/unified';
  const cgroups = (await dirEntries(cgroupRoot)).filter(match);
  for (const c of cgroups) {
    await killAll(await cgroupPids(`${cgroupRoot}/${c}`));
    await removeCgroups(c.slice(NAME_PREFIX.length + 1));
  }

  // Unpinning drops the last reference to programs and maps whose links went with the namespaces.
  const pins = (await dirEntries('/sys/fs/bpf')).filter(match);
  for (const p of pins) await rm(`/sys/fs/bpf/${p}`, { recursive: true, force: true });

  const stateDirs = (await dirEntries(STATE_ROOT)).filter((d) =>
    runId ? d === runId : /^[0-9a-f]{6}$/.test(d),
  );
  for (const d of stateDirs) await rm(`${STATE_ROOT}/${d}`, { recursive: true, force: true });

  return { netns, pins, cgroups, stateDirs };
}
