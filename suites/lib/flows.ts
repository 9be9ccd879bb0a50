/**
 * Connections as the kernel sees them: how many new flows a node balanced (the eBPF dataplane's
 * "new connections" counter), which records it holds for one flow, and streams watched until
 * they have sent enough.
 */
import { type Cluster, REASON_NEW_CONN } from '../../src/cluster/types.ts';

/** A node's data interface: where external clients' packets arrive. */
const DATA_IFACE = 'eth0';

import {
  ConformanceFailure,
  counterEvidence,
  type EvidenceTarget,
  recordEvidence,
} from '../../src/report/evidence.ts';
import type { StreamRecord } from '../../src/workload/types.ts';
import { type FlowKey, type Translation, translations } from './served-by.ts';

/**
 * Flows a node's eBPF dataplane balanced so far on one interface ("new connections"; by default
 * the data interface, where external clients' flows enter, so that pods started on the node or
 * the node's own probes do not count); undefined in iptables mode.
 */
export async function newConnections(
  c: Cluster,
  node: string,
  iface = DATA_IFACE,
): Promise<number | undefined> {
  const bpf = c.bpf();
  if (!bpf) return undefined;
  let n = 0;
  for (const r of await bpf.counters(node)) {
    if (r.reason === REASON_NEW_CONN && r.iface === iface) n += Number(r.packets);
  }
  return n;
}

/** The records one node's kernel holds for one flow (forward conntrack entries). */
export async function flowRecords(c: Cluster, node: string, flow: FlowKey): Promise<Translation[]> {
  return ((await translations(c, [flow])).get(flow) ?? []).filter((t) => t.node === node);
}

/** A stream's record once `done` holds, or when `ms` has passed. */
export async function waitStream(
  c: Cluster,
  from: string,
  id: string,
  done: (r: StreamRecord) => boolean,
  ms: number,
): Promise<StreamRecord> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await c.streamGet(from, id);
    if (done(r) || Date.now() > until) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** One line about a stream, for evidence and failures. */
export function describeStream(r: StreamRecord): string {
  return `${r.target} from port ${r.localPort ?? '?'}: sent ${r.sent}, ok ${r.ok}, failed ${r.failed}, connections ${r.connections}, lost ${r.connectionsLost}, backends ${r.bodies.map((b) => b.slice(0, 40)).join('/') || 'none'}${r.firstError ? `, first error ${r.firstError}` : ''}`;
}

/** A connection under watch: where it entered, its flow, the backend it reached, the count before it. */
export interface WatchedFlow {
  entry: string;
  flow: FlowKey;
  backend: { name: string; ip: string; port: number };
  /** "new connections" on the entry node before the connection opened (eBPF only). */
  countedBefore: number | undefined;
}

/**
 * Requires the connection to be one flow in the entry node's kernel: "new connections" up by one
 * since it opened (eBPF), and one conntrack entry for it, translated to its backend.
 */
export async function expectOneFlow(
  ctx: EvidenceTarget,
  c: Cluster,
  w: WatchedFlow,
  sent: number,
  when: string,
): Promise<void> {
  const counted = await newConnections(c, w.entry);
  const records = await flowRecords(c, w.entry, w.flow);
  recordEvidence(ctx, {
    kind: 'text',
    label: `the flow in ${w.entry}'s kernel ${when}`,
    text: records.map((r) => r.text).join('\n') || 'none',
  });
  if (w.countedBefore !== undefined && counted !== undefined) {
    recordEvidence(
      ctx,
      counterEvidence(`new connections (${when})`, w.countedBefore, counted, {
        where: `${w.entry} (${DATA_IFACE})`,
      }),
    );
    if (counted - w.countedBefore !== 1) {
      throw new ConformanceFailure(`${sent} requests on one connection were not one flow (${when})`, {
        expected: '"new connections" +1 on the entry node for the whole connection',
        seen: `+${counted - w.countedBefore} (${w.countedBefore} -> ${counted})`,
        where: `${w.entry}: dpconform bpf counters dump --node ${w.entry}`,
      });
    }
  }
  const f = w.flow;
  if (records.length !== 1 || records[0]!.ip !== w.backend.ip || records[0]!.port !== w.backend.port) {
    throw new ConformanceFailure(`the connection is not one conntrack entry on its backend (${when})`, {
      expected: `one entry ${f.clientIp}:${f.clientPort} -> ${f.frontendIp}:${f.frontendPort} translated to ${w.backend.ip}:${w.backend.port} (${w.backend.name})`,
      seen: records.map((r) => r.text).join('; ') || 'no entry',
      where: `${w.entry}: ${c.bpf() ? 'dpconform bpf conntrack dump' : 'conntrack -L'}`,
    });
  }
}

/** A keep-alive connection opened from a client to a node's port, once it has carried requests. */
export interface KeepAlive {
  /** "new connections" on the entry node just before it opened (eBPF only). */
  countedBefore: number | undefined;
  record: StreamRecord;
}

/**
 * Opens a keep-alive stream `id` from `client` to `entry`'s `port` and waits until `requests`
 * were answered (or one failed), up to 5 s.
 */
export async function openKeepAlive(
  c: Cluster,
  opts: {
    client: string;
    entry: { name: string; ip: string };
    port: number;
    id: string;
    requests: number;
    maxDurationMs: number;
  },
): Promise<KeepAlive> {
  const countedBefore = await newConnections(c, opts.entry.name);
  await c.streamStart(opts.client, {
    id: opts.id,
    host: opts.entry.ip,
    port: opts.port,
    intervalMs: 50,
    requestTimeoutMs: 1000,
    maxDurationMs: opts.maxDurationMs,
  });
  const record = await waitStream(
    c,
    opts.client,
    opts.id,
    (r) => r.ok >= opts.requests || r.failed > 0,
    5000,
  );
  return { countedBefore, record };
}

/** The flow a keep-alive connection is in the entry node's kernel, with the backend it reached. */
export function watchedFlow(
  client: { ip: string },
  entry: { name: string; ip: string },
  port: number,
  k: KeepAlive,
  backend: WatchedFlow['backend'],
): WatchedFlow {
  return {
    entry: entry.name,
    flow: {
      protocol: 'TCP',
      clientIp: client.ip,
      clientPort: k.record.localPort!,
      frontendIp: entry.ip,
      frontendPort: port,
    },
    backend,
    countedBefore: k.countedBefore,
  };
}
