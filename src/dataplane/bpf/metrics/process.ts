/**
 * Starting and stopping a node's metrics server: one detached Node process per node, run in the
 * node's network, found again through its pid file (under the run's state directory) by later
 * CLI processes.
 */
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NodePlace } from '../../../node/place.ts';
import { processAlive, processArgv, readPidFile, stopProcesses } from '../../../sys/process.ts';
import { scaled } from '../../../sys/time-scale.ts';
import { DEFAULT_COMPILE_CACHE_DIR, logTail } from '../../../workload/agent-process.ts';
import { METRICS_PATH, METRICS_PORT } from './names.ts';
import { serverArgs } from './server-args.ts';

/** The server program. */
export const METRICS_SERVER_SCRIPT = fileURLToPath(new URL('./server-main.ts', import.meta.url));

/** Bound on waiting for a new server to listen (times the time scale). */
export const METRICS_READY_TIMEOUT_MS = 10_000;

/** A node's running metrics server. */
export interface MetricsServer {
  node: string;
  pid: number;
  url: string;
  logFile: string;
}

/** Where a node's server keeps its pid and log, under the run's state directory. */
export function metricsFiles(
  stateDir: string,
  nodeName: string,
): { dir: string; pidFile: string; logFile: string } {
  const dir = join(stateDir, 'metrics');
  return { dir, pidFile: join(dir, `${nodeName}.pid`), logFile: join(dir, `${nodeName}.log`) };
}

/** The endpoint of a node's server. */
export function metricsUrl(node: Pick<NodePlace, 'ip'>): string {
  return `http://${node.ip}:${METRICS_PORT}${METRICS_PATH}`;
}

// The server's own argv; the node adds whatever enters it.
function serverProgram(node: NodePlace, stateDir: string): string[] {
  return [
    process.execPath,
    METRICS_SERVER_SCRIPT,
    ...serverArgs({
      node: node.name,
      bpffsDir: node.bpffsDir,
      host: node.ip,
      port: METRICS_PORT,
      pidFile: metricsFiles(stateDir, node.name).pidFile,
    }),
  ];
}

/** The full argv that runs a node's server in the node, as {@link NodePlace.spawn} runs it. */
export function metricsServerArgv(node: NodePlace, stateDir: string): string[] {
  return node.spawnArgv(serverProgram(node, stateDir));
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * True when pid is the server that writes this pid file: a pid file outlives its process and
 * the pid can be reused, even by another run's server of a node with the same name.
 */
async function isOurServer(pid: number, pidFile: string): Promise<boolean> {
  const argv = await processArgv(pid);
  return argv.includes(METRICS_SERVER_SCRIPT) && argv.includes(pidFile);
}

/**
 * Starts the node's metrics server (Felix's port 9091 on the node's IP) and waits until it
 * listens; a server already running for the node is kept. Needs the bpf dataplane installed.
 */
export async function startMetricsServer(node: NodePlace, stateDir: string): Promise<MetricsServer> {
  const { dir, pidFile, logFile } = metricsFiles(stateDir, node.name);
  const url = metricsUrl(node);
  const running = await readPidFile(pidFile);
  if (running !== undefined && (await isOurServer(running, pidFile)))
    return { node: node.name, pid: running, url, logFile };
  await mkdir(dir, { recursive: true });
  await rm(pidFile, { force: true });
  const proc = node.spawn(serverProgram(node, stateDir), {
    detached: true,
    logFile,
    env: { NODE_COMPILE_CACHE: DEFAULT_COMPILE_CACHE_DIR },
  });
  let exited: string | undefined;
  proc.exited.then((r) => {
    exited = `exited ${r.exitCode}`;
  });
  const budgetMs = scaled(METRICS_READY_TIMEOUT_MS);
  const deadline = performance.now() + budgetMs;
  for (;;) {
    // A place hands back the program's own pid, and the server writes its pid once it listens.
    if ((await readPidFile(pidFile)) === proc.pid) return { node: node.name, pid: proc.pid, url, logFile };
    if (exited !== undefined) {
      const tail = await logTail(logFile);
      if (tail.includes('EADDRINUSE')) {
        const holder = await portHolder(node, METRICS_PORT);
        throw new Error(
          `metrics server of ${node.name} cannot listen on ${node.ip}:${METRICS_PORT} in ${node.where}: the port is already in use${holder ? ` by ${holder}` : ''}; log ${logFile}`,
        );
      }
      throw new Error(
        `metrics server of ${node.name} in ${node.where} ${exited} before listening on ${url}; log ${logFile}:\n${tail}`,
      );
    }
    if (performance.now() > deadline) {
      await proc.stop('SIGKILL', 500).catch(() => undefined);
      throw new Error(
        `metrics server of ${node.name} in ${node.where} not listening on ${url} within ${budgetMs} ms; log ${logFile}:\n${await logTail(logFile)}`,
      );
    }
    await sleep(20);
  }
}

/** Who listens on a TCP port in the node, as `ss` there sees it: `pid 42 (node …/server-main.ts …)`. */
async function portHolder(node: NodePlace, port: number): Promise<string | undefined> {
  const r = await node.exec(['ss', '-Hltnp', `sport = :${port}`], { reject: false }).catch(() => undefined);
  const pid = Number(/pid=(\d+)/.exec(r?.stdout ?? '')?.[1]);
  if (!pid) return undefined;
  const argv = await processArgv(pid);
  return `pid ${pid}${argv.length > 0 ? ` (${argv.slice(0, 2).join(' ')}${argv.length > 2 ? ' …' : ''})` : ''}`;
}

/**
 * Stops the node's metrics server if one runs, and removes its pid file once the process is
 * gone; never throws for one already gone. Throws when the server outlives SIGKILL, keeping the
 * pid file so that it can still be found.
 */
export async function stopMetricsServer(node: Pick<NodePlace, 'name'>, stateDir: string): Promise<void> {
  const { pidFile } = metricsFiles(stateDir, node.name);
  const pid = await readPidFile(pidFile);
  if (pid !== undefined && (await isOurServer(pid, pidFile))) {
    await stopProcesses([pid], 2000);
    if (processAlive(pid) && (await isOurServer(pid, pidFile)))
      throw new Error(
        `metrics server of ${node.name} (pid ${pid}) is still running after SIGKILL; pid file ${pidFile} kept`,
      );
  }
  await rm(pidFile, { force: true });
}

/** Starts a metrics server on every node. */
export function startMetricsServers(nodes: readonly NodePlace[], stateDir: string): Promise<MetricsServer[]> {
  return Promise.all(nodes.map((n) => startMetricsServer(n, stateDir)));
}

/** Stops the metrics server of every node (each is tried, the first failure is thrown). */
export async function stopMetricsServers(
  nodes: readonly Pick<NodePlace, 'name'>[],
  stateDir: string,
): Promise<void> {
  const results = await Promise.allSettled(nodes.map((n) => stopMetricsServer(n, stateDir)));
  const failed = results.find((r) => r.status === 'rejected');
  if (failed) throw failed.reason;
}
