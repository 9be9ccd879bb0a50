import { describe, expect, it } from 'vitest';
import {
  counterLines,
  ctLines,
  ctStats,
  mapLines,
  natLines,
  renderConntrack,
  renderCounters,
  renderMaps,
  renderNat,
  serviceOf,
  toJson,
} from '../../../src/cli/inspect.ts';
import type { ServiceState } from '../../../src/k8s/model.ts';

const counter = (iface: string, hook: 'ingress' | 'egress', reason: string, packets: number) => ({
  ifindex: 1,
  iface,
  hook,
  reason,
  packets: BigInt(packets),
});

describe('bpf counters dump', () => {
  const perNode = [
    {
      node: 'dpc-worker',
      data: [
        counter('eth0', 'ingress', 'accepted', 9),
        counter('cali0', 'egress', 'total', 3),
        counter('eth0', 'ingress', 'total', 10),
        counter('eth0', 'ingress', 'dropped: no backend', 1),
      ],
    },
  ];

  it('orders rows by interface, hook and reason code, in Calico-style words', () => {
    const lines = counterLines(perNode);
    expect(lines.map((l) => `${l.iface} ${l.hook} ${l.reason} ${l.packets}`)).toEqual([
      'cali0 egress total 3',
      'eth0 ingress total 10',
      'eth0 ingress accepted 9',
      'eth0 ingress dropped: no backend 1',
    ]);
  });

  it('keeps one interface with --iface and renders aligned columns', () => {
    const text = renderCounters(counterLines(perNode, 'eth0'));
    const rows = text.split('\n');
    expect(rows[0]).toMatch(/^NODE\s+IFACE\s+HOOK\s+REASON\s+PACKETS$/);
    expect(rows).toHaveLength(4);
    expect(rows[1]).toMatch(/^dpc-worker\s+eth0\s+ingress\s+total\s+10$/);
    const col = rows[0]!.indexOf('PACKETS');
    expect(rows.slice(1).every((r) => r.slice(col).trim() !== '')).toBe(true);
    expect(renderCounters([])).toMatch(/no counters/);
  });
});

describe('bpf nat dump', () => {
  const svc: ServiceState = {
    namespace: 'default',
    name: 'echo-nodeport',
    type: 'NodePort',
    clusterIP: '10.96.0.20',
    externalIPs: [],
    externalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 'http', nodePort: 30081 }],
  };
  const nodes = [
    { name: 'dpc-control-plane', ip: '172.18.0.2' },
    { name: 'dpc-worker', ip: '172.18.0.3' },
  ];
  const fe = (addr: string, port: number, svcId: number, count: number, flags = 0) => ({
    key: { addr, port, proto: 'TCP' as const },
    value: { svcId, count, flags },
  });
  const be = (svcId: number, ordinal: number, addr: string, nodeIp: string) => ({
    key: { svcId, ordinal },
    value: { addr, port: 8080, nodeIp },
  });

  it('names the Service of ClusterIP and NodePort frontends', () => {
    expect(serviceOf({ addr: '10.96.0.20', port: 80, proto: 'TCP' }, [svc])).toBe(
      'default/echo-nodeport:http',
    );
    expect(serviceOf({ addr: '0.0.0.0', port: 30081, proto: 'TCP' }, [svc])).toBe(
      'default/echo-nodeport:http',
    );
    expect(serviceOf({ addr: '0.0.0.0', port: 30081, proto: 'UDP' }, [svc])).toBeUndefined();
  });

  it('lists each frontend with its backends in ordinal order and their nodes by name', () => {
    const lines = natLines(
      nodes[1]!,
      [fe('0.0.0.0', 30081, 4, 2, 0x1), fe('10.96.0.20', 80, 3, 2), fe('10.96.0.99', 80, 9, 0)],
      [
        be(3, 1, '10.244.1.5', '172.18.0.3'),
        be(3, 0, '10.244.0.4', '172.18.0.2'),
        be(4, 0, '10.244.1.5', '172.18.0.3'),
      ],
      nodes,
      [svc],
    );
    expect(lines.map((l) => l.frontend)).toEqual([
      '10.96.0.20:80/TCP',
      '10.96.0.99:80/TCP',
      '172.18.0.3:30081/TCP',
    ]);
    expect(lines[0]!.backends.map((b) => `${b.addr}@${b.node}`)).toEqual([
      '10.244.0.4@dpc-control-plane',
      '10.244.1.5@dpc-worker',
    ]);
    expect(lines[2]!.flags).toEqual(['local']);
    const text = renderNat(lines);
    expect(text.split('\n')[0]).toMatch(/^NODE\s+FRONTEND\s+KIND\s+SERVICE\s+FLAGS\s+BACKENDS$/);
    expect(text).toContain('10.244.0.4:8080@dpc-control-plane 10.244.1.5:8080@dpc-worker');
    expect(text).toMatch(/10\.96\.0\.99:80\/TCP\s+ip\s+-\s+-\s+none \(refused\)/);
    expect(renderNat([])).toMatch(/no service frontends/);
  });
});

describe('bpf conntrack', () => {
  const entry = (
    sport: number,
    type: 'fwd' | 'rev',
    proto: 'TCP' | 'UDP',
    flags: number,
    lastSeenNs: bigint,
  ) => ({
    key: { saddr: '172.18.1.1', daddr: '172.18.0.2', sport, dport: 30081, proto },
    value: {
      lastSeenNs,
      type,
      flags,
      natIp: '10.244.1.5',
      natPort: 8080,
      tunIp: '0.0.0.0',
      ordinal: 0,
      svcId: 3,
    },
  });
  const entries = [
    entry(40001, 'fwd', 'TCP', 0x1, 1_000_000_000n),
    entry(40000, 'rev', 'UDP', 0, 3_500_000_000n),
  ];

  it('shows entries sorted with their idle time from the monotonic clock', () => {
    const lines = ctLines('dpc-worker', entries, 4_000_000_000n);
    expect(lines.map((l) => [l.source, l.type, l.idleS, l.flags.join(',')])).toEqual([
      ['172.18.1.1:40000', 'rev', 0.5, ''],
      ['172.18.1.1:40001', 'fwd', 3, 'tunnel-out'],
    ]);
    const text = renderConntrack(lines);
    expect(text).toMatch(
      /172\.18\.1\.1:40001\s+172\.18\.0\.2:30081\s+fwd\s+10\.244\.1\.5:8080\s+-\s+tunnel-out\s+3\.0s/,
    );
  });

  it('sums entries by type, protocol and tunnel against the map size', () => {
    expect(ctStats('n', entries, 512000)).toEqual({
      node: 'n',
      entries: 2,
      max: 512000,
      fwd: 1,
      rev: 1,
      tcp: 1,
      udp: 1,
      tunnelled: 1,
    });
  });
});

describe('bpf maps', () => {
  it('flags a map above 80% but never the config array', () => {
    const lines = mapLines([
      {
        node: 'dpc-worker',
        data: [
          { name: 'cali_v4_nat_fe', entries: 9, maxEntries: 10, ratio: 0.9 },
          { name: 'cali_v4_ct', entries: 8, maxEntries: 10, ratio: 0.8 },
          { name: 'cali_cfg', entries: 1, maxEntries: 1, ratio: 1 },
        ],
      },
    ]);
    expect(lines.map((l) => [l.map, l.percent, l.flagged])).toEqual([
      ['cali_v4_nat_fe', 90, true],
      ['cali_v4_ct', 80, false],
      ['cali_cfg', 100, false],
    ]);
    const text = renderMaps(lines);
    expect(text).toMatch(/cali_v4_nat_fe\s+9\s+10\s+90\.0%\s+! above 80%/);
    expect(text).toMatch(/cali_cfg\s+1\s+1\s+array\s*$/m);
    expect(text).toMatch(/1 map\(s\) above 80%: cali_v4_nat_fe on dpc-worker$/);
  });

  it('turns bigints into JSON numbers', () => {
    expect(JSON.parse(toJson({ p: 5n, big: 2n ** 64n }))).toEqual({ p: 5, big: '18446744073709551616' });
  });
});
