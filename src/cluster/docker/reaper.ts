/**
 * Removes what docker runs left behind, whatever stage they reached: containers and networks by
 * the run's label (on this machine's engine and on the run's private one), the private engine
 * with its namespace, cgroups, mounts and data root, and the node directories this machine lent
 * the nodes (cgroups and bpffs pins).
 */
import type { ReapReport } from '../provider.ts';
import { removeLabelled } from './containers.ts';
import { engineAnswers, engineRuns, existingEngine, readEngine, releaseEngine } from './engine.ts';
import { removeNodeDirs } from './provision.ts';

function plural(n: number, what: string): string {
  if (n === 1) return `1 ${what}`;
  return `${n} ${what.endsWith('y') ? `${what.slice(0, -1)}ies` : `${what}s`}`;
}

/**
 * Reaps one run (or every docker run when no id is given). Only what carries our label, or is
 * named with a docker run's id under our own directories, is touched.
 */
export async function reapDocker(runId?: string): Promise<ReapReport> {
  // A docker run is known by its engine directory, made first and removed last (the netns
  // reaper takes care of node directories no docker run claims).
  const known = await engineRuns();
  const runs = new Set<string>(runId ? known.filter((id) => id === runId) : known);
  let containers = 0;
  let networks = 0;
  let engines = 0;
  let processes = 0;
  let cgroups = 0;
  let pins = 0;
  // This machine's own engine holds a run's containers when it had one: they go by label.
  const shared = await existingEngine();
  if (shared) {
    const r = await removeLabelled(shared, runId);
    containers += r.containers;
    networks += r.networks;
    for (const id of r.runs) runs.add(id);
  }
  for (const id of runs) {
    const engine = await readEngine(id);
    // Removed through a live private engine first: quicker and cleaner than stopping it with them.
    if (engine?.private && (await engineAnswers(engine))) {
      const r = await removeLabelled(engine, id);
      containers += r.containers;
      networks += r.networks;
    }
    const dirs = await removeNodeDirs(id);
    if (dirs.cgroup) cgroups++;
    if (dirs.bpffs) pins++;
    const removal = await releaseEngine(id);
    if (removal.engine) engines++;
    processes += removal.processes;
  }
  const removed: string[] = [];
  if (containers > 0) removed.push(plural(containers, 'container'));
  if (networks > 0) removed.push(plural(networks, 'docker network'));
  if (engines > 0) removed.push(plural(engines, 'private Docker engine'));
  if (processes > 0) removed.push(plural(processes, 'leftover engine process'));
  if (pins > 0) removed.push(plural(pins, 'bpffs directory'));
  if (cgroups > 0) removed.push(plural(cgroups, 'cgroup'));
  return { removed, runs: [...runs].sort() };
}
