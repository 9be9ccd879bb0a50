/**
 * A run's state on disk, whichever provider made it, so that `dpconform apply`, `probe`,
 * `status` and `down` in later processes find the cluster `up` made.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import type { DataplaneMode, FelixSettings } from '../k8s/felix-settings.ts';
import type { ClusterModel } from '../k8s/model.ts';
import { isRunId } from './run-id.ts';
import type { Topology } from './types.ts';

/** Where run directories live. */
export const STATE_ROOT = process.env.DPCONFORM_STATE_DIR ?? '/run/dpconform';

/** Bumped when the layout changes, so an old state file is refused rather than misread. */
export const STATE_VERSION = 2;

/** Everything needed to pick a run up again. */
export interface RunState {
  version: number;
  runId: string;
  /** Bumped on every save: a process holding an older one reloads before it changes anything. */
  generation: number;
  createdAt: string;
  topology: Topology;
  /** The object store, as the store serialises itself. */
  objects: unknown;
  model: ClusterModel | undefined;
  dataplane: DataplaneMode;
  settings: FelixSettings;
  warnings: string[];
  /** Agent pids by place name (pods as `namespace/name`). */
  agents: Record<string, number>;
  /** External IPs and VIPs routed on the clients, with the nodes that advertise them. */
  routes: Record<string, string[]>;
  /** Routes a test pinned to given nodes, overriding the advertised ones. */
  routeOverrides: Record<string, string[]>;
  /** The last sync's errors (e.g. services that did not fit in a map). */
  syncErrors: string[];
}

/** The directory of one run. */
export function stateDir(runId: string): string {
  return `${STATE_ROOT}/${runId}`;
}

/** Writes a run's state atomically. */
export async function saveState(state: RunState): Promise<void> {
  state.generation = (state.generation ?? 0) + 1;
  const dir = stateDir(state.runId);
  await mkdir(dir, { recursive: true });
  const tmp = `${dir}/state.json.tmp`;
  await writeFile(tmp, JSON.stringify(state, null, 1));
  await rename(tmp, `${dir}/state.json`);
}

/** Reads a run's state, or throws a one-line error saying what to do. */
export async function loadState(runId: string): Promise<RunState> {
  let text: string;
  try {
    text = await readFile(`${stateDir(runId)}/state.json`, 'utf8');
  } catch {
    throw new Error(`no cluster with run id ${runId}: start one with \`dpconform up\``);
  }
  const state = JSON.parse(text) as RunState;
  if (state.version !== STATE_VERSION) {
    throw new Error(
      `run ${runId} was made by another version of dpconform: remove it with \`dpconform down --all\``,
    );
  }
  return state;
}

/** Removes a run's state directory (agent sockets, logs, pid files included). */
export async function removeState(runId: string): Promise<void> {
  await rm(stateDir(runId), { recursive: true, force: true });
}

/** Run ids that have a state directory, oldest first. */
export async function listRuns(): Promise<string[]> {
  try {
    return (await readdir(STATE_ROOT)).filter(isRunId).sort();
  } catch {
    return [];
  }
}

/** Picks the run a command means: the one given, or the only one there is. */
export async function resolveRun(runId: string | undefined): Promise<string> {
  if (runId) return runId;
  const runs = await listRuns();
  if (runs.length === 0) throw new Error('no cluster is up: start one with `dpconform up`');
  if (runs.length > 1)
    throw new Error(`${runs.length} clusters are up (${runs.join(', ')}): choose one with --run ID`);
  return runs[0]!;
}
