/**
 * What a run may leave behind, looked up by its run id: namespaces, bpffs pins, cgroups, state.
 */
import { existsSync, readdirSync } from 'node:fs';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { stateDir } from '../../../src/cluster/state.ts';
import { findCgroup2Mount } from '../../../src/sys/mounts.ts';

/** Everything of the run still on the machine, as readable strings (empty when clean). */
export async function leftoversOf(runId: string): Promise<string[]> {
  const prefix = `dpc-${runId}`;
  const out = (await listNetns()).filter((n) => n.startsWith(prefix)).map((n) => `netns ${n}`);
  for (const dir of ['/sys/fs/bpf', findCgroup2Mount() ?? '/sys/fs/cgroup']) {
    for (const e of readdirSync(dir)) if (e.startsWith(prefix)) out.push(`${dir}/${e}`);
  }
  if (existsSync(stateDir(runId))) out.push(stateDir(runId));
  return out;
}
