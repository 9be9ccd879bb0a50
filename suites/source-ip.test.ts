/**
 * Client source-IP preservation: the backend's echo server must see the external client's own
 * address through NodePort (Local and Cluster), LoadBalancer and UDP, and a pod's own address
 * through a ClusterIP. In iptables mode kube-proxy SNATs externalTrafficPolicy Cluster traffic to
 * the node; there the suite proves the SNAT happened and reports it as that mode's expected
 * difference (skipped), never as a pass of the eBPF requirement.
 */

import { beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { ConformanceFailure, type EvidenceTarget } from '../src/report/evidence.ts';
import type { ProbeRequest } from '../src/workload/types.ts';
import { addressOf, expectAnswer, expectSource } from './lib/expect.ts';
import { fixture, nodePortOf, service, splitNodes, suiteCluster } from './lib/harness.ts';

let c: Cluster;

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
  await c.apply(fixture('workloads/solo.yaml'));
});

type SkipContext = EvidenceTarget & { skip: (note: string) => never };

/**
 * External traffic with externalTrafficPolicy Cluster: eBPF mode must keep the client's address;
 * iptables mode must show kube-proxy's SNAT to the entry node, and is then skipped as the mode's
 * documented difference.
 */
async function expectClusterPolicySource(
  ctx: SkipContext,
  req: ProbeRequest,
  entryNode: string,
  where: string,
): Promise<void> {
  const client = c.topology().clients[0]!;
  const seen = await expectAnswer(ctx, c, client.name, req, where);
  if (c.dataplaneMode() === 'bpf') {
    expectSource(seen, client.ip, where, where);
    return;
  }
  const entry = c.topology().nodes.find((n) => n.name === entryNode)!;
  if (addressOf(seen) !== entry.ip) {
    throw new ConformanceFailure(
      'iptables mode should SNAT externalTrafficPolicy Cluster traffic as kube-proxy does',
      {
        expected: `source ${entry.ip} (the entry node, kube-proxy MASQUERADE)`,
        seen: `source ${addressOf(seen)}`,
        where,
      },
    );
  }
  ctx.skip(
    `iptables mode: kube-proxy SNATs externalTrafficPolicy Cluster traffic (the backend saw ${entry.ip}, not ${client.ip}); the source-IP requirement is eBPF mode's`,
  );
}

describe('source-ip', () => {
  it('SIP-001: a NodePort with externalTrafficPolicy Local shows the client its own address', async (ctx) => {
    const svc = service(c, 'solo-local');
    const node = splitNodes(c, svc).withBackend[0]!;
    const client = c.topology().clients[0]!;
    const where = `${node.name} ${node.ip}:${nodePortOf(svc)} (eTP Local)`;
    const seen = await expectAnswer(
      ctx,
      c,
      client.name,
      { kind: 'http', host: node.ip, port: nodePortOf(svc), path: '/clientip' },
      where,
    );
    expectSource(seen, client.ip, 'NodePort eTP Local', where);
  });

  it('SIP-002: a NodePort with externalTrafficPolicy Cluster and a remote backend keeps the client address', async (ctx) => {
    const svc = service(c, 'solo-cluster');
    const { without } = splitNodes(c, svc);
    if (without.length === 0) ctx.skip('needs a node without the backend');
    const entry = without[0]!;
    const port = nodePortOf(svc, 'http');
    await expectClusterPolicySource(
      ctx,
      { kind: 'http', host: entry.ip, port, path: '/clientip' },
      entry.name,
      `${entry.name} ${entry.ip}:${port} (eTP Cluster, remote backend)`,
    );
  });

  it('SIP-003: a LoadBalancer VIP keeps the client address', async (ctx) => {
    const svc = service(c, 'solo-cluster');
    const lb = service(c, 'echo-lb');
    const { without } = splitNodes(c, svc);
    const entry = without[0] ?? c.topology().nodes[0]!;
    const vip = lb.loadBalancerIP!;
    await c.routeVia(vip, [entry.name]);
    try {
      await expectClusterPolicySource(
        ctx,
        { kind: 'http', host: vip, port: 80, path: '/clientip' },
        entry.name,
        `VIP ${vip}:80 via ${entry.name}`,
      );
    } finally {
      await c.routeVia(vip, undefined);
    }
  });

  it('SIP-004: a pod reaching a ClusterIP is seen with its own pod address', async (ctx) => {
    const svc = service(c, 'echo-clusterip');
    for (const pod of c.topology().pods.filter((p) => p.labels.app === 'solo')) {
      const where = `${pod.namespace}/${pod.name} -> ${svc.clusterIP}:80`;
      const seen = await expectAnswer(
        ctx,
        c,
        `${pod.namespace}/${pod.name}`,
        { kind: 'http', host: svc.clusterIP, port: 80, path: '/clientip' },
        where,
      );
      expectSource(seen, pod.ip, 'ClusterIP from a pod', where);
    }
  });

  it('SIP-005: a UDP NodePort with a remote backend keeps the client address', async (ctx) => {
    const svc = service(c, 'solo-cluster');
    const { without } = splitNodes(c, svc);
    if (without.length === 0) ctx.skip('needs a node without the backend');
    const entry = without[0]!;
    const port = nodePortOf(svc, 'udp');
    await expectClusterPolicySource(
      ctx,
      { kind: 'udp', host: entry.ip, port, payload: 'clientip' },
      entry.name,
      `${entry.name} ${entry.ip}:${port}/UDP (eTP Cluster, remote backend)`,
    );
  });
});
