/**
 * Direct Server Return, proved by packet capture. A NodePort or VIP hit on node A for a backend
 * on node B: in DSR mode the reply (source A:nodePort or the VIP, destination the client) leaves B
 * straight for the client and never crosses A; in Tunnel mode it returns through A. Captures run
 * on A's and B's fabric interfaces and on the client, around each exchange.
 */
import { beforeAll, describe, it } from 'vitest';
import type { Cluster, NodeInfo } from '../src/cluster/types.ts';
import {
  describePackets,
  type Flow,
  filterPackets,
  type Packet,
  withCaptures,
} from '../src/observe/index.ts';
import { ConformanceFailure, type EvidenceTarget, recordEvidence } from '../src/report/evidence.ts';
import type { ProbeRequest } from '../src/workload/types.ts';
import { expectAnswer, expectSource } from './lib/expect.ts';
import { fixture, nodePortOf, passMode, service, splitNodes, suiteCluster } from './lib/harness.ts';

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
  const run = await withCaptures(
    {
      onA: c.captureSpec(a.name, 'eth0', filter),
      onB: c.captureSpec(b.name, 'eth0', filter),
      onClient: c.captureSpec(from, 'eth0', `host ${client.ip}`),
    },
    () =>
      expectAnswer(
        ctx,
        c,
        from,
        { ...req, sourcePort },
        `${a.name} ${req.host}:${req.port} (backend on ${b.name})`,
      ),
  );
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

describe('dsr', () => {
  it("DSR-001: the seed guide's dsr-test Service and nginx Deployment, applied as written, answer the external client", async (ctx) => {
    const svc = service(c, 'dsr-test');
    const port = nodePortOf(svc);
    for (const node of splitNodes(c, svc).withBackend) {
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: node.ip, port, path: '/hostname' },
        `${node.name} ${node.ip}:${port}`,
      );
    }
  });

  it('DSR-002: NodePort, remote backend: the reply leaves the backend node straight for the client, never through the entry node', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a, b } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const r = await captured(ctx, 'client', { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b);
    expectDsrPath(r, a, b);
  });

  it('DSR-003: LoadBalancer VIP, remote backend: the reply leaves the backend node with the VIP as its source', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a, b } = entryAndBackend('solo-lb');
    const vip = service(c, 'solo-lb').loadBalancerIP!;
    await c.routeVia(vip, [a.name]);
    try {
      const r = await captured(ctx, 'client', { kind: 'http', host: vip, port: 80, path: '/hostname' }, a, b);
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
      const viaA = wireReplies(r.onA, r.flow);
      if (viaA.length === 0 || wireReplies(r.onB, r.flow).length > 0) {
        throw new ConformanceFailure('an opted-out client did not get the Tunnel path', {
          expected: `replies to ${other!.ip} (in bpfDSROptoutCIDRs ${other!.ip}/32) return through ${a.name}`,
          seen: `${viaA.length} on ${a.name} eth0, ${wireReplies(r.onB, r.flow).length} straight from ${b.name}`,
          where: `captures on ${a.name} eth0 and ${b.name} eth0`,
        });
      }
      // The first client, not opted out, still gets DSR.
      expectDsrPath(
        await captured(ctx, 'client', { kind: 'http', host: a.ip, port, path: '/hostname' }, a, b),
        a,
        b,
      );
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

  it('DSR-007: a DSR connection carries many requests and a large response whole', async (ctx) => {
    requireMode(ctx, 'DSR');
    const { a } = entryAndBackend('solo-cluster');
    const port = nodePortOf(service(c, 'solo-cluster'), 'http');
    const bytes = 2_000_000;
    const body = await expectAnswer(
      ctx,
      c,
      'client',
      { kind: 'http', host: a.ip, port, path: `/size?bytes=${bytes}`, timeoutMs: 10_000 },
      `${a.name} ${a.ip}:${port}`,
    );
    if (body.length !== bytes) {
      throw new ConformanceFailure('a large DSR response arrived short', {
        expected: `${bytes} bytes`,
        seen: `${body.length} bytes`,
        where: `${a.name} ${a.ip}:${port}`,
      });
    }
    const results = await c.probes(
      'client',
      Array.from({ length: 50 }, () => ({ kind: 'http' as const, host: a.ip, port, path: '/hostname' })),
      4,
    );
    const failed = results.filter((r) => !r.ok);
    recordEvidence(ctx, {
      kind: 'text',
      label: '50 requests',
      text: `${50 - failed.length} answered, ${failed.length} failed`,
    });
    if (failed.length > 0) {
      throw new ConformanceFailure('requests through a DSR NodePort failed', {
        expected: '50 of 50 answered',
        seen: `${failed.length} failed, first: ${failed[0]!.error} (${failed[0]!.errorMessage})`,
        where: `${a.name} ${a.ip}:${port}`,
      });
    }
  });
});
