/**
 * "Answered" is not enough: an answer must come from an endpoint of the Service that was asked,
 * on that Service port's target port. The echo server names the pod (`/hostname`); the kernel's
 * connection tracking on the nodes names the address and port the flow was translated to (the
 * eBPF dataplane's `dpc_ct`, or netfilter's conntrack in iptables mode).
 */
import type { Cluster } from '../../src/cluster/types.ts';
import type { ServicePortState, ServiceState } from '../../src/k8s/model.ts';
import {
  ConformanceFailure,
  type EvidenceTarget,
  echoEvidence,
  recordEvidence,
} from '../../src/report/evidence.ts';
import type { ProbeRequest, ProbeResult } from '../../src/workload/types.ts';

/** One backend of a Service port: the pod, its address and the target port it serves that port on. */
export interface PortEndpoint {
  pod: string;
  node: string;
  ip: string;
  port: number;
}

/** The ready endpoints of one port of a Service (the first port unless named), as the model has them. */
export function portEndpoints(c: Cluster, svc: ServiceState, port: ServicePortState): PortEndpoint[] {
  const eps = c.model().endpoints.find((e) => e.namespace === svc.namespace && e.serviceName === svc.name);
  return (eps?.ports ?? [])
    .filter((p) => p.portName === (port.name ?? '') && p.protocol === port.protocol)
    .flatMap((p) =>
      p.endpoints
        .filter((e) => e.ready)
        .map((e) => ({ pod: e.podName, node: e.nodeName, ip: e.ip, port: p.port })),
    );
}

/** A Service port by name (the first port without one). */
export function servicePort(svc: ServiceState, name?: string): ServicePortState {
  const p = name === undefined ? svc.ports[0] : svc.ports.find((x) => x.name === name);
  if (!p) throw new Error(`service ${svc.namespace}/${svc.name} has no port${name ? ` named ${name}` : ''}`);
  return p;
}

/** Where one flow was translated to, as one node's kernel records it. */
export interface Translation {
  node: string;
  ip: string;
  port: number;
  /** How recent the record is, comparable between records of the same kind only. */
  recency: number;
  /** The record, as the kernel shows it, for evidence. */
  text: string;
}

/** A flow by its client side and the address it was sent to. */
export interface FlowKey {
  protocol: 'TCP' | 'UDP';
  clientIp: string;
  clientPort: number;
  frontendIp?: string;
  frontendPort: number;
}

/** One `conntrack -L` line: the original and reply directions, and the seconds left. */
export interface NetfilterEntry {
  protocol: string;
  timeout: number;
  orig: { src: string; dst: string; sport: number; dport: number };
  reply: { src: string; dst: string; sport: number; dport: number };
  line: string;
}

/** Parses `conntrack -L` output (the first src/dst/sport/dport group is the original direction). */
export function parseConntrack(text: string): NetfilterEntry[] {
  const out: NetfilterEntry[] = [];
  for (const line of text.split('\n')) {
    const words = line.trim().split(/\s+/);
    if (words.length < 4 || !/^(tcp|udp)$/.test(words[0] ?? '')) continue;
    const pairs = words.filter((w) => w.includes('=')).map((w) => w.split('=') as [string, string]);
    const group = (n: number) => {
      const pick = (k: string) => pairs.filter(([key]) => key === k)[n]?.[1];
      return {
        src: pick('src') ?? '',
        dst: pick('dst') ?? '',
        sport: Number(pick('sport') ?? Number.NaN),
        dport: Number(pick('dport') ?? Number.NaN),
      };
    };
    out.push({
      protocol: words[0]!.toUpperCase(),
      timeout: Number(words[2]),
      orig: group(0),
      reply: group(1),
      line: line.trim(),
    });
  }
  return out;
}

/** Every node's record of where the flows were sent, newest kind of record per node. */
export async function translations(
  c: Cluster,
  flows: readonly FlowKey[],
): Promise<Map<FlowKey, Translation[]>> {
  const out = new Map<FlowKey, Translation[]>(flows.map((f) => [f, []]));
  const bpf = c.bpf();
  await Promise.all(
    c.topology().nodes.map(async (node) => {
      if (bpf) {
        const entries = await bpf.conntrack(node.name);
        for (const f of flows) {
          for (const e of entries) {
            const k = e.key;
            if (e.value.type !== 'fwd' || k.proto !== f.protocol) continue;
            if (k.saddr !== f.clientIp || k.sport !== f.clientPort || k.dport !== f.frontendPort) continue;
            if (f.frontendIp !== undefined && k.daddr !== f.frontendIp) continue;
            out.get(f)!.push({
              node: node.name,
              ip: e.value.natIp,
              port: e.value.natPort,
              recency: Number(e.value.lastSeenNs),
              text: `${node.name} dpc_ct ${k.saddr}:${k.sport} -> ${k.daddr}:${k.dport}/${k.proto} fwd to ${e.value.natIp}:${e.value.natPort}`,
            });
          }
        }
        return;
      }
      const r = await c.exec(node.name, ['conntrack', '-L'], { reject: false });
      const entries = parseConntrack(r.stdout);
      for (const f of flows) {
        for (const e of entries) {
          if (e.protocol !== f.protocol || e.orig.src !== f.clientIp || e.orig.sport !== f.clientPort)
            continue;
          if (e.orig.dport !== f.frontendPort) continue;
          if (f.frontendIp !== undefined && e.orig.dst !== f.frontendIp) continue;
          out.get(f)!.push({
            node: node.name,
            ip: e.reply.src,
            port: e.reply.sport,
            recency: e.timeout,
            text: `${node.name} conntrack ${e.line}`,
          });
        }
      }
    }),
  );
  return out;
}

/** The address a node, pod or client probes from. */
export function placeIp(c: Cluster, name: string): string {
  const t = c.topology();
  const hit =
    t.nodes.find((n) => n.name === name)?.ip ??
    t.clients.find((x) => x.name === name)?.ip ??
    t.pods.find((p) => `${p.namespace}/${p.name}` === name || p.name === name)?.ip;
  if (!hit) throw new Error(`no node, client or pod named ${name}`);
  return hit;
}

/** One answered probe to check. */
export interface Answered {
  from: string;
  req: ProbeRequest;
  result: ProbeResult;
  where: string;
}

/** Probes and requires an answer; returns the whole result (the flow's local port included). */
export async function probeAnswered(
  ctx: EvidenceTarget,
  c: Cluster,
  from: string,
  req: ProbeRequest,
  where: string,
): Promise<Answered> {
  const result = await c.probe(from, req);
  recordEvidence(ctx, echoEvidence(from, result));
  if (!result.ok) {
    throw new ConformanceFailure(`${from} -> ${req.kind} ${req.host}:${req.port} got no answer`, {
      expected: 'an answer from a backend',
      seen: `${result.error} (${result.errorMessage ?? 'no detail'}) after ${result.totalMs.toFixed(0)} ms`,
      where,
    });
  }
  return { from, req, result, where };
}

/**
 * Requires every answer to come from an endpoint of `svc`'s `port` (the pod the echo server names)
 * and the kernel to have translated the flow to that endpoint's address and target port.
 * Answers must ask `/hostname` (HTTP) or `hostname` (UDP).
 */
export async function expectServedBy(
  ctx: EvidenceTarget,
  c: Cluster,
  svc: ServiceState,
  port: ServicePortState,
  answers: readonly Answered[],
): Promise<void> {
  const endpoints = portEndpoints(c, svc, port);
  const name = `${svc.namespace}/${svc.name} port ${port.name ?? port.port}/${port.protocol}`;
  const list = endpoints.map((e) => `${e.pod} ${e.ip}:${e.port}`).join(', ') || 'none';
  for (const a of answers) {
    const pod = (a.result.body ?? '').trim();
    if (!endpoints.some((e) => e.pod === pod)) {
      throw new ConformanceFailure(`${a.where}: answered by a pod that is not an endpoint of ${name}`, {
        expected: `one of ${list}`,
        seen: `"${pod.slice(0, 80)}"`,
        where: a.where,
      });
    }
  }
  const flows: FlowKey[] = answers.map((a) => ({
    protocol: a.req.kind === 'udp' ? 'UDP' : 'TCP',
    clientIp: placeIp(c, a.from),
    clientPort: a.result.localPort ?? -1,
    frontendIp: a.req.host,
    frontendPort: a.req.port,
  }));
  const found = await translations(c, flows);
  recordEvidence(ctx, {
    kind: 'text',
    label: `where the kernel sent the flows (${name})`,
    text: flows.flatMap((f) => (found.get(f) ?? []).map((r) => r.text)).join('\n') || 'no record',
  });
  for (const [i, a] of answers.entries()) {
    const f = flows[i]!;
    const newest = (found.get(f) ?? []).reduce<Translation | undefined>(
      (m, r) => (!m || r.recency > m.recency ? r : m),
      undefined,
    );
    const pod = endpoints.find((e) => e.pod === (a.result.body ?? '').trim())!;
    const flow = `${f.clientIp}:${f.clientPort} -> ${f.frontendIp}:${f.frontendPort}/${f.protocol}`;
    if (!newest || newest.ip !== pod.ip || newest.port !== pod.port) {
      throw new ConformanceFailure(
        `${a.where}: the kernel did not send the flow to the answering endpoint's target port`,
        {
          expected: `${flow} translated to ${pod.pod} ${pod.ip}:${pod.port} (${name})`,
          seen: newest ? newest.text : 'no record of the flow on any node',
          where: `${c.bpf() ? 'dpc_ct (dpconform bpf conntrack dump)' : 'conntrack -L'} on every node`,
        },
      );
    }
  }
}
