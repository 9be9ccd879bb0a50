/**
 * Direct Server Return, proved by packet capture. A NodePort or VIP hit on node A for a backend
 * on node B: in DSR mode the reply (source A:nodePort or the VIP, destination the client) leaves B
 * straight for the client and never crosses A; in Tunnel mode it returns through A. Captures run
 * on A's and B's fabric interfaces and on the client, around each exchange.
 */
import { join } from 'node:path';
import { beforeAll, describe, it } from 'vitest';
import type { Cluster, NodeInfo } from '../src/cluster/types.ts';
import {
  type CapturedRun,
  describePackets,
  type Flow,
  filterPackets,
  type Packet,
  withCaptures,
} from '../src/observe/index.ts';
import {
  attachFile,
  ConformanceFailure,
  dropStaging,
  type EvidenceTarget,
  recordEvidence,
  recordSummary,
  stagingDir,
} from '../src/report/evidence.ts';
import type { ProbeRequest, ProbeResult, StreamRecord } from '../src/workload/types.ts';
import { expectAnswer, expectSource } from './lib/expect.ts';
import { fixture, nodePortOf, passMode, service, splitNodes, suiteCluster } from './lib/harness.ts';
import { type Answered, expectServedBy, probeAnswered, servicePort } from './lib/served-by.ts';

let c: Cluster;

type Ctx = EvidenceTarget & { skip: (note: string) => never };

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('seed/dsr-test.yaml'));
  await c.apply(fixture('workloads/solo.yaml'));
});

function requireMode(ctx: Ctx, mode: 'DSR' | 'Tunnel'): void {
  const m = passMode(c);
  if (m.dataplane !== 'bpf')
    ctx.skip('DSR and Tunnel are eBPF dataplane modes; the iptables dataplane has neither');
  if (m.serviceMode !== mode)
    ctx.skip(`checked in the bpfExternalServiceMode ${mode} pass (this pass runs ${m.serviceMode})`);
}

/** A node without the backend (A, the entry) and the node with it (B). */
function entryAndBackend(svcName: string): { a: NodeInfo; b: NodeInfo } {
  const { withBackend, without } = splitNodes(c, service(c, svcName));
  if (!withBackend[0] || !without[0])
    throw new Error(`${svcName} needs one node with its backend and one without`);
  return { a: without[0], b: withBackend[0] };
}

let nextPort = 41000;

/** Runs one probe with captures on A's and B's fabric interfaces and the client's. */
async function captured(
  ctx: EvidenceTarget,
  from: string,
  req: ProbeRequest,
  a: NodeInfo,
  b: NodeInfo,
): Promise<{ flow: Flow; onA: Packet[]; onB: Packet[]; onClient: Packet[]; body: string }> {
  const sourcePort = nextPort++;
  const client = c.topology().clients.find((x) => x.name === from)!;
  const flow: Flow = {
    client: { ip: client.ip, port: sourcePort },
    frontend: { ip: req.host, port: req.port },
  };
  const filter = `host ${client.ip} or udp port 4789`;
  const taken = {
    onA: { where: `${a.name} eth0`, role: 'the entry node', filter },
    onB: { where: `${b.name} eth0`, role: "the backend's node", filter },
    onClient: { where: `${from} eth0`, role: 'the client', filter: `host ${client.ip}` },
  };
  // The pcaps as tcpdump wrote them, one per interface, kept also when the exchange fails.
  const keepDir = stagingDir(ctx);
  let run: CapturedRun<keyof typeof taken, string>;
  try {
    run = await withCaptures(
      {
        onA: c.captureSpec(a.name, 'eth0', taken.onA.filter),
        onB: c.captureSpec(b.name, 'eth0', taken.onB.filter),
        onClient: c.captureSpec(from, 'eth0', taken.onClient.filter),
      },
      () =>
        expectAnswer(
          ctx,
          c,
          from,
          { ...req, sourcePort },
          `${a.name} ${req.host}:${req.port} (backend on ${b.name})`,
        ),
      keepDir ? { keepDir } : {},
    );
  } finally {
    for (const [name, t] of Object.entries(taken)) {
      if (!keepDir) break;
      attachFile(ctx, join(keepDir, `${name}.pcap`), {
        name: `${t.where.replace(' ', '-')}.pcap`,
        kind: 'pcap',
        title: `capture on ${t.where}, ${t.role} (${t.filter}), client port ${sourcePort}`,
        where: t.where,
      });
    }
    dropStaging(keepDir);
  }
  for (const [name, packets] of Object.entries(run.packets) as [string, Packet[]][]) {
    const where = name === 'onA' ? `${a.name} eth0` : name === 'onB' ? `${b.name} eth0` : `${from} eth0`;
    const mine = packets.filter((p) => touches(p, flow));
    recordEvidence(ctx, { kind: 'packet', where, filter, packets: describePackets(mine, 30).split('\n') });
  }
  return { flow, ...run.packets, body: run.result };
}

/** Whether a packet (or what it carries) belongs to the flow. */
function touches(p: Packet, flow: Flow): boolean {
  const m = (x: Packet): boolean =>
    (x.src === flow.client.ip && x.sport === flow.client.port) ||
    (x.dst === flow.client.ip && x.dport === flow.client.port);
  return m(p) || (p.vxlan ? touches(p.vxlan.inner, flow) : false);
}

/** Replies of the flow as they appear on the wire (not inside a tunnel). */
function wireReplies(packets: readonly Packet[], flow: Flow): Packet[] {
  return filterPackets(packets, {
    src: flow.frontend.ip,
    sport: flow.frontend.port,
    dst: flow.client.ip,
    dport: flow.client.port,
    layer: 'outer',
  });
}

function wireRequests(packets: readonly Packet[], flow: Flow): Packet[] {
  return filterPackets(packets, {
    src: flow.client.ip,
    sport: flow.client.port,
    dst: flow.frontend.ip,
    dport: flow.frontend.port,
    layer: 'outer',
  });
}

/** What the captures showed of the replies' path, in one line. */
function replyPath(r: Awaited<ReturnType<typeof captured>>, a: NodeInfo, b: NodeInfo): string {
  const viaA = wireReplies(r.onA, r.flow).length;
  const fromB = wireReplies(r.onB, r.flow).length;
  return `${viaA} of ${viaA + fromB} reply packets to ${r.flow.client.ip}:${r.flow.client.port} crossed ${a.name} (the entry node), ${fromB} left ${b.name} (the backend's node) outside a tunnel`;
}

/** Holds a DSR reply path: request crosses A, replies leave B for the client, none on A's wire. */
function expectDsrPath(r: Awaited<ReturnType<typeof captured>>, a: NodeInfo, b: NodeInfo): void {
  const where = `captures on ${a.name} eth0 and ${b.name} eth0`;
  if (wireRequests(r.onA, r.flow).length === 0) {
    throw new ConformanceFailure('the request did not enter through the node it was sent to', {
      expected: `the client's SYN to ${r.flow.frontend.ip}:${r.flow.frontend.port} on ${a.name} eth0`,
      seen: describePackets(
        r.onA.filter((p) => touches(p, r.flow)),
        10,
      ),
      where,
    });
  }
  const viaA = wireReplies(r.onA, r.flow);
  const fromB = wireReplies(r.onB, r.flow);
  if (viaA.length > 0 || fromB.length === 0) {
    throw new ConformanceFailure('DSR: the reply did not go from the backend node straight to the client', {
      expected: `replies ${r.flow.frontend.ip}.${r.flow.frontend.port} > ${r.flow.client.ip}.${r.flow.client.port} on ${b.name} eth0, none on ${a.name} eth0`,
      seen: `${fromB.length} on ${b.name} eth0, ${viaA.length} on ${a.name} eth0:\n${describePackets(viaA.length > 0 ? viaA : r.onB.filter((p) => touches(p, r.flow)), 10)}`,
      where,
    });
  }
}

const MIB = 1024 * 1024;
/**
 * DSR-007's keep-alive connection: requests, and the size of each response (the most the
 * keep-alive client reads in one response); then one response of several MiB on a connection of
 * its own.
 */
const KEEPALIVE_REQUESTS = 16;
const KEEPALIVE_BYTES = 1 * MIB;
const LARGE_BYTES = 4 * MIB;

/** What DSR-007's two connections came to, with what the captures saw of them. */
interface LargeExchange {
  stream: StreamRecord;
  large: ProbeResult;
  onA: Packet[];
  onB: Packet[];
  onClient: Packet[];
}

/**
 * One keep-alive connection from the client carrying {@link KEEPALIVE_REQUESTS} requests of
 * {@link KEEPALIVE_BYTES}, then one request for {@link LARGE_BYTES}, both from the given source
 * ports, captured on A's and B's fabric interfaces and the client's (headers only: the lengths
 * are what count).
 */
async function largeExchange(
  a: NodeInfo,
  b: NodeInfo,
  from: string,
  frontend: Flow['frontend'],
  ports: { stream: number; large: number },
): Promise<LargeExchange> {
  const client = c.topology().clients.find((x) => x.name === from)!;
  const tcp = `host ${client.ip} and (tcp port ${ports.stream} or tcp port ${ports.large})`;
  const spec = (place: string, filter: string) => ({
    ...c.captureSpec(place, 'eth0', filter),
    snaplen: 128,
    bufferKiB: 32_768,
  });
  const id = `dsr007-${ports.stream}-${Date.now()}`;
  const run = await withCaptures(
    {
      onA: spec(a.name, `(${tcp}) or udp port 4789`),
      onB: spec(b.name, `(${tcp}) or udp port 4789`),
      onClient: spec(from, tcp),
    },
    async () => {
      await c.streamStart(from, {
        id,
        host: frontend.ip,
        port: frontend.port,
        path: `/size?bytes=${KEEPALIVE_BYTES}`,
        intervalMs: 50,
        requestTimeoutMs: 5000,
        maxDurationMs: 60_000,
        sourcePort: ports.stream,
      });
      let stream: StreamRecord;
      try {
        const until = Date.now() + 30_000;
        for (;;) {
          const r = await c.streamGet(from, id);
          if (r.sent >= KEEPALIVE_REQUESTS || r.failed > 0 || Date.now() > until) break;
          await new Promise((res) => setTimeout(res, 100));
        }
      } finally {
        stream = await c.streamStop(from, id);
      }
      const large = await c.probe(from, {
        kind: 'http',
        host: frontend.ip,
        port: frontend.port,
        path: `/size?bytes=${LARGE_BYTES}`,
        sourcePort: ports.large,
        timeoutMs: 20_000,
      });
      return { stream, large };
    },
  );
  return { ...run.result, ...run.packets };
}

describe('dsr', () => {
  it("DSR-001: the seed guide's dsr-test Service and nginx Deployment, applied as written, answer the external client from that Service's endpoints", async (ctx) => {
    const svc = service(c, 'dsr-test');
    const port = nodePortOf(svc);
    const answers: Answered[] = [];
    for (const node of splitNodes(c, svc).withBackend) {
      answers.push(
        await probeAnswered(
          ctx,
          c,
          'client',
          { kind: 'http', host: node.ip, port, path: '/hostname' },
          `${node.name} ${node.ip}:${port}`,
        ),
      );
    }
    await expectServedBy(ctx, c, svc, servicePort(svc), answers);
  });

  it('DSR-002: NodePort, remote backend: the reply leaves the backend node straight for the client, never through the entry node', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a, b } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const r = await captured(ctx, 'client', { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b);
    recordSummary(ctx, replyPath(r, a, b));
    expectDsrPath(r, a, b);
  });

  it('DSR-003: LoadBalancer VIP, remote backend: the reply leaves the backend node with the VIP as its source', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a, b } = entryAndBackend('solo-lb');
    const vip = service(c, 'solo-lb').loadBalancerIP!;
    await c.routeVia(vip, [a.name]);
    try {
      const r = await captured(ctx, 'client', { kind: 'http', host: vip, port: 80, path: '/hostname' }, a, b);
      recordSummary(ctx, replyPath(r, a, b));
      expectDsrPath(r, a, b);
    } finally {
      await c.routeVia(vip, undefined);
    }
  });

  it('DSR-004: Tunnel mode, remote backend: the reply returns through the entry node', async (ctx) => {
    requireMode(ctx, 'Tunnel');
    const { a, b } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const r = await captured(ctx, 'client', { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b);
    recordSummary(ctx, replyPath(r, a, b));
    const viaA = wireReplies(r.onA, r.flow);
    const fromB = wireReplies(r.onB, r.flow);
    if (viaA.length === 0 || fromB.length > 0) {
      throw new ConformanceFailure('Tunnel: the reply did not return through the entry node', {
        expected: `replies ${r.flow.frontend.ip}.${port} > ${r.flow.client.ip}.${r.flow.client.port} on ${a.name} eth0 only (from ${b.name} inside VXLAN)`,
        seen: `${viaA.length} on ${a.name} eth0, ${fromB.length} on ${b.name} eth0 outside a tunnel`,
        where: `captures on ${a.name} eth0 and ${b.name} eth0`,
      });
    }
  });

  it('DSR-005: a client in bpfDSROptoutCIDRs gets the Tunnel path in DSR mode', async (ctx) => {
    requireMode(ctx, 'DSR');
    const other = c.topology().clients[1];
    if (!other) ctx.skip('needs a second external client');
    const { a, b } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const before = c.settings().settings.bpfDSROptoutCIDRs;
    await c.patchFelix({ bpfDSROptoutCIDRs: [`${other!.ip}/32`] });
    try {
      const r = await captured(ctx, other!.name, { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b);
      recordSummary(ctx, `opted-out ${other!.ip}: ${replyPath(r, a, b)}`);
      const viaA = wireReplies(r.onA, r.flow);
      if (viaA.length === 0 || wireReplies(r.onB, r.flow).length > 0) {
        throw new ConformanceFailure('an opted-out client did not get the Tunnel path', {
          expected: `replies to ${other!.ip} (in bpfDSROptoutCIDRs ${other!.ip}/32) return through ${a.name}`,
          seen: `${viaA.length} on ${a.name} eth0, ${wireReplies(r.onB, r.flow).length} straight from ${b.name}`,
          where: `captures on ${a.name} eth0 and ${b.name} eth0`,
        });
      }
      // The first client, not opted out, still gets DSR.
      const d = await captured(ctx, 'client', { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b);
      recordSummary(
        ctx,
        `opted-out ${other!.ip}: ${replyPath(r, a, b)}; not opted out: ${replyPath(d, a, b)}`,
      );
      expectDsrPath(d, a, b);
    } finally {
      await c.patchFelix({ bpfDSROptoutCIDRs: before });
    }
  });

  it('DSR-006: the backend sees the client’s own address in DSR mode', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const client = c.topology().clients[0]!;
    const seen = await expectAnswer(
      ctx,
      c,
      client.name,
      { kind: 'http', host: a.ip, port, path: '/clientip' },
      `${a.name} ${a.ip}:${port}`,
    );
    expectSource(seen, client.ip, 'NodePort in DSR mode', `${a.name} ${a.ip}:${port}`);
  });

  it(`DSR-007: one keep-alive connection through a NodePort with a remote backend carries ${KEEPALIVE_REQUESTS} requests of ${KEEPALIVE_BYTES / MIB} MiB whole, and a response of ${LARGE_BYTES / MIB} MiB arrives whole, on the mode's reply path (DSR: straight from the backend's node; Tunnel: back through the entry node)`, async (ctx) => {
    const m = passMode(c);
    if (m.dataplane !== 'bpf')
      ctx.skip('DSR and Tunnel are eBPF dataplane modes; the iptables dataplane has neither');
    const { a, b } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const client = c.topology().clients[0]!;
    // Below the ephemeral range and different from run to run: each connection closes from the
    // client, whose port then waits out TIME_WAIT.
    const base = 20_000 + 2 * Math.floor(Math.random() * 5_000);
    const ports = { stream: base, large: base + 1 };
    const frontend = { ip: a.ip, port };
    const flows: Flow[] = [ports.stream, ports.large].map((p) => ({
      client: { ip: client.ip, port: p },
      frontend,
    }));
    const where = `${client.name} -> ${a.name} ${a.ip}:${port} (backend on ${b.name}), ${m.serviceMode} mode`;
    const { stream, large, onA, onB, onClient } = await largeExchange(a, b, client.name, frontend, ports);
    const count = (packets: readonly Packet[], f: (ps: readonly Packet[], flow: Flow) => Packet[]) =>
      flows.reduce((n, flow) => n + f(packets, flow).length, 0);
    const bytesToClient = flows.reduce(
      (n, flow) => n + wireReplies(onClient, flow).reduce((sum, p) => sum + p.length, 0),
      0,
    );
    const viaA = count(onA, wireReplies);
    const fromB = count(onB, wireReplies);
    const largeBytes = large.ok ? (large.body ?? '').length : 0;
    const keepalive = `${stream.ok} of ${stream.sent} answered on ${stream.connections} connection(s), ${stream.failed} failed, responses of ${stream.bodies.map((x) => x.length).join('/') || 'no'} bytes${stream.firstError ? `, first error ${stream.firstError}` : ''}`;
    const big = large.ok
      ? `${largeBytes} bytes in ${large.totalMs.toFixed(0)} ms`
      : `${large.error} (${large.errorMessage ?? 'no detail'})`;
    recordEvidence(ctx, {
      kind: 'text',
      label: 'the connections and their reply path',
      text: `keep-alive connection from port ${ports.stream}: ${keepalive}\nlarge response on port ${ports.large}: ${big}\nreply segments on the wire: ${viaA} on ${a.name} eth0, ${fromB} on ${b.name} eth0; ${bytesToClient} reply bytes reached ${client.name}`,
    });
    for (const [name, packets] of [
      [`${a.name} eth0`, onA],
      [`${b.name} eth0`, onB],
      [`${client.name} eth0`, onClient],
    ] as const) {
      recordEvidence(ctx, {
        kind: 'packet',
        where: name,
        packets: describePackets(
          packets.filter((p) => flows.some((f) => touches(p, f))),
          20,
        ).split('\n'),
      });
    }
    const whole = stream.bodies.length === 1 && stream.bodies[0]!.length === KEEPALIVE_BYTES;
    if (stream.ok < KEEPALIVE_REQUESTS || stream.failed > 0 || stream.connections !== 1 || !whole) {
      throw new ConformanceFailure('responses on one keep-alive connection did not arrive whole', {
        expected: `${KEEPALIVE_REQUESTS} responses of ${KEEPALIVE_BYTES} bytes on one connection, none failed`,
        seen: keepalive,
        where,
      });
    }
    if (largeBytes !== LARGE_BYTES) {
      throw new ConformanceFailure(`a response of ${LARGE_BYTES / MIB} MiB did not arrive whole`, {
        expected: `${LARGE_BYTES} bytes`,
        seen: big,
        where,
      });
    }
    if (bytesToClient < KEEPALIVE_REQUESTS * KEEPALIVE_BYTES + LARGE_BYTES) {
      throw new Error(
        `the client's capture shows ${bytesToClient} reply bytes, fewer than were received: the capture missed packets`,
      );
    }
    const dsr = m.serviceMode === 'DSR';
    if (dsr ? viaA > 0 || fromB === 0 : viaA === 0 || fromB > 0) {
      throw new ConformanceFailure(`${m.serviceMode}: the large replies did not take the mode's reply path`, {
        expected: dsr
          ? `every reply segment straight from ${b.name} to the client, none on ${a.name} eth0`
          : `every reply segment back through ${a.name} eth0, none from ${b.name} outside the tunnel`,
        seen: `${viaA} on ${a.name} eth0, ${fromB} on ${b.name} eth0 outside a tunnel`,
        where: `captures on ${a.name} eth0 and ${b.name} eth0`,
      });
    }
  });
});
