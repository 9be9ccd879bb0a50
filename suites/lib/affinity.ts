/**
 * sessionAffinity ClientIP: each client's connections stick to one endpoint, clients are
 * balanced independently, and (eBPF) the stickiness is an entry per client in the kernel's
 * affinity map, naming the endpoint that answered, in a map sized by bpfMapSizeNATAffinity.
 */
import { type Cluster, MAP } from '../../src/cluster/types.ts';
import type { ServicePortState, ServiceState } from '../../src/k8s/model.ts';
import { ConformanceFailure, type EvidenceTarget, recordEvidence } from '../../src/report/evidence.ts';
import type { ProbeRequest } from '../../src/workload/types.ts';
import {
  type Answered,
  expectServedBy,
  type PortEndpoint,
  placeIp,
  portEndpoints,
  probeAnswered,
} from './served-by.ts';

/** Connections each client opens to show it sticks. */
export const STICKY_CONNECTIONS = 10;

/**
 * Requires each client's {@link STICKY_CONNECTIONS} new connections to `req` to be answered by
 * one endpoint of the Service port; returns the endpoint of each client (by its address).
 */
export async function expectSticky(
  ctx: EvidenceTarget,
  c: Cluster,
  svc: ServiceState,
  port: ServicePortState,
  clients: readonly string[],
  req: ProbeRequest,
  where: string,
): Promise<Map<string, PortEndpoint>> {
  const out = new Map<string, PortEndpoint>();
  for (const from of clients) {
    const answers: Answered[] = [];
    for (let i = 0; i < STICKY_CONNECTIONS; i++)
      answers.push(await probeAnswered(ctx, c, from, req, `${where} from ${from}`));
    await expectServedBy(ctx, c, svc, port, answers);
    const pods = [...new Set(answers.map((a) => (a.result.body ?? '').trim()))];
    recordEvidence(ctx, {
      kind: 'text',
      label: `${from}: ${STICKY_CONNECTIONS} new connections`,
      text: `answered by ${pods.join(', ')}`,
    });
    if (pods.length !== 1) {
      throw new ConformanceFailure(
        `${from}'s connections did not stick to one endpoint (sessionAffinity ClientIP)`,
        {
          expected: `${STICKY_CONNECTIONS} connections answered by one endpoint`,
          seen: `answered by ${pods.join(', ')}`,
          where: `${where} from ${from}`,
        },
      );
    }
    out.set(placeIp(c, from), portEndpoints(c, svc, port).find((e) => e.pod === pods[0])!);
  }
  return out;
}

/** The frontend a client's packets were balanced at: an address (`0.0.0.0` for a NodePort) and port. */
export interface FrontendRef {
  addr: string;
  port: number;
  protocol: 'TCP' | 'UDP';
}

/**
 * eBPF only: the node that balanced the clients holds, for the Service's frontend, one affinity
 * entry per client naming the endpoint that answered it, in a map whose size is
 * bpfMapSizeNATAffinity, within it.
 */
export async function expectAffinityEntries(
  ctx: EvidenceTarget,
  c: Cluster,
  node: string,
  frontend: FrontendRef,
  stuck: ReadonlyMap<string, PortEndpoint>,
): Promise<void> {
  const bpf = c.bpf();
  if (!bpf) return;
  const where = `${node}: dpconform bpf nat dump / bpftool map dump of ${MAP.natAffinity}`;
  const fe = (await bpf.frontends(node)).find(
    (e) => e.key.addr === frontend.addr && e.key.port === frontend.port && e.key.proto === frontend.protocol,
  );
  if (!fe) throw new Error(`${node} has no frontend ${frontend.addr}:${frontend.port}/${frontend.protocol}`);
  const svcId = fe.value.svcId;
  const entries = (await bpf.affinity(node)).filter((e) => e.key.svcId === svcId);
  const backends = await bpf.backends(node);
  const usage = (await bpf.mapUsage(node)).find((m) => m.name === MAP.natAffinity);
  const size = c.settings().settings.bpfMapSizeNATAffinity;
  const named = entries.map((e) => {
    const be = backends.find((b) => b.key.svcId === svcId && b.key.ordinal === e.value.ordinal);
    return { client: e.key.client, ordinal: e.value.ordinal, backend: be?.value.addr ?? '?' };
  });
  recordEvidence(ctx, {
    kind: 'text',
    label: `${MAP.natAffinity} on ${node}, service id ${svcId} (${frontend.addr}:${frontend.port})`,
    text: `${named.map((n) => `client ${n.client} -> ordinal ${n.ordinal} (${n.backend})`).join('\n') || 'no entry'}\n${usage?.entries ?? '?'} entries, max_entries ${usage?.maxEntries ?? '?'} (bpfMapSizeNATAffinity ${size})`,
  });
  for (const [client, ep] of stuck) {
    const mine = named.filter((n) => n.client === client);
    if (mine.length !== 1 || mine[0]!.backend !== ep.ip) {
      throw new ConformanceFailure(
        `the kernel holds no affinity entry of ${client} naming the endpoint it sticks to`,
        {
          expected: `one entry (service id ${svcId}, client ${client}) -> the ordinal of ${ep.pod} ${ep.ip}`,
          seen:
            mine.map((n) => `ordinal ${n.ordinal} (${n.backend})`).join('; ') ||
            `entries for ${named.map((n) => n.client).join(', ') || 'no client'}`,
          where,
        },
      );
    }
  }
  if (!usage || usage.maxEntries !== size || usage.entries > usage.maxEntries) {
    throw new ConformanceFailure(`${MAP.natAffinity} is not bounded by bpfMapSizeNATAffinity`, {
      expected: `max_entries ${size}, entries within it`,
      seen: usage ? `max_entries ${usage.maxEntries}, ${usage.entries} entries` : 'no such map',
      where,
    });
  }
}
