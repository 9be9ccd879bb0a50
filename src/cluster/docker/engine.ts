/**
 * The Docker engine a docker run uses: the one `DOCKER_HOST` (or the default socket) names when
 * it answers, or else a private `dockerd` started for the run alone. The private engine lives in
 * a network namespace of its own, so its bridge, addresses and rules never touch this machine's
 * namespace; it has its own socket, data root and cgroup parent, all named with the run id, and
 * stopping it removes every one of them.
 */
import { mkdir, readdir, readFile, rm, rmdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { haveCommand, type RunOptions, type RunResult, run, start } from '../../sys/exec.ts';
import { pathExists } from '../../sys/fs.ts';
import { readPidFile, stopProcesses } from '../../sys/process.ts';
import { createNetns, deleteNetns, listNetns, netnsPids } from '../netns/ip.ts';

/** How to reach an engine. */
export interface Engine {
  /** `unix:///...` or whatever `DOCKER_HOST` says. */
  host: string;
  /** Started for one run by dpconform (and stopped with it). */
  private: boolean;
}

/** Every private engine's files: one directory per run (socket, exec root, pid, log). */
export const ENGINE_ROOT = '/run/dpconform-docker';

/** Every private engine's data root (images and container layers): one directory per run. */
export const DATA_ROOT = '/var/lib/dpconform/docker';

/** Where Docker listens when nothing says otherwise. */
export const DEFAULT_SOCKET = '/var/run/docker.sock';

/** Directories dockerd and containerd make at fixed places, deepest first. */
const ENGINE_FIXED_DIRS = ['/run/docker/plugins', '/run/docker', '/run/containerd/s', '/run/containerd'];

/** Bound on a private engine answering after it starts. */
const ENGINE_READY_MS = 60_000;

/** The run's engine directory (also the mark that a run is a docker run). */
export function engineDir(runId: string): string {
  return `${ENGINE_ROOT}/${runId}`;
}

/** The private engine's data root. */
export function dataRoot(runId: string): string {
  return `${DATA_ROOT}/${runId}`;
}

/** The network namespace a private engine runs in (its bridges live there). */
export function engineNetns(runId: string): string {
  return `dpc-docker-${runId}`;
}

/** The cgroup (under every hierarchy's root) the private engine puts its containers in. */
export function cgroupParent(runId: string): string {
  return `dpc-docker-${runId}`;
}

/** The run id of an engine netns or cgroup parent name, or undefined. */
export function runIdOfEngineName(name: string): string | undefined {
  return /^dpc-docker-([0-9a-f]{6})$/.exec(name)?.[1];
}

/** The private engine's files. */
export function engineFiles(runId: string) {
  const dir = engineDir(runId);
  return {
    dir,
    socket: join(dir, 'docker.sock'),
    execRoot: join(dir, 'exec'),
    pidFile: join(dir, 'dockerd.pid'),
    config: join(dir, 'daemon.json'),
    log: join(dir, 'dockerd.log'),
    /** Which engine the run used: written before anything is started on it. */
    record: join(dir, 'engine.json'),
  };
}

/**
 * The dockerd argv of a run's private engine: no iptables, no masquerading, no forwarding, no
 * default bridge, containers' cgroups under a parent named for the run, every file under the
 * run's directories.
 */
export function dockerdArgv(runId: string): string[] {
  const f = engineFiles(runId);
  return [
    'dockerd',
    '--host',
    `unix://${f.socket}`,
    '--data-root',
    dataRoot(runId),
    '--exec-root',
    f.execRoot,
    '--pidfile',
    f.pidFile,
    '--config-file',
    f.config,
    '--iptables=false',
    '--ip6tables=false',
    '--ip-masq=false',
    '--ip-forward=false',
    '--bridge=none',
    '--userland-proxy=false',
    '--shutdown-timeout',
    '2',
    '--cgroup-parent',
    `/${cgroupParent(runId)}`,
    '--log-level',
    'warn',
  ];
}

/** The private engine's configuration file: keeps its identity key with its other files. */
export function daemonConfig(runId: string): string {
  return `${JSON.stringify({ 'deprecated-key-path': join(engineDir(runId), 'key.json') })}\n`;
}

/** Runs the docker client against an engine. */
export function docker(engine: Engine, args: readonly string[], opts: RunOptions = {}): Promise<RunResult> {
  return run(['docker', ...args], { ...opts, env: { ...opts.env, DOCKER_HOST: engine.host } });
}

/** True when the engine answers. */
export async function engineAnswers(engine: Engine): Promise<boolean> {
  const r = await docker(engine, ['version', '--format', '{{.Server.Version}}'], {
    reject: false,
    timeoutMs: 10_000,
  }).catch(() => undefined);
  return r?.exitCode === 0;
}

/**
 * The engine this machine already has: the one `DOCKER_HOST` names, or Docker's default socket
 * when it answers. Undefined when there is none (a private one is started then).
 */
export async function existingEngine(env: NodeJS.ProcessEnv = process.env): Promise<Engine | undefined> {
  if (env.DOCKER_HOST) return { host: env.DOCKER_HOST, private: false };
  const host = `unix://${DEFAULT_SOCKET}`;
  if ((await pathExists(DEFAULT_SOCKET)) && (await engineAnswers({ host, private: false })))
    return { host, private: false };
  return undefined;
}

/** Whether the docker provider can run here, and what to do when it cannot. */
export type DockerAvailability = { available: true } | { available: false; reason: string };

/** What installs Docker for this provider. */
export const INSTALL_DOCKER_HINT =
  'run scripts/setup.sh (installs docker.io and mmdebstrap from Debian), or set DOCKER_HOST to a Docker engine';

/** Checks, without starting anything, that a docker run can get an engine. */
export async function dockerAvailability(env: NodeJS.ProcessEnv = process.env): Promise<DockerAvailability> {
  if (!(await haveCommand('docker')))
    return { available: false, reason: `the docker client is not installed: ${INSTALL_DOCKER_HINT}` };
  if (env.DOCKER_HOST) {
    const engine: Engine = { host: env.DOCKER_HOST, private: false };
    if (!(await engineAnswers(engine)))
      return {
        available: false,
        reason: `DOCKER_HOST=${env.DOCKER_HOST} does not answer: start that engine, or unset DOCKER_HOST to use a private one`,
      };
    return { available: true };
  }
  if (await existingEngine(env)) return { available: true };
  if (!(await haveCommand('dockerd')))
    return {
      available: false,
      reason: `no Docker engine answers and dockerd is not installed: ${INSTALL_DOCKER_HINT}`,
    };
  return { available: true };
}

/** The engine a run recorded, or undefined for a run that never got as far. */
export async function readEngine(runId: string): Promise<Engine | undefined> {
  const text = await readFile(engineFiles(runId).record, 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const e = JSON.parse(text) as Engine;
    return typeof e.host === 'string' ? { host: e.host, private: e.private === true } : undefined;
  } catch {
    return undefined;
  }
}

async function recordEngine(runId: string, engine: Engine): Promise<void> {
  await writeFile(engineFiles(runId).record, `${JSON.stringify(engine)}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Gets the run an engine: this machine's if it has one, otherwise a private dockerd in the
 * run's own network namespace, waited for until it answers. The run's directory is made (and
 * the engine recorded in it) first, so that {@link releaseEngine} finds whatever was started.
 */
export async function acquireEngine(runId: string, log: (line: string) => void = () => {}): Promise<Engine> {
  const f = engineFiles(runId);
  await mkdir(f.dir, { recursive: true });
  const existing = await existingEngine();
  if (existing) {
    await recordEngine(runId, existing);
    return existing;
  }
  const engine: Engine = { host: `unix://${f.socket}`, private: true };
  await recordEngine(runId, engine);
  await mkdir(dataRoot(runId), { recursive: true });
  await writeFile(f.config, daemonConfig(runId));
  const netns = engineNetns(runId);
  await createNetns([netns]);
  await run(['ip', '-n', netns, 'link', 'set', 'lo', 'up']);
  log(`starting a private Docker engine (${f.socket}, network namespace ${netns})`);
  // Its own session: Ctrl-C in the terminal reaches the run, which stops the engine in order.
  const proc = start(['nsenter', `--net=/run/netns/${netns}`, '--', ...dockerdArgv(runId)], {
    detached: true,
    logFile: f.log,
  });
  let exited: string | undefined;
  proc.exited.then((r) => {
    exited = `exited ${r.exitCode}`;
  });
  const deadline = performance.now() + ENGINE_READY_MS;
  while (!(await engineAnswers(engine))) {
    if (exited !== undefined || performance.now() > deadline) {
      const tail = (await readFile(f.log, 'utf8').catch(() => '')).trim().split('\n').slice(-3).join(' | ');
      throw new Error(
        `the private Docker engine ${exited ?? `did not answer within ${ENGINE_READY_MS / 1000} s`}; log ${f.log}: ${tail}`,
      );
    }
    await sleep(100);
  }
  return engine;
}

/** Mount points under a directory, deepest first (what a killed engine may leave mounted). */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Pids in a cgroup directory and every directory below it. */
export async function pidsBelow(dir: string): Promise<number[]> {
  const pids: number[] = [];
  const text = await readFile(join(dir, 'cgroup.procs'), 'utf8').catch(() => '');
  pids.push(...text.split('\n').filter(Boolean).map(Number));
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const c of children) if (c.isDirectory()) pids.push(...(await pidsBelow(join(dir, c.name))));
  return pids;
}

/** Removes a cgroup directory tree bottom up (each must be empty of processes). */
export async function removeCgroupTree(dir: string): Promise<void> {
  const children = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const c of children) if (c.isDirectory()) await removeCgroupTree(join(dir, c.name));
  await rmdir(dir).catch(() => {});
}

/** The cgroup hierarchies' mount points (v1 controllers and v2), where an engine's parent cgroup may be. */
async function cgroupMounts(): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return text
    .split('\n')
    .filter((l) => / - cgroup2? /.test(l))
    .map((l) => l.split(' ')[4] ?? '')
    .filter(Boolean);
}

/** What stopping an engine removed, for the reaper's report. */
export interface EngineRemoval {
  engine: boolean;
  processes: number;
}

/**
 * Stops a run's private engine and removes everything it had, whatever state it is in: the
 * daemon (which stops its containers), then any process it left (containerd, shims, container
 * processes, found by its namespace and cgroups), mounts under its directories, its network
 * namespace, cgroups, data root and run directory. A run on another engine only loses its
 * directory. Never throws for what is already gone.
 */
export async function releaseEngine(runId: string): Promise<EngineRemoval> {
  const f = engineFiles(runId);
  const engine = await readEngine(runId);
  const removal: EngineRemoval = { engine: false, processes: 0 };
  const netns = engineNetns(runId);
  const hasNetns = (await listNetns()).includes(netns);
  if (engine?.private !== false) {
    const pid = await readPidFile(f.pidFile);
    if (pid !== undefined) {
      // dockerd stops its containers and its containerd on SIGTERM; give it the time to.
      await stopProcesses([pid], 20_000);
      removal.engine = true;
    }
    const stray = [
      ...(hasNetns ? await netnsPids(netns) : []),
      ...(
        await Promise.all((await cgroupMounts()).map((m) => pidsBelow(join(m, cgroupParent(runId)))))
      ).flat(),
    ];
    removal.processes = new Set(stray).size;
    await stopProcesses([...new Set(stray)]);
    for (const dir of [f.dir, dataRoot(runId)])
      for (const m of await mountsUnder(dir)) await run(['umount', '-l', m], { reject: false });
    await deleteNetns([netns]);
    for (const m of await cgroupMounts()) await removeCgroupTree(join(m, cgroupParent(runId)));
    await rm(dataRoot(runId), { recursive: true, force: true });
    for (const dir of [DATA_ROOT, dirname(DATA_ROOT)]) await rmdir(dir).catch(() => {});
  }
  await rm(f.dir, { recursive: true, force: true });
  const lastEngine = await rmdir(ENGINE_ROOT).then(
    () => true,
    () => false,
  );
  // dockerd and containerd make these wherever they run; the last private engine takes them
  // with it (only when empty: a system engine's stay).
  if (lastEngine && engine?.private !== false)
    for (const dir of ENGINE_FIXED_DIRS) await rmdir(dir).catch(() => {});
  return removal;
}

/** Run ids with an engine directory, a private engine's data root, namespace or cgroup parent. */
export async function engineRuns(): Promise<string[]> {
  const ids = new Set<string>();
  const entries = async (dir: string) => readdir(dir).catch(() => [] as string[]);
  for (const e of [...(await entries(ENGINE_ROOT)), ...(await entries(DATA_ROOT))])
    if (/^[0-9a-f]{6}$/.test(e)) ids.add(e);
  for (const n of await listNetns()) {
    const id = runIdOfEngineName(n);
    if (id) ids.add(id);
  }
  for (const m of await cgroupMounts())
    for (const e of await entries(m)) {
      const id = runIdOfEngineName(e);
      if (id) ids.add(id);
    }
  return [...ids].sort();
}
