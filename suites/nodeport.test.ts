/**
 * NodePort services: reachable on every node's address, from outside and from pods, spread over
 * local and remote backends, honouring externalTrafficPolicy, refusing when there is no backend,
 * over TCP and UDP, following endpoint changes.
 */

import { afterAll, beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { mustIpv4 } from '../src/k8s/ip.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { expectAffinityEntries, expectSticky } from './lib/affinity.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import {
  describeStream,
  expectOneFlow,
  type KeepAlive,
  openKeepAlive,
  waitStream,
  watchedFlow,
} from './lib/flows.ts';
import { backendsOf, fixture, nodePortOf, service, splitNodes, suiteCluster } from './lib/harness.ts';
import { expectDroppedLocally } from './lib/local-drops.ts';
import {
  appService,
  deleteAndSettle,
  memberDeployment,
  settlePods,
  soloDeployment,
  soloService,
} from './lib/objects.ts';
import { type Answered, expectServedBy, portEndpoints, probeAnswered, servicePort } from './lib/served-by.ts';

let c: Cluster;

/** Two pods that are no Service's backends: the ClusterIP affinity clients of NP-010. */
const stickyClients = soloDeployment('sticky-client', 2);

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(fixture('workloads/no-endpoints.yaml'));
  await c.apply(fixture('workloads/solo.yaml'));
  // Made before any test removes pods, so that none of them takes a just freed address.
  await c.apply([stickyClients]);
});

afterAll(async () => {
  if (c) await deleteAndSettle(c, [stickyClients]);
});

describe('nodeport', () => {
  it('NP-001: an external client reaches a NodePort on every node address, answered by an endpoint of that Service on its target port', async (ctx) => {
    const svc = service(c, 'echo-nodeport');
    const port = nodePortOf(svc);
    const answers: Answered[] = [];
    for (const node of c.topology().nodes) {
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

  it('NP-002: one node address spreads new connections over local and remote backends', async (ctx) => {
    const svc = service(c, 'echo-nodeport');
    const port = nodePortOf(svc);
    const entry = c.topology().nodes[0]!;
    const want = backendsOf(c, svc);
    const seen = new Set<string>();
    const answers: Answered[] = [];
    for (let i = 0; i < 40 && seen.size < want.length; i++) {
      const a = await probeAnswered(
        ctx,
        c,
        'client',
        { kind: 'http', host: entry.ip, port, path: '/hostname' },
        entry.name,
      );
      answers.push(a);
      seen.add((a.result.body ?? '').trim());
    }
    await expectServedBy(ctx, c, svc, servicePort(svc), answers);
    const missing = want.filter((b) => !seen.has(b.pod));
    recordEvidence(ctx, { kind: 'text', label: 'backends reached', text: [...seen].join('\n') });
    if (missing.length > 0) {
      throw new ConformanceFailure('not every backend was reached through one NodePort', {
        expected: `all of ${want.map((b) => `${b.pod} (on ${b.node})`).join(', ')}`,
        seen: `only ${[...seen].join(', ') || 'none'} in 40 connections`,
        where: `${entry.name} ${entry.ip}:${port}`,
      });
    }
  });

  it('NP-003: a pod reaches a NodePort on another node', async (ctx) => {
    const port = nodePortOf(service(c, 'echo-nodeport'));
    const pod = c.topology().pods.find((p) => p.labels.app === 'echo')!;
    const other = c.topology().nodes.find((n) => n.name !== pod.nodeName)!;
    await expectAnswer(
      ctx,
      c,
      `${pod.namespace}/${pod.name}`,
      { kind: 'http', host: other.ip, port, path: '/hostname' },
      `${other.name} ${other.ip}:${port}`,
    );
  });

  it('NP-004: externalTrafficPolicy Local answers only on nodes with a local endpoint; elsewhere it drops (never refuses or resets) and counts every dropped packet once under its reason', async (ctx) => {
    const svc = service(c, 'solo-local');
    const port = nodePortOf(svc);
    const { withBackend, without } = splitNodes(c, svc);
    if (withBackend.length === 0 || without.length === 0) ctx.skip('needs at least two nodes');
    for (const node of withBackend) {
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: node.ip, port, path: '/hostname' },
        `${node.name} ${node.ip}:${port}`,
      );
    }
    for (const node of without) {
      await expectDroppedLocally(
        ctx,
        c,
        'client',
        node.name,
        { kind: 'http', host: node.ip, port, path: '/hostname' },
        { protocol: 'TCP', port },
        `${node.name} ${node.ip}:${port} (no local endpoint)`,
      );
    }
  });

  it('NP-005: a NodePort with no endpoints refuses at once, over TCP', async (ctx) => {
    const port = nodePortOf(service(c, 'no-endpoints'));
    const node = c.topology().nodes[0]!;
    await expectNoAnswer(
      ctx,
      c,
      'client',
      { kind: 'tcp', host: node.ip, port, timeoutMs: 3000 },
      ['refused'],
      `${node.name} ${node.ip}:${port}`,
    );
  });

  it('NP-006: a UDP NodePort answers on every node address, from an endpoint of that Service on its target port', async (ctx) => {
    const svc = service(c, 'echo-udp');
    const port = nodePortOf(svc);
    const answers: Answered[] = [];
    for (const node of c.topology().nodes) {
      answers.push(
        await probeAnswered(
          ctx,
          c,
          'client',
          { kind: 'udp', host: node.ip, port, payload: 'hostname' },
          `${node.name} ${node.ip}:${port}/UDP`,
        ),
      );
    }
    await expectServedBy(ctx, c, svc, servicePort(svc), answers);
  });

  it('NP-007: endpoints added and removed take effect', async (ctx) => {
    const node = c.topology().nodes[0]!;
    const scaled = (replicas: number) => soloDeployment('scale', replicas);
    await c.apply([scaled(0), soloService('scale', 30085, 'Cluster')]);
    const req = { kind: 'tcp' as const, host: node.ip, port: 30085, timeoutMs: 3000 };
    await expectNoAnswer(ctx, c, 'client', req, ['refused'], `${node.name}:30085 with 0 replicas`);
    await c.apply([scaled(2)]);
    await expectAnswer(
      ctx,
      c,
      'client',
      { ...req, kind: 'http', path: '/hostname' },
      `${node.name}:30085 with 2 replicas`,
    );
    const running = [...c.topology().pods];
    await c.apply([scaled(0)]);
    await settlePods(c, running);
    await expectNoAnswer(ctx, c, 'client', req, ['refused'], `${node.name}:30085 scaled back to 0`);
    await c.delete([scaled(0), soloService('scale', 30085, 'Cluster')]);
  });

  it('NP-008: a keep-alive connection carrying many requests is one flow in the kernel: one new connection counted on the entry node, one conntrack entry naming its backend', async (ctx) => {
    const entry = c.topology().nodes[0]!;
    const client = c.topology().clients[0]!;
    const svc = service(c, 'echo-nodeport');
    const port = nodePortOf(svc);
    const where = `${client.name} -> ${entry.name} ${entry.ip}:${port} (echo-nodeport)`;
    const id = `np008-${Date.now()}`;
    const k = await openKeepAlive(c, {
      client: client.name,
      entry,
      port,
      id,
      requests: 30,
      maxDurationMs: 30_000,
    });
    try {
      const warm = k.record;
      recordEvidence(ctx, { kind: 'text', label: 'the keep-alive connection', text: describeStream(warm) });
      const backend = portEndpoints(c, svc, servicePort(svc)).find((e) => e.pod === warm.bodies[0]);
      if (warm.ok < 30 || warm.failed > 0 || !backend || warm.localPort === undefined) {
        throw new ConformanceFailure('a keep-alive connection to the NodePort did not carry requests', {
          expected: '30 requests answered on one connection by an endpoint of echo-nodeport',
          seen: describeStream(warm),
          where,
        });
      }
      const one = watchedFlow(client, entry, port, k, {
        name: backend.pod,
        ip: backend.ip,
        port: backend.port,
      });
      await expectOneFlow(ctx, c, one, warm.sent, `after ${warm.sent} requests`);
    } finally {
      await c.streamStop(client.name, id).catch(() => undefined);
    }
  });

  it('NP-012: an established connection keeps its backend while endpoints are added and others removed; connections opened after it are balanced afresh over the endpoints there are now', async (ctx) => {
    const entry = c.topology().nodes[0]!;
    const client = c.topology().clients[0]!;
    const port = 30120;
    const first = ['a', 'b', 'c'];
    const later = ['d', 'e'];
    const keepService = appService('keep', 'keep', { nodePort: port });
    const members = (ms: readonly string[]) => ms.map((m) => memberDeployment('keep', m));
    const where = `${client.name} -> ${entry.name} ${entry.ip}:${port} (Service keep)`;
    const id = `np012-${Date.now()}`;
    let stopped = false;
    try {
      await c.apply([keepService, ...members(first)]);
      // The connection is held on a backend that is not the first of the Service by address, so
      // that removing the ones before it moves it in a backend table kept in address order.
      const firstByAddress = c
        .topology()
        .pods.filter((p) => p.labels.app === 'keep')
        .map((p) => p.ip)
        .sort((x, y) => mustIpv4(x) - mustIpv4(y))[0];
      let k: KeepAlive | undefined;
      for (let attempt = 0; attempt < 10; attempt++) {
        if (k) {
          await c.streamStop(client.name, id);
          // The closed connection's last packets must pass before the next count starts.
          await new Promise((r) => setTimeout(r, 1000));
        }
        k = await openKeepAlive(c, {
          client: client.name,
          entry,
          port,
          id,
          requests: 20,
          maxDurationMs: 60_000,
        });
        const landed = c.topology().pods.find((p) => p.name === k?.record.bodies[0]);
        if (!landed || landed.ip !== firstByAddress) break;
      }
      const warm = k?.record;
      const backend = warm?.bodies[0];
      const pod = c.topology().pods.find((p) => p.name === backend);
      if (!k || !warm || warm.ok < 20 || warm.failed > 0 || !pod || warm.localPort === undefined) {
        throw new ConformanceFailure('a keep-alive connection to the NodePort did not carry requests', {
          expected: '20 requests answered on one connection by an endpoint of keep',
          seen: warm ? describeStream(warm) : 'no stream',
          where,
        });
      }
      const one = watchedFlow(client, entry, port, k, { name: pod.name, ip: pod.ip, port: 8080 });
      await expectOneFlow(ctx, c, one, warm.sent, 'before the endpoints changed');
      // Endpoints change under the connection: two are added, every other first one goes.
      await c.apply(members(later));
      await deleteAndSettle(c, members(first.filter((m) => m !== pod.labels.member)));
      const mark = (await c.streamGet(client.name, id)).sent;
      await waitStream(c, client.name, id, (r) => r.sent >= mark + 20 || r.failed > 0, 5000);
      const held = await c.streamStop(client.name, id);
      stopped = true;
      recordEvidence(ctx, { kind: 'text', label: 'the keep-alive connection', text: describeStream(held) });
      if (held.failed > 0 || held.connectionsLost > 0 || held.connections !== 1 || held.bodies.length !== 1) {
        throw new ConformanceFailure(
          'an established connection did not keep its backend while endpoints changed',
          {
            expected: `every request answered on one connection by ${backend}`,
            seen: describeStream(held),
            where,
          },
        );
      }
      await expectOneFlow(ctx, c, one, held.sent, 'after the endpoints changed');
      // Connections opened now are balanced over the endpoints there are now.
      const svc = service(c, 'keep');
      const answers: Answered[] = [];
      for (let i = 0; i < 15; i++) {
        answers.push(
          await probeAnswered(
            ctx,
            c,
            client.name,
            { kind: 'http', host: entry.ip, port, path: '/hostname' },
            where,
          ),
        );
      }
      await expectServedBy(ctx, c, svc, servicePort(svc), answers);
      const reached = new Set(answers.map((a) => (a.result.body ?? '').trim()));
      if (reached.size < 2) {
        throw new ConformanceFailure('new connections after the keep-alive one were not balanced afresh', {
          expected: `new connections spread over the ${backendsOf(c, svc).length} endpoints there are now`,
          seen: `all 15 reached ${[...reached].join(', ')}`,
          where,
        });
      }
    } finally {
      if (!stopped) await c.streamStop(client.name, id).catch(() => undefined);
      await deleteAndSettle(c, [keepService, ...members([...first, ...later])]);
    }
  });

  it('NP-009: sessionAffinity ClientIP on a NodePort: each client sticks to one endpoint, two clients are balanced independently, each with its own entry in the kernel affinity map, within bpfMapSizeNATAffinity', async (ctx) => {
    const clients = c.topology().clients.map((x) => x.name);
    if (clients.length < 2) ctx.skip('needs two external clients');
    const entry = c.topology().nodes[0]!;
    const port = 30121;
    const obj = appService('sticky', 'echo', { nodePort: port, affinitySeconds: 0 });
    try {
      await c.apply([obj]);
      const svc = service(c, 'sticky');
      const where = `${entry.name} ${entry.ip}:${port} (sticky, sessionAffinity ClientIP)`;
      const req = { kind: 'http' as const, host: entry.ip, port, path: '/hostname' };
      const stuck = await expectSticky(ctx, c, svc, servicePort(svc), clients.slice(0, 2), req, where);
      await expectAffinityEntries(ctx, c, entry.name, { addr: '0.0.0.0', port, protocol: 'TCP' }, stuck);
    } finally {
      await c.delete([obj]);
    }
  });

  it("NP-010: sessionAffinity ClientIP on a ClusterIP: each pod client sticks to one endpoint, with its own entry in its node's kernel affinity map", async (ctx) => {
    const obj = appService('sticky-cip', 'echo', { type: 'ClusterIP', affinitySeconds: 0 });
    try {
      await c.apply([obj]);
      const svc = service(c, 'sticky-cip');
      const pods = c.topology().pods.filter((p) => p.labels.app === 'sticky-client');
      const where = `ClusterIP ${svc.clusterIP}:80 (sticky-cip, sessionAffinity ClientIP)`;
      const req = { kind: 'http' as const, host: svc.clusterIP, port: 80, path: '/hostname' };
      const stuck = await expectSticky(
        ctx,
        c,
        svc,
        servicePort(svc),
        pods.map((p) => `${p.namespace}/${p.name}`),
        req,
        where,
      );
      for (const p of pods) {
        const mine = new Map([...stuck].filter(([ip]) => ip === p.ip));
        await expectAffinityEntries(
          ctx,
          c,
          p.nodeName,
          { addr: svc.clusterIP, port: 80, protocol: 'TCP' },
          mine,
        );
      }
    } finally {
      await c.delete([obj]);
    }
  });

  it(`NP-011: sessionAffinity ClientIP with timeoutSeconds 1: once it lapses, a client's next connection is balanced afresh`, async (ctx) => {
    const entry = c.topology().nodes[0]!;
    const port = 30122;
    const obj = appService('sticky-short', 'echo', { nodePort: port, affinitySeconds: 1 });
    const rounds = 10;
    try {
      await c.apply([obj]);
      const svc = service(c, 'sticky-short');
      const where = `${entry.name} ${entry.ip}:${port} (sticky-short, timeoutSeconds 1)`;
      const answers: Answered[] = [];
      for (let i = 0; i < rounds; i++) {
        if (i > 0) await new Promise((r) => setTimeout(r, 1300));
        answers.push(
          await probeAnswered(
            ctx,
            c,
            'client',
            { kind: 'http', host: entry.ip, port, path: '/hostname' },
            where,
          ),
        );
      }
      await expectServedBy(ctx, c, svc, servicePort(svc), answers);
      const pods = answers.map((a) => (a.result.body ?? '').trim());
      recordEvidence(ctx, {
        kind: 'text',
        label: `${rounds} connections, 1.3 s apart`,
        text: pods.join('\n'),
      });
      if (new Set(pods).size < 2) {
        throw new ConformanceFailure('the affinity outlived its timeoutSeconds', {
          expected: `after each lapse a fresh decision: ${rounds} connections 1.3 s apart spread over the ${backendsOf(c, svc).length} endpoints`,
          seen: `all ${rounds} reached ${pods[0]}`,
          where,
        });
      }
    } finally {
      await c.delete([obj]);
    }
  });
});
