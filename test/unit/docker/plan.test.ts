import { describe, expect, it } from 'vitest';
import {
  CLIENT_LINES,
  containerName,
  NODE_NAT_BUILTINS,
  NODE_SUBNET,
  networkName,
  nodeRouteLines,
  planDockerTopology,
  provisionSpec,
  RUN_LABEL,
} from '../../../src/cluster/docker/plan.ts';
import { planTopology } from '../../../src/cluster/netns/plan.ts';

describe('docker plan', () => {
  const t = planDockerTopology('abc123', { nodes: 3, clients: 2 });

  it('keeps kind’s address plan and names, with containers as the places', () => {
    const netns = planTopology({ runId: 'abc123', nodes: 3, clients: 2 });
    expect(t.provider).toBe('docker');
    expect(t.nodes.map((n) => [n.name, n.ip, n.podCidr])).toEqual(
      netns.nodes.map((n) => [n.name, n.ip, n.podCidr]),
    );
    expect(t.clients.map((c) => [c.name, c.ip])).toEqual(netns.clients.map((c) => [c.name, c.ip]));
    expect(t.nodes.map((n) => n.where)).toEqual([
      'container dpc-abc123-control-plane',
      'container dpc-abc123-worker',
      'container dpc-abc123-worker2',
    ]);
    expect(t.network).toBe(`docker network dpc-abc123 (${NODE_SUBNET})`);
  });

  it('names containers and the network with the run id, so that runs on one engine never clash', () => {
    expect(containerName('abc123', 'dpc-worker')).toBe('dpc-abc123-worker');
    expect(containerName('abc123', 'client2')).toBe('dpc-abc123-client2');
    expect(containerName('def456', 'dpc-worker')).not.toBe(containerName('abc123', 'dpc-worker'));
    expect(networkName('abc123')).toBe('dpc-abc123');
  });

  it('starts every container on the run’s network, labelled with the run, at the planned address', () => {
    const spec = provisionSpec(t, 'dpconform/node:x', () => [{ path: '/sys/fs/bpf', readOnly: false }]);
    expect(spec.network).toEqual({
      name: 'dpc-abc123',
      subnet: '172.18.0.0/16',
      gateway: '172.18.0.1',
      labels: { [RUN_LABEL]: 'abc123' },
    });
    expect(spec.containers.map((c) => [c.name, c.hostname, c.ip, c.role])).toEqual([
      ['dpc-abc123-control-plane', 'dpc-control-plane', '172.18.0.2', 'node'],
      ['dpc-abc123-worker', 'dpc-worker', '172.18.0.3', 'node'],
      ['dpc-abc123-worker2', 'dpc-worker2', '172.18.0.4', 'node'],
      ['dpc-abc123-client', 'client', '172.18.1.1', 'client'],
      ['dpc-abc123-client2', 'client2', '172.18.1.2', 'client'],
    ]);
    for (const c of spec.containers) expect(c.labels[RUN_LABEL]).toBe('abc123');
  });

  it('makes nodes routers without reverse-path filtering and clients ECMP-hashing by port', () => {
    const spec = provisionSpec(t, 'img', () => []);
    const node = spec.containers.find((c) => c.role === 'node')!;
    const client = spec.containers.find((c) => c.role === 'client')!;
    expect(node.sysctls).toMatchObject({
      'net.ipv4.ip_forward': '1',
      'net.ipv4.conf.all.rp_filter': '0',
      'net.ipv4.icmp_ratelimit': '0',
    });
    expect(client.sysctls).toMatchObject({ 'net.ipv4.fib_multipath_hash_policy': '1' });
    expect(client.binds).toEqual([]);
  });

  it('routes each node to the other nodes’ pods natively, never to its own', () => {
    expect(nodeRouteLines(t, t.nodes[1]!)).toEqual([
      'route replace 10.244.0.0/24 via 172.18.0.2 dev eth0',
      'route replace 10.244.2.0/24 via 172.18.0.4 dev eth0',
    ]);
    expect(CLIENT_LINES).toEqual(['route del default']);
  });

  it('declares every built-in chain of the nat table', () => {
    for (const chain of ['PREROUTING', 'INPUT', 'OUTPUT', 'POSTROUTING'])
      expect(NODE_NAT_BUILTINS).toContain(`:${chain} ACCEPT [0:0]`);
    expect(NODE_NAT_BUILTINS.startsWith('*nat\n')).toBe(true);
    expect(NODE_NAT_BUILTINS.trimEnd().endsWith('COMMIT')).toBe(true);
  });
});
