/**
 * Starting and stopping a node's metrics server: one detached Node process per node, in the
 * node's network namespace, found again through its pid file by later CLI processes.
 */
import { mkdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stateDir } from '../cluster/netns/state.ts';
import type { NodeInfo } from '../cluster/types.ts';
import type { DataplaneContext } from '../dataplane/types.ts';
import { inNetns, start } from '../sys/exec.ts';
import { DEFAULT_COMPILE_CACHE_DIR, logTail } from '../workload/agent-process.ts';
import { METRICS_PATH, METRICS_PORT } from './names.ts';
import { serverArgs } from './server-args.ts';

/** The server program. */
export const METRICS_SERVER_SCRIPT = fileURLToPath(new URL('./server-main.ts', import.meta.url));

/** Bound on waiting for a new server to listen. */
export const METRICS_READY_TIMEOUT_MS = 10_000;

/** A node's running metrics server. */
export interface MetricsServer {
  node: string;
  pid: number;
  url: string;
  logFile: string;
}

/** Where a node's server keeps its pid and log. */
export function metricsFiles(
  runId: string,
  nodeName: string,
): { dir: string; pidFile: string; logFile: string } {
  const dir = join(stateDir(runId), 'metrics');
  return { dir, pidFile: join(dir, `${nodeName}.pid`), logFile: join(dir, `${nodeName}.log`) };
}

/** The endpoint of a node's server. */
export function metricsUrl(node: Pick<NodeInfo, 'ip'>): string {
  return `http://${node.ip}:${METRICS_PORT}${METRICS_PATH}`;
}

/** The argv that runs a node's server in its namespace. */
export function metricsServerArgv(
  ctx: Pick<DataplaneContext, 'runId' | 'bpffsDir'>,
  node: NodeInfo,
): string[] {
  return inNetns(node.netns, [
    process.execPath,
    METRICS_SERVER_SCRIPT,
    ...serverArgs({
      node: node.name,
      netns: node.netns,
      bpffsDir: ctx.bpffsDir,
      host: node.ip,
      port: METRICS_PORT,
      pidFile: metricsFiles(ctx.runId, node.name).pidFile,
    }),
  ]);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** True when pid is a metrics server of this node (a pid file can outlive its process and the pid be reused). */
async function isOurServer(pid: number, nodeName: string): Promise<boolean> {
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  const argv = cmdline.split('\0');
  return argv.includes(METRICS_SERVER_SCRIPT) && argv.includes(nodeName);
}

async function readPid(pidFile: string): Promise<number | undefined> {
  const text = await readFile(pidFile, 'utf8').catch(() => '');
  const pid = Number(text.trim());
  return Number.isInteger(pid) && pid > 0 ? pid : undefined;
}

/**
 * Starts the node's metrics server (Felix's port 9091 on the node's IP) and waits until it
 * listens; a server already running for the node is kept. Needs the bpf dataplane installed.
 */
export async function startMetricsServer(ctx: DataplaneContext, node: NodeInfo): Promise<MetricsServer> {
  const { dir, pidFile, logFile } = metricsFiles(ctx.runId, node.name);
  const url = metricsUrl(node);
  const running = await readPid(pidFile);
  if (running !== undefined && (await isOurServer(running, node.name)))
    return { node: node.name, pid: running, url, logFile };
  await mkdir(dir, { recursive: true });
  await rm(pidFile, { force: true });
  const proc = start(metricsServerArgv(ctx, node), {
    detached: true,
    logFile,
    env: { NODE_COMPILE_CACHE: DEFAULT_COMPILE_CACHE_DIR },
  });
  let exited: string | undefined;
  proc.exited.then((r) => {
    exited = `exited ${r.exitCode}`;
  });
  const deadline = performance.now() + METRICS_READY_TIMEOUT_MS;
  for (;;) {
    // nsenter execs node, so the pid started is the pid the server writes.
    if ((await readPid(pidFile)) === proc.pid) return { node: node.name, pid: proc.pid, url, logFile };
    if (exited !== undefined)
      throw new Error(
        `metrics server of ${node.name} ${exited} before listening on ${url}; log ${logFile}:\n${await logTail(logFile)}`,
      );
    if (performance.now() > deadline) {
      await proc.stop('SIGKILL', 500).catch(() => undefined);
      throw new Error(
        `metrics server of ${node.name} not listening on ${url} within ${METRICS_READY_TIMEOUT_MS} ms; log ${logFile}:\n${await logTail(logFile)}`,
      );
    }
    await sleep(20);
  }
}

/** Stops the node's metrics server if one runs; never throws for one already gone. */
export async function stopMetricsServer(
  ctx: Pick<DataplaneContext, 'runId'>,
  node: Pick<NodeInfo, 'name'>,
): Promise<void> {
  const { pidFile } = metricsFiles(ctx.runId, node.name);
  const pid = await readPid(pidFile);
  if (pid !== undefined && (await isOurServer(pid, node.name))) {
    for (const [signal, waitMs] of [
      ['SIGTERM', 2000],
      ['SIGKILL', 2000],
    ] as const) {
      try {
        process.kill(pid, signal);
      } catch {
        break;
      }
      const until = performance.now() + waitMs;
      while (alive(pid) && performance.now() < until) await sleep(10);
      if (!alive(pid)) break;
    }
  }
  await rm(pidFile, { force: true });
}

/** Starts a metrics server on every node of the context. */
export function startMetricsServers(ctx: DataplaneContext): Promise<MetricsServer[]> {
  return Promise.all(ctx.nodes.map((n) => startMetricsServer(ctx, n)));
}

/** Stops the metrics server of every node of the context. */
export async function stopMetricsServers(ctx: Pick<DataplaneContext, 'runId' | 'nodes'>): Promise<void> {
  await Promise.all(ctx.nodes.map((n) => stopMetricsServer(ctx, n)));
}
