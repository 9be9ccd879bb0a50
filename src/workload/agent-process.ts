/**
 * Starting and stopping agents: one detached Node process per namespace, reached through the
 * unix socket it binds. Many can be started at once (Promise.all); each start is bounded.
 */
import { open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { inNetns, type Started, start } from '../sys/exec.ts';
import { pathExists as exists } from '../sys/fs.ts';
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
  /** Named network namespace (`/run/netns/NAME`) the agent lives in. */
  netns: string;
  /** What `/hostname` answers. */
  name: string;
  socketPath: string;
  /** Echo ports to serve from the start. */
  ports: readonly number[];
  /** Cgroup v2 directory the agent moves itself into before opening any socket. */
  cgroup?: string;
  /** Where the agent's output goes. */
  logFile: string;
  /** Bound on waiting for `/ready` (default {@link DEFAULT_READY_TIMEOUT_MS}). */
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

/** The argv that runs an agent in its namespace. */
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
  return inNetns(opts.netns, argv);
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

/** Starts an agent in a namespace and waits until it answers on its socket. */
export async function startAgent(opts: StartAgentOptions): Promise<AgentHandle> {
  if (Buffer.byteLength(opts.socketPath) > MAX_SOCKET_PATH) {
    throw new Error(
      `agent ${opts.name}: socket path longer than ${MAX_SOCKET_PATH} bytes: ${opts.socketPath}`,
    );
  }
  // A socket left by an earlier agent would answer (or refuse) in the new one's place.
  await rm(opts.socketPath, { force: true });
  const cache = opts.compileCacheDir ?? DEFAULT_COMPILE_CACHE_DIR;
  const proc = start(agentArgv(opts), {
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
  const timeoutMs = opts.readyTimeoutMs ?? DEFAULT_READY_TIMEOUT_MS;
  const deadline = performance.now() + timeoutMs;
  let last = 'socket never appeared';
  let wait = 5;
  for (;;) {
    if (exited !== undefined) {
      await client.close();
      throw new Error(
        `agent ${opts.name} in ${opts.netns} ${exited} before it was ready; log ${opts.logFile}:\n${await logTail(opts.logFile)}`,
      );
    }
    if (performance.now() > deadline) {
      await client.close();
      await proc.stop('SIGKILL', 500).catch(() => undefined);
      throw new Error(
        `agent ${opts.name} in ${opts.netns} not ready within ${timeoutMs} ms (${last}); log ${opts.logFile}:\n${await logTail(opts.logFile)}`,
      );
    }
    if (await exists(opts.socketPath)) {
      try {
        const ready = await client.ready(1000);
        // nsenter execs the agent, so the pid we started is the pid that answers.
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

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM means it exists but isn't ours to signal.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function gone(agent: { pid: number }, withinMs: number): Promise<boolean> {
  const deadline = performance.now() + withinMs;
  while (performance.now() < deadline) {
    if (!alive(agent.pid)) return true;
    await sleep(10);
  }
  return !alive(agent.pid);
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
    if (alive(agent.pid)) {
      await agent.client.shutdown().catch(() => undefined);
      if (!(await gone(agent, graceMs))) {
        process.kill(agent.pid, 'SIGTERM');
        if (!(await gone(agent, graceMs))) {
          process.kill(agent.pid, 'SIGKILL');
          await gone(agent, graceMs);
        }
      }
    }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
  } finally {
    await agent.client.close().catch(() => undefined);
    await rm(agent.socketPath, { force: true });
  }
}
