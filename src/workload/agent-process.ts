/**
 * Starting and stopping agents: one detached Node process per place (node, pod or client),
 * reached through the unix socket it binds. Many can be started at once (Promise.all); each
 * start is bounded.
 */
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Place } from '../node/place.ts';
import type { Started } from '../sys/exec.ts';
import { pathExists as exists } from '../sys/fs.ts';
import { processAlive, stopProcesses, waitGone } from '../sys/process.ts';
import { scaled } from '../sys/time-scale.ts';
import { AgentClient } from './agent-client.ts';

/** The agent program. */
export const AGENT_SCRIPT = fileURLToPath(new URL('./agent.ts', import.meta.url));

/** Longest path a unix socket address can hold on Linux (sun_path less its NUL). */
export const MAX_SOCKET_PATH = 107;

/** Default bound on waiting for a new agent to answer `/ready`. */
export const DEFAULT_READY_TIMEOUT_MS = 10_000;

/**
 * Node's compile cache keeps the type-stripped and compiled agent modules between starts, which
 * halves an agent's start-up (and most of what is left is Node itself).
 */
export const DEFAULT_COMPILE_CACHE_DIR = join(tmpdir(), 'dpconform-compile-cache');

/** How to start one agent. */
export interface StartAgentOptions {
  /** Where the agent lives: it serves and probes from this place's network. */
  place: Place;
  /** What `/hostname` answers. */
  name: string;
  socketPath: string;
  /** Echo ports to serve from the start. */
  ports: readonly number[];
  /** Cgroup v2 directory the agent moves itself into before opening any socket. */
  cgroup?: string;
  /** Where the agent's output goes. */
  logFile: string;
  /** Bound on waiting for `/ready` (default {@link DEFAULT_READY_TIMEOUT_MS}, times the time scale). */
  readyTimeoutMs?: number;
  /** Node binary (default: the one running the harness). */
  nodePath?: string;
  /** Compile cache directory, or false for none (default {@link DEFAULT_COMPILE_CACHE_DIR}). */
  compileCacheDir?: string | false;
}

/** A running agent. */
export interface AgentHandle {
  name: string;
  pid: number;
  socketPath: string;
  logFile: string;
  client: AgentClient;
  /** The process as started here (absent for an agent found again by pid and socket). */
  process?: Started;
}

/** The agent's own argv (Node, the script, its flags); the place adds whatever enters it. */
export function agentArgv(opts: StartAgentOptions): string[] {
  const argv = [
    opts.nodePath ?? process.execPath,
    AGENT_SCRIPT,
    '--socket',
    opts.socketPath,
    '--name',
    opts.name,
    '--listen',
    opts.ports.join(','),
  ];
  if (opts.cgroup !== undefined) argv.push('--cgroup', opts.cgroup);
  return argv;
}

/** The last `bytes` of a file, or a note that it can't be read. */
export async function logTail(path: string, bytes = 2000): Promise<string> {
  try {
    const fh = await open(path, 'r');
    try {
      const { size } = await fh.stat();
      const from = Math.max(0, size - bytes);
      const buf = Buffer.alloc(size - from);
      await fh.read(buf, 0, buf.length, from);
      return buf.toString('utf8').trim();
    } finally {
      await fh.close();
    }
  } catch (err) {
    return `(no log: ${(err as Error).message})`;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Starts an agent in its place and waits until it answers on its socket. */
export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  if (Buffer.byteLength(opts.socketPath) > MAX_SOCKET_PATH) {
    throw new Error(
      `agent ${opts.name}: socket path longer than ${MAX_SOCKET_PATH} bytes: ${opts.socketPath}`,
    );
  }
  // A socket left by an earlier agent would answer (or refuse) in the new one's place.
  await rm(opts.socketPath, { force: true });
  const cache = opts.compileCacheDir ?? DEFAULT_COMPILE_CACHE_DIR;
  const proc = opts.place.spawn(agentArgv(opts), {
    detached: true,
    logFile: opts.logFile,
    ...(cache === false ? {} : { env: { NODE_COMPILE_CACHE: cache } }),
  });
  let exited: string | undefined;
  proc.exited.then(
    (r) => {
      exited = `exited ${r.exitCode}`;
    },
    (e: unknown) => {
      exited = `failed: ${String(e)}`;
    },
  );
  const client = new AgentClient(opts.socketPath, { name: opts.name });
  const timeoutMs = opts.readyTimeoutMs ?? scaled(DEFAULT_READY_TIMEOUT_MS);
  const deadline = performance.now() + timeoutMs;
  let last = 'socket never appeared';
  let wait = 5;
  for (;;) {
    if (exited !== undefined) {
      await client.close();
      throw new Error(
        `agent ${opts.name} in ${opts.place.where} ${exited} before it was ready; log ${opts.logFile}:\n${await logTail(opts.logFile)}`,
      );
    }
    if (performance.now() > deadline) {
      await client.close();
      await proc.stop('SIGKILL', 500).catch(() => undefined);
      throw new Error(
        `agent ${opts.name} in ${opts.place.where} not ready within ${timeoutMs} ms (${last}); log ${opts.logFile}:\n${await logTail(opts.logFile)}`,
      );
    }
    if (await exists(opts.socketPath)) {
      try {
        const ready = await client.ready(1000);
        // A place hands back the program's own pid (whatever enters the place execs it), so an
        // answer from any other pid comes from an older agent still holding the socket.
        if (ready.pid === proc.pid)
          return {
            name: opts.name,
            pid: proc.pid,
            socketPath: opts.socketPath,
            logFile: opts.logFile,
            client,
            process: proc,
          };
        last = `socket answered for pid ${ready.pid}, not ${proc.pid}`;
      } catch (err) {
        last = (err as Error).message;
      }
    }
    await sleep(wait);
    wait = Math.min(wait * 2, 20);
  }
}

/**
 * Stops an agent: asks it to shut down, then SIGTERM, then SIGKILL, each bounded; removes its
 * socket and closes the client. Never throws for an agent that is already gone.
 */
export async function stopAgent(
  agent: Pick<AgentHandle, 'pid' | 'socketPath' | 'client'> & { process?: Started },
  graceMs = 2000,
): Promise<void> {
  try {
    if (processAlive(agent.pid)) {
      await agent.client.shutdown().catch(() => undefined);
      if (!(await waitGone(agent.pid, graceMs))) await stopProcesses([agent.pid], graceMs);
    }
  } finally {
    await agent.client.close().catch(() => undefined);
    await rm(agent.socketPath, { force: true });
  }
}
