/**
 * LoadBalancer services: the VIP answers external clients on every port of the Service, honours
 * externalTrafficPolicy Local, and type transitions leave no stale frontend behind.
 */

import { beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { expectAffinityEntries, expectSticky } from './lib/affinity.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import { fixture, nodePortOf, service, splitNodes, suiteCluster } from './lib/harness.ts';
import { expectDroppedLocally } from './lib/local-drops.ts';
import { appService, morphService } from './lib/objects.ts';
import { type Answered, expectServedBy, probeAnswered, servicePort } from './lib/served-by.ts';

let c: Cluster;

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(fixture('workloads/solo.yaml'));
});

function vipOf(name: string): string {
  const vip = service(c, name).loadBalancerIP;
  if (!vip) throw new Error(`service ${name} has no LoadBalancer VIP`);
  return vip;
}

describe('loadbalancer', () => {
  it('LB-001: an external client reaches a LoadBalancer VIP, answered by an endpoint of that Service on its target port', async (ctx) => {
    const svc = service(c, 'echo-lb');
    const vip = vipOf('echo-lb');
    const port = servicePort(svc, 'http');
    const answer = await probeAnswered(
      ctx,
      c,
      'client',
      { kind: 'http', host: vip, port: port.port, path: '/hostname' },
      `VIP ${vip}:${port.port}`,
    );
    await expectServedBy(ctx, c, svc, port, [answer]);
  });

  it('LB-002: every port of a LoadBalancer Service answers on the VIP, each from an endpoint of that port', async (ctx) => {
    const svc = service(c, 'echo-lb');
    for (const p of svc.ports) {
      const answers: Answered[] = [];
      // A few connections per port, so that a port sent to another port's backends shows.
      for (let i = 0; i < 4; i++) {
        answers.push(
          await probeAnswered(
            ctx,
            c,
            'client',
            { kind: 'http', host: vipOf('echo-lb'), port: p.port, path: '/hostname' },
            `VIP port ${p.name} ${p.port}`,
          ),
        );
      }
      await expectServedBy(ctx, c, svc, p, answers);
    }
  });

  it('LB-003: externalTrafficPolicy Local: the VIP answers through nodes with an endpoint; through others it is dropped (never refused or reset), every dropped packet counted once under its reason', async (ctx) => {
    const svc = service(c, 'solo-lb-local');
    const vip = vipOf('solo-lb-local');
    const { withBackend, without } = splitNodes(c, svc);
    if (without.length === 0) ctx.skip('needs a node without an endpoint');
    try {
      for (const node of withBackend) {
        await c.routeVia(vip, [node.name]);
        await expectAnswer(
          ctx,
          c,
          'client',
          { kind: 'http', host: vip, port: 80, path: '/hostname' },
          `VIP ${vip} via ${node.name}`,
        );
      }
      for (const node of without) {
        await c.routeVia(vip, [node.name]);
        await expectDroppedLocally(
          ctx,
          c,
          'client',
          node.name,
          { kind: 'http', host: vip, port: 80, path: '/hostname' },
          { protocol: 'TCP', ip: vip, port: 80 },
          `VIP ${vip} via ${node.name} (no local endpoint)`,
        );
      }
    } finally {
      await c.routeVia(vip, undefined);
    }
  });

  it('LB-004: ClusterIP -> NodePort -> LoadBalancer -> ClusterIP transitions take effect and leave no stale frontend', async (ctx) => {
    const name = 'morph';
    const nodePort = 30086;
    const node = c.topology().nodes[0]!;
    const pod = c.topology().pods.find((p) => p.labels.app === 'echo')!;
    const from = `${pod.namespace}/${pod.name}`;
    try {
      await c.apply([morphService(name, 'ClusterIP', nodePort)]);
      const clusterIP = service(c, name).clusterIP;
      await expectAnswer(
        ctx,
        c,
        from,
        { kind: 'http', host: clusterIP, port: 80, path: '/hostname' },
        `ClusterIP ${clusterIP}`,
      );

      await c.apply([morphService(name, 'NodePort', nodePort)]);
      if (nodePortOf(service(c, name)) !== nodePort) throw new Error('nodePort not honoured');
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: node.ip, port: nodePort, path: '/hostname' },
        `NodePort ${node.ip}:${nodePort}`,
      );

      await c.apply([morphService(name, 'LoadBalancer', nodePort)]);
      const vip = vipOf(name);
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: vip, port: 80, path: '/hostname' },
        `VIP ${vip}`,
      );
      // Keep the client's route to the old VIP so that a stale frontend would still be reached.
      await c.routeVia(vip, [node.name]);

      await c.apply([morphService(name, 'ClusterIP', nodePort)]);
      await expectAnswer(
        ctx,
        c,
        from,
        { kind: 'http', host: clusterIP, port: 80, path: '/hostname' },
        `ClusterIP ${clusterIP} after the round trip`,
      );
      await expectNoAnswer(
        ctx,
        c,
        'client',
        { kind: 'tcp', host: node.ip, port: nodePort, timeoutMs: 1000 },
        ['refused', 'timeout'],
        `old NodePort ${node.ip}:${nodePort}`,
      );
      await expectNoAnswer(
        ctx,
        c,
        'client',
        { kind: 'tcp', host: vip, port: 80, timeoutMs: 1000 },
        ['refused', 'timeout', 'unreachable'],
        `old VIP ${vip} via ${node.name}`,
      );
      await c.routeVia(vip, undefined);

      const stale = (await c.frontends()).filter(
        (f) => (f.port === nodePort && f.kind === 'nodeport') || f.ip === vip,
      );
      recordEvidence(ctx, {
        kind: 'text',
        label: 'frontends for the old NodePort or VIP',
        text: stale.map((f) => JSON.stringify(f)).join('\n') || 'none',
      });
      if (stale.length > 0) {
        throw new ConformanceFailure('stale frontends remain after the Service went back to ClusterIP', {
          expected: `no frontend for nodePort ${nodePort} or VIP ${vip}`,
          seen: stale.map((f) => `${f.node}: ${f.ip ?? '*'}:${f.port}/${f.protocol} (${f.kind})`).join('; '),
          where: `dataplane frontends (${c.dataplaneMode()})`,
        });
      }
    } finally {
      await c.delete([morphService(name, 'ClusterIP', nodePort)]);
    }
  });

  it('LB-005: sessionAffinity ClientIP on a LoadBalancer VIP: each client sticks to one endpoint, two clients are balanced independently, each with its own entry in the kernel affinity map, within bpfMapSizeNATAffinity', async (ctx) => {
    const clients = c.topology().clients.map((x) => x.name);
    if (clients.length < 2) ctx.skip('needs two external clients');
    const entry = c.topology().nodes[0]!;
    const obj = appService('sticky-lb', 'echo', { type: 'LoadBalancer', affinitySeconds: 0 });
    let vip: string | undefined;
    try {
      await c.apply([obj]);
      const svc = service(c, 'sticky-lb');
      vip = vipOf('sticky-lb');
      // One way in, so that one node's kernel holds the clients' affinity.
      await c.routeVia(vip, [entry.name]);
      const where = `VIP ${vip}:80 via ${entry.name} (sticky-lb, sessionAffinity ClientIP)`;
      const req = { kind: 'http' as const, host: vip, port: 80, path: '/hostname' };
      const stuck = await expectSticky(ctx, c, svc, servicePort(svc), clients.slice(0, 2), req, where);
      await expectAffinityEntries(ctx, c, entry.name, { addr: vip, port: 80, protocol: 'TCP' }, stuck);
    } finally {
      if (vip) await c.routeVia(vip, undefined);
      await c.delete([obj]);
    }
  });
});
