/**
 * A run's state on disk, whichever provider made it, so that `dpconform apply`, `probe`,
 * `status` and `down` in later processes find the cluster `up` made; and who owns each run, so
 * that a cluster whose owner died is known for abandoned and one still at work is left alone.
 */
import { mkdir, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { basename } from 'node:path';
import type { DataplaneMode, FelixSettings } from '../k8s/felix-settings.ts';
import type { ClusterModel } from '../k8s/model.ts';
import { processArgv } from '../sys/process.ts';
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
  /** Where the eBPF dataplane is built from when not the project's own bpf/ (a copy under test). */
  bpfSource?: BpfSource;
}

/** A copy of bpf/ to build the eBPF dataplane from, and where its objects go. */
export interface BpfSource {
  sourceDir: string;
  buildDir: string;
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

/**
 * Who made a run. A cluster whose owner is gone (killed, or the machine rebooted) and that was
 * not kept is abandoned: nobody will tear it down unless the next command does.
 */
export interface RunOwner {
  pid: number;
  /** When the owner started, in clock ticks after boot (/proc/<pid>/stat): a reused pid has another. */
  startTicks: number;
  /** The boot the owner ran in: after a reboot no owner is alive, whatever its pid. */
  bootId: string;
  /** What made the run, for messages: `dpconform run`, `dpconform up`, or a program's name. */
  command: string;
  /** Meant to outlive its owner (`dpconform up`, `run --keep` once the run is over). */
  kept: boolean;
}

/** Where a run stands with its owner: running under it, kept, abandoned, or made without a record. */
export type OwnerState = 'alive' | 'kept' | 'gone' | 'unknown';

/** A run and its owner, as commands describe it. */
export interface RunStatus {
  runId: string;
  owner: RunOwner | undefined;
  state: OwnerState;
}

const ownerFile = (runId: string) => `${stateDir(runId)}/owner.json`;

async function bootId(): Promise<string> {
  return (await readFile('/proc/sys/kernel/random/boot_id', 'utf8').catch(() => '')).trim();
}

/** A process's state letter and start time, or undefined when there is no such process. */
async function procStat(pid: number): Promise<{ state: string; startTicks: number } | undefined> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  // The command name (field 2) may hold spaces and parentheses: count fields after the last ')'.
  const fields = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return { state: fields[0] ?? '', startTicks: Number(fields[19]) };
}

/** This process as the owner of a run it is about to make. */
export async function ownerHere(command: string): Promise<RunOwner> {
  const stat = await procStat(process.pid);
  return {
    pid: process.pid,
    startTicks: stat?.startTicks ?? 0,
    bootId: await bootId(),
    command,
    kept: false,
  };
}

/** What started this process, for owner records of runs made outside the CLI (tests, scripts). */
export function programName(): string {
  return basename(process.argv[1] ?? process.argv0);
}

/** Records a run's owner; written before anything of the run is built, so no leftover lacks one. */
export async function writeOwner(runId: string, owner: RunOwner): Promise<void> {
  await mkdir(stateDir(runId), { recursive: true });
  const tmp = `${ownerFile(runId)}.tmp`;
  await writeFile(tmp, `${JSON.stringify(owner)}\n`);
  await rename(tmp, ownerFile(runId));
}

/** The owner record of a run, if it has one. */
export async function readOwner(runId: string): Promise<RunOwner | undefined> {
  const text = await readFile(ownerFile(runId), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const o = JSON.parse(text) as RunOwner;
    return Number.isInteger(o.pid) && typeof o.command === 'string' ? o : undefined;
  } catch {
    return undefined;
  }
}

/** True while the recorded owner runs: same boot, same pid, same start time, not a zombie. */
export async function ownerAlive(owner: RunOwner): Promise<boolean> {
  if (owner.bootId !== (await bootId())) return false;
  const stat = await procStat(owner.pid);
  return stat !== undefined && stat.state !== 'Z' && stat.startTicks === owner.startTicks;
}

/** Where a run stands with its owner. */
export async function runStatus(runId: string): Promise<RunStatus> {
  const owner = await readOwner(runId);
  if (!owner) return { runId, owner, state: 'unknown' };
  if (await ownerAlive(owner)) return { runId, owner, state: 'alive' };
  return { runId, owner, state: owner.kept ? 'kept' : 'gone' };
}

/** Every run with a state directory and where it stands, oldest first. */
export async function runStatuses(): Promise<RunStatus[]> {
  return Promise.all((await listRuns()).map(runStatus));
}

/** A run and its owner in a few words: `ab12cd (dpconform run, pid 4242, running)`. */
export function describeRun(s: RunStatus): string {
  const o = s.owner;
  if (!o) return `${s.runId} (owner unknown)`;
  const who = `${o.command}, pid ${o.pid}`;
  if (s.state === 'alive') return `${s.runId} (${who}, ${o.kept ? 'kept' : 'running'})`;
  if (s.state === 'kept') return `${s.runId} (kept, made by ${o.command})`;
  return `${s.runId} (${who}, gone)`;
}

/**
 * Pids of this machine's Node programs that belong to a run: agents, metrics servers and the
 * suites' runner all name a path under the run's state directory on their command line.
 */
export async function runProcesses(runId: string): Promise<number[]> {
  const label = `${stateDir(runId)}/`;
  const pids = (await readdir('/proc').catch(() => [] as string[]))
    .filter((e) => /^\d+$/.test(e))
    .map(Number)
    .filter((pid) => pid !== process.pid);
  const found: number[] = [];
  await Promise.all(
    pids.map(async (pid) => {
      const argv = await processArgv(pid);
      if (/(^|\/)node$/.test(argv[0] ?? '') && argv.some((a) => a.startsWith(label))) found.push(pid);
    }),
  );
  return found.sort((a, b) => a - b);
}

/** Picks the run a command means: the one given, or the only one there is. */
export async function resolveRun(runId: string | undefined): Promise<string> {
  if (runId) return runId;
  const runs = await runStatuses();
  if (runs.length === 0) throw new Error('no cluster is up: start one with `dpconform up`');
  if (runs.length > 1)
    throw new Error(
      `${runs.length} clusters are up: ${runs.map(describeRun).join(', ')}; choose one with --run ID`,
    );
  return runs[0]!.runId;
}
