/**
 * NodePort services: reachable on every node's address, from outside and from pods, spread over
 * local and remote backends, honouring externalTrafficPolicy, refusing when there is no backend,
 * over TCP and UDP, following endpoint changes.
 */

import { beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import { backendsOf, fixture, nodePortOf, service, splitNodes, suiteCluster } from './lib/harness.ts';
import { soloDeployment, soloService } from './lib/objects.ts';

let c: Cluster;

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(fixture('workloads/no-endpoints.yaml'));
  await c.apply(fixture('workloads/solo.yaml'));
});

describe('nodeport', () => {
  it('NP-001: an external client reaches a NodePort on every node address', async (ctx) => {
    const port = nodePortOf(service(c, 'echo-nodeport'));
    for (const node of c.topology().nodes) {
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: node.ip, port, path: '/hostname' },
        `${node.name} ${node.ip}:${port}`,
      );
    }
  });

  it('NP-002: one node address spreads new connections over local and remote backends', async (ctx) => {
    const svc = service(c, 'echo-nodeport');
    const port = nodePortOf(svc);
    const entry = c.topology().nodes[0]!;
    const want = backendsOf(c, svc);
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < want.length; i++) {
      seen.add(
        await expectAnswer(
          ctx,
          c,
          'client',
          { kind: 'http', host: entry.ip, port, path: '/hostname' },
          entry.name,
        ),
      );
    }
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

  it('NP-004: externalTrafficPolicy Local answers only on nodes with a local endpoint', async (ctx) => {
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
      await expectNoAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: node.ip, port, path: '/hostname', timeoutMs: 1000 },
        ['refused', 'timeout', 'reset'],
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

  it('NP-006: a UDP NodePort answers on every node address', async (ctx) => {
    const port = nodePortOf(service(c, 'echo-udp'));
    for (const node of c.topology().nodes) {
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'udp', host: node.ip, port, payload: 'hostname' },
        `${node.name} ${node.ip}:${port}/UDP`,
      );
    }
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
    await c.apply([scaled(0)]);
    await expectNoAnswer(ctx, c, 'client', req, ['refused'], `${node.name}:30085 scaled back to 0`);
    await c.delete([scaled(0), soloService('scale', 30085, 'Cluster')]);
  });
});
