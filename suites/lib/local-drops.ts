/**
 * externalTrafficPolicy Local traffic that reaches a node without an endpoint of the Service is
 * dropped there and counted: by the eBPF dataplane under "dropped: no local endpoint", by the
 * iptables dataplane on the filter rule that drops it. Read from the node's kernel, before and
 * after the probes, so that the count can be held to the packets the client sent.
 */
import { type Cluster, REASON_NO_LOCAL_EP } from '../../src/cluster/types.ts';
import { describePackets, withCaptures } from '../../src/observe/index.ts';
import {
  ConformanceFailure,
  counterEvidence,
  type EvidenceTarget,
  echoEvidence,
  recordEvidence,
} from '../../src/report/evidence.ts';
import type { ProbeRequest } from '../../src/workload/types.ts';

/** Which packets to count: those to a NodePort on any node address, or to a VIP's port. */
export interface LocalDropTarget {
  protocol: 'TCP' | 'UDP';
  /** The VIP or external IP; absent for a NodePort. */
  ip?: string;
  port: number;
}

/** The counter read, and where a person finds it. */
export interface LocalDrops {
  packets: number;
  where: string;
}

/**
 * One `iptables-save -c` rule that drops the target's packets in the filter table's
 * KUBE-EXTERNAL-SERVICES chain; its packet count.
 */
export function iptablesDropCount(save: string, t: LocalDropTarget): number {
  let sum = 0;
  for (const line of save.split('\n')) {
    const m = /^\[(\d+):\d+\] -A KUBE-EXTERNAL-SERVICES (.*) -j DROP$/.exec(line.trim());
    if (!m) continue;
    const rule = m[2]!;
    if (!new RegExp(`(^| )-p ${t.protocol.toLowerCase()}( |$)`).test(rule)) continue;
    if (!new RegExp(`--dport ${t.port}( |$)`).test(rule)) continue;
    const dst = /(?:^| )-d (\S+)/.exec(rule)?.[1];
    if (t.ip === undefined ? dst !== undefined : dst !== `${t.ip}/32`) continue;
    sum += Number(m[1]);
  }
  return sum;
}

/** Packets a node dropped as traffic for a Local Service without an endpoint there. */
export async function readLocalDrops(c: Cluster, node: string, t: LocalDropTarget): Promise<LocalDrops> {
  const bpf = c.bpf();
  if (bpf) {
    let packets = 0;
    for (const r of await bpf.counters(node))
      if (r.reason === REASON_NO_LOCAL_EP) packets += Number(r.packets);
    return {
      packets,
      where: `${node}: "${REASON_NO_LOCAL_EP}" (dpconform bpf counters dump --node ${node})`,
    };
  }
  const r = await c.exec(node, ['iptables-save', '-c', '-t', 'filter']);
  return {
    packets: iptablesDropCount(r.stdout, t),
    where: `${node}: DROP rule for ${t.ip ?? '<node>'}:${t.port}/${t.protocol} in KUBE-EXTERNAL-SERVICES (iptables-save -c -t filter)`,
  };
}

/** Probes sent at a node without an endpoint. */
export const LOCAL_DROP_PROBES = 3;
const LOCAL_DROP_PROBE_MS = 700;

/**
 * Requires `LOCAL_DROP_PROBES` connections from `from` to `req` through `node` to time out
 * (dropped: never refused, reset or answered) and the node's count of such drops to rise by
 * exactly that many.
 */
export async function expectDroppedLocally(
  ctx: EvidenceTarget,
  c: Cluster,
  from: string,
  node: string,
  req: ProbeRequest,
  target: LocalDropTarget,
  where: string,
): Promise<void> {
  // What the counter must match is what was sent: a probe the timing lets retransmit its SYN
  // sends two packets, and each is a drop to count.
  const client = c.topology().clients.find((x) => x.name === from);
  const iface = client?.iface ?? 'eth0';
  const proto = target.protocol.toLowerCase();
  const sentFilter = `${proto} and dst host ${req.host} and dst port ${req.port}${proto === 'tcp' ? ' and tcp[tcpflags] & tcp-syn != 0' : ''}`;
  const before = await readLocalDrops(c, node, target);
  const run = await withCaptures({ sent: c.captureSpec(from, iface, sentFilter) }, () =>
    c.probes(
      from,
      Array.from({ length: LOCAL_DROP_PROBES }, () => ({
        ...req,
        timeoutMs: LOCAL_DROP_PROBE_MS,
        fixedTimeout: true,
      })),
      LOCAL_DROP_PROBES,
    ),
  );
  const after = await readLocalDrops(c, node, target);
  const results = run.result;
  const sent = run.packets.sent.length;
  recordEvidence(ctx, {
    kind: 'packet',
    where: `${from} ${iface}`,
    filter: sentFilter,
    packets: describePackets(run.packets.sent, 12).split('\n'),
    label: `${sent} packets sent to ${req.host}:${req.port}`,
  });
  for (const r of results) recordEvidence(ctx, echoEvidence(from, r));
  recordEvidence(
    ctx,
    counterEvidence('dropped: no local endpoint', before.packets, after.packets, { where: after.where }),
  );
  const notDropped = results.filter((r) => r.ok || r.error !== 'timeout');
  if (notDropped.length > 0) {
    throw new ConformanceFailure(
      `${where}: traffic for a Local Service without an endpoint here was not dropped`,
      {
        expected: `${LOCAL_DROP_PROBES} connections dropped (timeout), none refused, reset or answered`,
        seen: notDropped
          .map((r) =>
            r.ok
              ? `answered "${(r.body ?? '').trim().slice(0, 40)}"`
              : `${r.error} (${r.errorMessage ?? ''})`,
          )
          .join('; '),
        where,
      },
    );
  }
  if (sent < LOCAL_DROP_PROBES) {
    throw new Error(
      `${from} ${iface}: the capture shows ${sent} packets sent for ${LOCAL_DROP_PROBES} probes`,
    );
  }
  if (after.packets - before.packets !== sent) {
    throw new ConformanceFailure(`${where}: the drops were not counted one for one under their reason`, {
      expected: `+${sent} (one per packet the client sent: ${LOCAL_DROP_PROBES} probes)`,
      seen: `+${after.packets - before.packets} (${before.packets} -> ${after.packets})`,
      where: after.where,
    });
  }
}
