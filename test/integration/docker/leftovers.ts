/**
 * What a docker run may leave behind, looked up by its run id: containers and networks with its
 * label, its private engine (directory, data root, namespace, cgroups, processes), the node
 * directories it lent the nodes, and its state.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import {
  cgroupParent,
  dataRoot,
  docker,
  engineDir,
  engineNetns,
  existingEngine,
  readEngine,
} from '../../../src/cluster/docker/engine.ts';
import { RUN_LABEL } from '../../../src/cluster/docker/plan.ts';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { stateDir } from '../../../src/cluster/state.ts';

/** Processes of this machine whose command line names the run's engine directory or data root. */
export function engineProcesses(runId: string): string[] {
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((e) => /^\d+$/.test(e))) {
    let cmdline = '';
    try {
      cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmdline.includes(engineDir(runId)) || cmdline.includes(dataRoot(runId)))
      out.push(`${pid} ${cmdline.trim()}`);
  }
  return out;
}

/** Everything of the run still on the machine, as readable strings (empty when clean). */
export async function dockerLeftoversOf(runId: string): Promise<string[]> {
  const out: string[] = [];
  for (const path of [engineDir(runId), dataRoot(runId), stateDir(runId), `/sys/fs/bpf/dpc-${runId}`])
    if (existsSync(path)) out.push(path);
  if ((await listNetns()).includes(engineNetns(runId))) out.push(`netns ${engineNetns(runId)}`);
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mountPoint = line.split(' ')[4] ?? '';
    if (/ - cgroup2? /.test(line)) {
      for (const name of [cgroupParent(runId), `dpc-${runId}`])
        if (existsSync(`${mountPoint}/${name}`)) out.push(`${mountPoint}/${name}`);
    }
    if (mountPoint.includes(runId)) out.push(`mount ${mountPoint}`);
  }
  out.push(...engineProcesses(runId).map((p) => `process ${p}`));
  for (const engine of [await readEngine(runId), await existingEngine()]) {
    if (!engine) continue;
    const filter = ['--filter', `label=${RUN_LABEL}=${runId}`];
    const ps = await docker(engine, ['ps', '--all', '--quiet', ...filter], { reject: false });
    const nets = await docker(engine, ['network', 'ls', '--quiet', ...filter], { reject: false });
    out.push(
      ...ps.stdout
        .split('\n')
        .filter(Boolean)
        .map((id) => `container ${id}`),
    );
    out.push(
      ...nets.stdout
        .split('\n')
        .filter(Boolean)
        .map((id) => `network ${id}`),
    );
  }
  return out;
}
