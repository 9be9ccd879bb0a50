import { describe, expect, it } from 'vitest';
import {
  clientIp,
  nodeIp,
  nodeName,
  nodeNetns,
  podNetns,
  runIdOfNetns,
} from '../../../src/cluster/netns/address-plan.ts';
import {
  fabricLines,
  infraNetns,
  nodeLines,
  planTopology,
  podLines,
  podNodeLines,
  podNodeSysctls,
  vipRouteLine,
} from '../../../src/cluster/netns/plan.ts';
import { isRunId, newRunId } from '../../../src/cluster/run-id.ts';
import { DEFAULT_FELIX_SETTINGS, mapSizeChanges } from '../../../src/k8s/felix-settings.ts';

describe('address plan', () => {
  it('follows kind: nodes from 172.18.0.2, pods from 10.244.<node>.0/24', () => {
    const t = planTopology({ runId: 'abc123', nodes: 3, clients: 2 });
    expect(t.nodes.map((n) => [n.name, n.ip, n.podCidr])).toEqual([
      ['dpc-control-plane', '172.18.0.2', '10.244.0.0/24'],
      ['dpc-worker', '172.18.0.3', '10.244.1.0/24'],
      ['dpc-worker2', '172.18.0.4', '10.244.2.0/24'],
    ]);
    expect(t.clients.map((c) => [c.name, c.ip])).toEqual([
      ['client', '172.18.1.1'],
      ['client2', '172.18.1.2'],
    ]);
    expect(t.serviceCidr).toBe('10.96.0.0/12');
  });

  it('names every namespace with the run prefix, and can read the run back', () => {
    const t = planTopology({ runId: 'abc123', nodes: 20, clients: 1 });
    const names = infraNetns(t);
    expect(names).toHaveLength(22);
    expect(new Set(names).size).toBe(22);
    for (const n of names) expect(runIdOfNetns(n)).toBe('abc123');
    expect(nodeNetns('abc123', nodeName(0))).toBe('dpc-abc123-control-plane');
    expect(podNetns('abc123', 'cali0123456789a')).toBe('dpc-abc123-p-cali0123456789a');
  });

  it('refuses sizes it cannot address', () => {
    expect(() => planTopology({ runId: 'abc123', nodes: 0, clients: 1 })).toThrow(
      '--nodes must be an integer from 1 to 200, got 0',
    );
    expect(() => planTopology({ runId: 'abc123', nodes: 201, clients: 1 })).toThrow(/--nodes/);
    expect(() => planTopology({ runId: 'abc123', nodes: 2, clients: 0 })).toThrow(/--clients/);
    expect(() => nodeIp(200)).toThrow(RangeError);
    expect(() => clientIp(50)).toThrow(RangeError);
  });

  it('makes run ids it recognises', () => {
    const id = newRunId();
    expect(isRunId(id)).toBe(true);
    expect(isRunId('ABC123')).toBe(false);
    expect(runIdOfNetns('other-ns')).toBeUndefined();
  });
});

describe('wiring', () => {
  const t = planTopology({ runId: 'abc123', nodes: 3, clients: 1 });

  it('puts every node and client on the fabric bridge', () => {
    const lines = fabricLines(t);
    expect(lines).toContain('link add n2 type veth peer name eth0 netns dpc-abc123-worker2');
    expect(lines).toContain('link set c0 master br0');
    expect(lines.filter((l) => l.includes('master br0'))).toHaveLength(4);
  });

  it('routes each node natively to the other nodes’ pod CIDRs, never to its own', () => {
    const lines = nodeLines(t, t.nodes[1]!);
    expect(lines).toContain('route add 10.244.0.0/24 via 172.18.0.2 dev eth0');
    expect(lines).toContain('route add 10.244.2.0/24 via 172.18.0.4 dev eth0');
    expect(lines.some((l) => l.includes('10.244.1.0/24'))).toBe(false);
  });

  it('wires a pod Calico style: /32, link-local gateway, proxy ARP without delay', () => {
    const pod = {
      namespace: 'default',
      name: 'web-1',
      nodeName: 'dpc-worker',
      ip: '10.244.1.2',
      labels: {},
      where: 'netns dpc-abc123-p-calia',
      iface: 'eth0',
      hostIface: 'calia',
    };
    expect(podLines(pod)).toEqual([
      'link set lo up',
      'addr add 10.244.1.2/32 dev eth0',
      'link set eth0 up',
      'route add 169.254.1.1 dev eth0 scope link',
      'route add default via 169.254.1.1 dev eth0',
    ]);
    expect(podNodeLines('abc123', pod)).toContain('route add 10.244.1.2/32 dev calia');
    expect(podNodeLines('abc123', pod)).toContain(
      'link add calia type veth peer name eth0 netns dpc-abc123-p-calia',
    );
    expect(podNodeSysctls(pod)).toMatchObject({
      'net.ipv4.conf.calia.proxy_arp': 1,
      'net.ipv4.neigh.calia.proxy_delay': 0,
    });
  });

  it('routes a VIP via one node, several nodes (ECMP), or none', () => {
    expect(vipRouteLine('172.18.255.200', [t.nodes[0]!])).toBe(
      'route replace 172.18.255.200/32 via 172.18.0.2 dev eth0',
    );
    expect(vipRouteLine('172.18.255.200', t.nodes.slice(0, 2))).toBe(
      'route replace 172.18.255.200/32 nexthop via 172.18.0.2 dev eth0 nexthop via 172.18.0.3 dev eth0',
    );
    expect(vipRouteLine('172.18.255.200', [])).toBe('route replace unreachable 172.18.255.200/32');
  });
});

describe('map size changes', () => {
  it('names each bpfMapSize field that changed, old and new', () => {
    const after = {
      ...DEFAULT_FELIX_SETTINGS,
      bpfMapSizeConntrack: 256,
      bpfExternalServiceMode: 'DSR' as const,
    };
    expect(mapSizeChanges(DEFAULT_FELIX_SETTINGS, after)).toEqual(['bpfMapSizeConntrack 512000 -> 256']);
    expect(mapSizeChanges(DEFAULT_FELIX_SETTINGS, { ...DEFAULT_FELIX_SETTINGS })).toEqual([]);
  });
});
