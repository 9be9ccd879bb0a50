/**
 * Request/response exchanges timed by the project's compiled tcp-rr program: its server in a
 * pod's network, its client in an external client's. Both are programs of this machine started
 * in the places' networks, so they need nothing installed in the places themselves.
 */
import type { Cluster } from '../../src/cluster/types.ts';
import {
  parseTcpRr,
  TCP_RR_LISTENING,
  type TcpRrMode,
  type TcpRrRun,
  tcpRrClientArgv,
  tcpRrProgram,
  tcpRrServerArgv,
} from '../../src/perf/tcp-rr.ts';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Where the exchanges go, and how many and how long the client runs are. */
export interface ExchangePlan {
  client: string;
  /** The pod the server runs in (`namespace/name`) and the port it serves on there. */
  pod: string;
  serverPort: number;
  /** What the client connects to (a frontend of the pod's Service). */
  host: string;
  port: number;
  /** Client runs of each kind, alternating: kept-alive, then a connection per exchange. */
  runs: number;
  seconds: number;
}

/** The client runs of each kind, in the order they ran. */
export interface ExchangeRuns {
  rr: TcpRrRun[];
  crr: TcpRrRun[];
}

/**
 * Starts the server in the pod, runs the client once untimed and then `runs` times in each mode,
 * and stops the server.
 */
export async function exchanges(c: Cluster, plan: ExchangePlan): Promise<ExchangeRuns> {
  const program = await tcpRrProgram();
  const server = c.place(plan.pod).spawn(tcpRrServerArgv(program, plan.serverPort));
  try {
    // A client that came before the server listens would be refused.
    let exited = false;
    void server.exited.then(() => {
      exited = true;
    });
    for (let waited = 0; !server.output().includes(TCP_RR_LISTENING); waited += 20) {
      if (exited || waited > 5000)
        throw new Error(`tcp-rr server in ${plan.pod} did not start: ${(await server.stop()).stderr.trim()}`);
      await sleep(20);
    }
    // Not counted: the first run after a quiet spell finds no flow state left by the ones before
    // it (conntrack entries, neighbours), which every later run does, and a sustained load keeps.
    await clientRun(c, program, 'crr', plan);
    const out: ExchangeRuns = { rr: [], crr: [] };
    for (let i = 0; i < plan.runs; i++) {
      for (const mode of ['rr', 'crr'] as const) out[mode].push(await clientRun(c, program, mode, plan));
    }
    return out;
  } finally {
    await server.stop('SIGTERM', 1000).catch(() => undefined);
  }
}

async function clientRun(
  c: Cluster,
  program: string,
  mode: TcpRrMode,
  plan: ExchangePlan,
): Promise<TcpRrRun> {
  const client = c
    .place(plan.client)
    .spawn(tcpRrClientArgv(program, { mode, host: plan.host, port: plan.port, seconds: plan.seconds }));
  // Each step of an exchange gives up after two seconds: a client still running well past its
  // time is stuck, not slow.
  const stuck = setTimeout(() => void client.stop('SIGKILL'), (plan.seconds + 15) * 1000);
  try {
    const r = await client.exited;
    const run = parseTcpRr(r.stdout);
    if (run.exchanges === 0) {
      throw new Error(
        `tcp-rr ${mode} from ${plan.client} to ${plan.host}:${plan.port} completed no exchange: ${run.error ?? r.stderr.trim()}`,
      );
    }
    return run;
  } finally {
    clearTimeout(stuck);
  }
}
