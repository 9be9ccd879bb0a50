/**
 * Two nodes of a lab with a plain VXLAN device between them (`vx0`, VNI 7, 10.250.0.1 and
 * 10.250.0.2 over the nodes' `eth0`), the echo server on b and a prober on a, and the exchanges
 * the capture tests and the pcap fixtures are made of. Everything goes with the lab.
 */
import type { NodePlace } from '../../../src/node/place.ts';
import type { AgentClient } from '../../../src/workload/agent-client.ts';
import type { ProbeResult, StreamRecord } from '../../../src/workload/types.ts';
import { type Lab, startLab } from '../lab.ts';

/** The VXLAN network identifier of `vx0`. */
export const LAB_VNI = 7;

/** The port b's echo server answers on. */
export const ECHO_PORT = 8080;

/** One node of the pair. */
export interface OverlayEnd {
  place: NodePlace;
  /** Its address on the node network (the underlay). */
  ip: string;
  /** Its address on `vx0`. */
  vxIp: string;
  /** Its agent: b's serves {@link ECHO_PORT}, a's only makes probes and exchanges. */
  agent: AgentClient;
}

/** The pair and the lab under it. */
export interface OverlayLab extends AsyncDisposable {
  lab: Lab;
  a: OverlayEnd;
  b: OverlayEnd;
  down(): Promise<void>;
}

// Outside the lab's own plan (nodes, clients, pod CIDRs), so no route of the lab competes with vx0.
const OVERLAY_IPS = ['10.250.0.1', '10.250.0.2'] as const;
const OVERLAY_PREFIX_LEN = 24;

/** Builds a two-node lab, the VXLAN device on each node and the agents. */
export async function startOverlayLab(): Promise<OverlayLab> {
  const lab = await startLab({ nodes: 2, clients: 1, pods: [] });
  try {
    const [na, nb] = lab.nodes as [NodePlace, NodePlace];
    for (const [self, peer, vxIp] of [
      [na, nb, OVERLAY_IPS[0]],
      [nb, na, OVERLAY_IPS[1]],
    ] as const) {
      await self.exec([
        'ip',
        'link',
        'add',
        'vx0',
        'type',
        'vxlan',
        'id',
        String(LAB_VNI),
        'local',
        self.ip,
        'remote',
        peer.ip,
        'dstport',
        '4789',
        'dev',
        self.iface,
      ]);
      await self.exec(['ip', 'addr', 'add', `${vxIp}/${OVERLAY_PREFIX_LEN}`, 'dev', 'vx0']);
      await self.exec(['ip', 'link', 'set', 'vx0', 'up']);
    }
    const [agentA, agentB] = await Promise.all([lab.agent(na, []), lab.agent(nb, [ECHO_PORT])]);
    return {
      lab,
      a: { place: na, ip: na.ip, vxIp: OVERLAY_IPS[0], agent: agentA },
      b: { place: nb, ip: nb.ip, vxIp: OVERLAY_IPS[1], agent: agentB },
      down: () => lab.down(),
      [Symbol.asyncDispose]: () => lab.down(),
    };
  } catch (err) {
    await lab.down();
    throw err;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function waitFor<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const until = performance.now() + timeoutMs;
  for (;;) {
    const value = await get();
    if (value !== undefined) return value;
    if (performance.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}

/**
 * One TCP exchange from `from` to the echo server at host:port, from a fixed source port:
 * handshake, one HTTP request, its answer, then the client closes and the server follows (ten
 * packets, none of them merged). Resolves once the client's socket is in TIME_WAIT, that is once
 * the last packet of the exchange is on the wire; returns what the connection carried.
 */
export async function tcpExchange(
  from: OverlayEnd,
  host: string,
  port: number,
  sourcePort: number,
): Promise<StreamRecord> {
  const id = `exchange-${sourcePort}`;
  // A stream sends its first request as soon as it has connected, and no other before the interval.
  await from.agent.streamStart({
    id,
    host,
    port,
    sourcePort,
    path: '/hostname',
    intervalMs: 600_000,
    requestTimeoutMs: 5_000,
    maxDurationMs: 60_000,
  });
  let record: StreamRecord;
  try {
    await waitFor(`the answer to ${id}`, async () => {
      const r = await from.agent.streamGet(id);
      return r.ok + r.failed > 0 || !r.running ? r : undefined;
    });
  } finally {
    record = await from.agent.streamStop(id);
  }
  if (record.ok !== 1)
    throw new Error(`exchange ${id} to ${host}:${port} failed: ${record.lastError ?? '?'}`);
  // The client closed first, so its side lingers in TIME_WAIT once the server's FIN is in and acked.
  const filter = ['(', 'sport', '=', `:${sourcePort}`, 'and', 'dst', host, ')'];
  await waitFor(`the close of ${id}`, async () => {
    const r = await from.place.exec(['ss', '-Htn', 'state', 'time-wait', ...filter]);
    return r.stdout.trim() === '' ? undefined : true;
  });
  return record;
}

/** Sends one UDP datagram from a fixed source port; the result says `refused` when an ICMP port unreachable came back. */
export function udpSend(
  from: OverlayEnd,
  host: string,
  port: number,
  sourcePort: number,
  text: string,
): Promise<ProbeResult> {
  return from.agent.probe({ kind: 'udp', host, port, sourcePort, payload: text, timeoutMs: 2000 });
}
