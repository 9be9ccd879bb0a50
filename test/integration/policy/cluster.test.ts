/**
 * NetworkPolicy end to end on a whole cluster running the iptables dataplane: objects applied
 * to the control plane, probes from an external client through a NodePort.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startCluster } from '../../../src/cluster/providers.ts';
import type { Cluster } from '../../../src/cluster/types.ts';

const DENY = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-echo}
spec:
  podSelector: {matchLabels: {app: echo}}
  policyTypes: [Ingress]
`;

const ALLOW_CLIENT = `apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-client}
spec:
  podSelector: {matchLabels: {app: echo}}
  ingress: [{from: [{ipBlock: {cidr: 172.18.1.1/32}}]}]
`;

let c: Cluster;

beforeAll(async () => {
  c = await startCluster('netns', { nodes: 2, dataplane: 'iptables' });
  await c.apply(new URL('../../../fixtures/workloads/echo.yaml', import.meta.url).pathname);
});

afterAll(async () => {
  await c?.down();
});

describe('NetworkPolicy on a netns cluster (iptables)', () => {
  // externalTrafficPolicy Local keeps the client's address, so an ipBlock can name the client.
  const req = { kind: 'http' as const, host: '172.18.0.2', port: 30082, path: '/hostname', timeoutMs: 1000 };

  it('default-deny ingress drops a NodePort connection (times out, not refused); an ipBlock for the client admits it again', async () => {
    expect((await c.probe('client', req)).ok).toBe(true);
    await c.apply(DENY);
    const denied = await c.probe('client', req);
    expect(denied.error).toBe('timeout');
    await c.apply(ALLOW_CLIENT);
    expect((await c.probe('client', req)).ok).toBe(true);
    await c.delete(DENY);
    await c.delete(ALLOW_CLIENT);
    expect((await c.probe('client', req)).ok).toBe(true);
  });
});
