/**
 * Bulk transfers with iperf3 (Debian's): a one-shot server started in a pod's network, a client
 * run in an external client's, its JSON report read for the bytes and the rate that arrived.
 */
import type { Cluster } from '../../src/cluster/types.ts';
import type { CpuClock } from './cpu.ts';

/** What one transfer came to. */
export interface Transfer {
  /** `client->pod` (the client sends) or `pod->client` (`-R`: the pod sends). */
  direction: 'client->pod' | 'pod->client';
  /** Bytes the sender got through (TCP: delivered, when there is no error). */
  bytes: number;
  /** Receiver-side rate, bits per second. */
  bitsPerSecond: number;
  retransmits: number;
  /** iperf3's own complaint, when the transfer failed. */
  error?: string;
  /** CPU seconds the whole machine spent busy while the client ran, when asked for. */
  cpuSeconds?: number;
}

/** The subset of `iperf3 -J` the suites read. */
interface IperfJson {
  error?: string;
  end?: {
    sum_received?: { bytes: number; bits_per_second: number };
    sum_sent?: { bytes: number; retransmits?: number };
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Whether iperf3 can be run (it is a program of this machine, run in the places' networks). */
export async function iperfAvailable(c: Cluster, place: string): Promise<boolean> {
  const r = await c.exec(place, ['iperf3', '--version'], { reject: false }).catch(() => undefined);
  return r?.exitCode === 0;
}

/**
 * Moves `bytes` between an external client and a pod through `host:port` once, and reports it.
 * The server serves this one test and exits. Unless told not to, both ends' route caches are
 * flushed first, so the transfer discovers the path MTU afresh instead of inheriting it.
 */
export async function transfer(
  c: Cluster,
  opts: {
    client: string;
    pod: string;
    /** The port iperf3 serves on in the pod (the Service's target port). */
    serverPort: number;
    host: string;
    port: number;
    bytes: number;
    reverse: boolean;
    timeoutMs: number;
    /** Flush both ends' route caches first (default true), so the path MTU is discovered afresh. */
    flush?: boolean;
    /** Read before and after the client runs, to tell what the transfer cost the machine. */
    cpu?: CpuClock;
  },
): Promise<Transfer> {
  const direction = opts.reverse ? 'pod->client' : 'client->pod';
  if (opts.flush !== false) {
    for (const place of [opts.client, opts.pod]) await c.exec(place, ['ip', 'route', 'flush', 'cache']);
  }
  const server = c
    .place(opts.pod)
    .spawn(['iperf3', '-s', '-1', '-p', String(opts.serverPort), '--idle-timeout', '20']);
  try {
    // A client that came before the server listens would be refused.
    for (let waited = 0; ; waited += 25) {
      const ss = await c.exec(opts.pod, ['ss', '-Hltn', `sport = :${opts.serverPort}`], { reject: false });
      if (ss.stdout.trim() !== '') break;
      if (waited > 5000) throw new Error(`iperf3 server in ${opts.pod} did not start: ${server.output()}`);
      await sleep(25);
    }
    const argv = [
      'iperf3',
      '-c',
      opts.host,
      '-p',
      String(opts.port),
      '-n',
      String(opts.bytes),
      '-J',
      '--connect-timeout',
      '3000',
    ];
    const cpuBefore = await opts.cpu?.();
    const r = await c.exec(opts.client, opts.reverse ? [...argv, '-R'] : argv, {
      reject: false,
      timeoutMs: opts.timeoutMs,
    });
    const cpuAfter = await opts.cpu?.();
    let json: IperfJson = {};
    try {
      json = JSON.parse(r.stdout) as IperfJson;
    } catch {
      json = { error: `no report (exit ${r.exitCode}): ${(r.stderr || r.stdout).trim().slice(0, 200)}` };
    }
    const received = json.end?.sum_received;
    return {
      direction,
      bytes: json.end?.sum_sent?.bytes ?? 0,
      bitsPerSecond: received?.bits_per_second ?? 0,
      retransmits: json.end?.sum_sent?.retransmits ?? 0,
      ...(cpuBefore !== undefined && cpuAfter !== undefined ? { cpuSeconds: cpuAfter - cpuBefore } : {}),
      ...(json.error || r.exitCode !== 0 ? { error: json.error ?? `iperf3 exited ${r.exitCode}` } : {}),
    };
  } finally {
    await server.stop('SIGTERM', 1000).catch(() => undefined);
  }
}

/** A rate in Gbit/s, for people. */
export function gbps(bitsPerSecond: number): string {
  return `${(bitsPerSecond / 1e9).toFixed(2)} Gbit/s`;
}
