/**
 * The TypeScript encodings against the kernel's own view of the C structs: write an entry with
 * our bytes, read it back through BTF (`bpftool -j map dump` "formatted"), compare field by field.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mapInfo, runBatch } from '../../../src/dataplane/bpf/bpftool.ts';
import {
  encodeBackendKey,
  encodeBackendValue,
  encodeConfig,
  encodeCounterKey,
  encodeCtKey,
  encodeCtValue,
  encodeDsrOptoutKey,
  encodeFrontendKey,
  encodeFrontendValue,
  encodeRouteKey,
  encodeRouteValue,
  encodeU32,
} from '../../../src/dataplane/bpf/encoding.ts';
import { CT_FLAG, FIXED_MAP_SIZE, MAP, SIZE } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin } from '../../../src/dataplane/bpf/maps.ts';
import { type Lab, startLab } from '../lab.ts';
import { type LoadedNode, loadNode } from './helpers.ts';

let lab: Lab;
let node: LoadedNode;

/** A network-order address as BTF prints a __be32 on a little-endian host. */
function be32(ip: string): number {
  const b = ip.split('.').map(Number);
  return ((b[3]! << 24) | (b[2]! << 16) | (b[1]! << 8) | b[0]!) >>> 0;
}

/** A network-order port as BTF prints a __be16 on a little-endian host. */
function be16(port: number): number {
  return ((port & 0xff) << 8) | (port >> 8);
}

async function formatted(map: string): Promise<{ key: unknown; value: unknown }[]> {
  const rows = await node.node.execJson<{ formatted: { key: unknown; value: unknown } }[]>([
    'bpftool',
    '-j',
    'map',
    'dump',
    'pinned',
    mapPin(node.pins, map),
  ]);
  return rows.map((r) => r.formatted);
}

async function put(map: string, key: Uint8Array, value: Uint8Array) {
  await runBatch(node.node, [{ op: 'update', pin: mapPin(node.pins, map), key, value }]);
}

beforeAll(async () => {
  lab = await startLab({ nodes: 1, pods: [] });
  node = await loadNode(lab.nodes[0]!, { test: false });
});

afterAll(async () => {
  await lab?.down();
});

describe('encodings match the C structs (via BTF)', () => {
  it('LAYOUT-001 key and value sizes', async () => {
    const expectSize = async (map: string, key: number, value: number) =>
      expect(await mapInfo(node.node, mapPin(node.pins, map))).toMatchObject({
        keySize: key,
        valueSize: value,
      });
    await expectSize(MAP.natFrontend, SIZE.feKey, SIZE.feVal);
    await expectSize(MAP.natBackend, SIZE.beKey, SIZE.beVal);
    await expectSize(MAP.natAffinity, SIZE.affKey, SIZE.affVal);
    await expectSize(MAP.conntrack, SIZE.ctKey, SIZE.ctVal);
    await expectSize(MAP.routes, SIZE.routeKey, SIZE.routeVal);
    await expectSize(MAP.counters, SIZE.counterKey, SIZE.counterVal);
    await expectSize(MAP.config, 4, SIZE.cfg);
    await expectSize(MAP.ctlbReverse, SIZE.ctlbKey, SIZE.ctlbVal);
    await expectSize(MAP.dsrOptout, SIZE.dsrOptoutKey, SIZE.dsrOptoutVal);
    expect((await mapInfo(node.node, mapPin(node.pins, MAP.dsrOptout))).maxEntries).toBe(
      FIXED_MAP_SIZE.dsrOptout,
    );
    await expectSize(MAP.policyEndpoints, SIZE.policyEndpointKey, SIZE.policyEndpointVal);
    await expectSize(MAP.policyRules, SIZE.policyKey, SIZE.policyVal);
    await expectSize(MAP.policyConntrack, SIZE.policyCtKey, SIZE.policyCtVal);
    expect((await mapInfo(node.node, mapPin(node.pins, MAP.policyEndpoints))).maxEntries).toBe(
      FIXED_MAP_SIZE.policyEndpoints,
    );
    expect((await mapInfo(node.node, mapPin(node.pins, MAP.policyRules))).maxEntries).toBe(
      FIXED_MAP_SIZE.policyRules,
    );
    expect((await mapInfo(node.node, mapPin(node.pins, MAP.policyConntrack))).maxEntries).toBe(
      FIXED_MAP_SIZE.policyConntrack,
    );
  });

  it('LAYOUT-002 frontend and backend fields', async () => {
    await put(
      MAP.natFrontend,
      encodeFrontendKey({ addr: '10.96.1.2', port: 8443, proto: 'UDP' }),
      encodeFrontendValue({ svcId: 70001, count: 513, flags: 3, affinityS: 86400 }),
    );
    expect(await formatted(MAP.natFrontend)).toEqual([
      {
        key: { addr: be32('10.96.1.2'), port: be16(8443), proto: 17, pad: 0 },
        value: { svc_id: 70001, count: 513, flags: 3, affinity_s: 86400 },
      },
    ]);
    await put(
      MAP.natBackend,
      encodeBackendKey({ svcId: 70001, ordinal: 600 }),
      encodeBackendValue({ addr: '10.244.3.4', port: 9090, nodeIp: '172.18.0.7' }),
    );
    expect(await formatted(MAP.natBackend)).toEqual([
      {
        key: { svc_id: 70001, ordinal: 600 },
        value: { addr: be32('10.244.3.4'), port: be16(9090), pad: 0, node_ip: be32('172.18.0.7') },
      },
    ]);
  });

  it('LAYOUT-003 conntrack, route, DSR opt-out, counter and config fields', async () => {
    await put(
      MAP.conntrack,
      encodeCtKey({ saddr: '1.2.3.4', daddr: '5.6.7.8', sport: 1000, dport: 2000, proto: 'TCP' }),
      encodeCtValue({
        lastSeenNs: 123456789n,
        type: 'rev',
        flags: CT_FLAG.fromTunnel,
        natIp: '9.9.9.9',
        natPort: 3000,
        tunIp: '8.8.8.8',
        ordinal: 77,
        svcId: 4242,
        snatIp: '7.7.7.7',
        snatPort: 20005,
      }),
    );
    const [ct] = await formatted(MAP.conntrack);
    expect(ct).toMatchObject({
      key: { saddr: be32('1.2.3.4'), daddr: be32('5.6.7.8'), sport: be16(1000), dport: be16(2000), proto: 6 },
      value: {
        last_seen: 123456789,
        type: 2,
        flags: CT_FLAG.fromTunnel,
        nat_ip: be32('9.9.9.9'),
        nat_port: be16(3000),
        tun_ip: be32('8.8.8.8'),
        ordinal: 77,
        svc_id: 4242,
        snat_ip: be32('7.7.7.7'),
        snat_port: be16(20005),
      },
    });
    await put(
      MAP.routes,
      encodeRouteKey({ cidr: '10.244.2.0/24' }),
      encodeRouteValue({ type: 'remoteWorkload', ifindex: 5, nodeIp: '172.18.0.4' }),
    );
    expect(await formatted(MAP.routes)).toEqual([
      {
        key: { prefixlen: 24, addr: be32('10.244.2.0') },
        value: { type: 2, ifindex: 5, node_ip: be32('172.18.0.4'), pad: 0 },
      },
    ]);
    await put(MAP.dsrOptout, encodeDsrOptoutKey('192.168.7.0/24'), encodeU32(1));
    expect(await formatted(MAP.dsrOptout)).toEqual([
      { key: { prefixlen: 24, addr: be32('192.168.7.0') }, value: 1 },
    ]);
    await put(
      MAP.counters,
      encodeCounterKey({ ifindex: 300, hook: 'egress', reason: 'failed to create conntrack' }),
      new Uint8Array(8),
    );
    expect((await formatted(MAP.counters))[0]?.key).toEqual({ ifindex: 300, hook: 1, reason: 3, pad: 0 });
    await put(
      MAP.config,
      encodeU32(0),
      encodeConfig({
        nodeIp: '172.18.0.2',
        vxIfindex: 11,
        flags: 1,
        tcpTimeoutS: 2,
        udpTimeoutS: 3,
        affinityTimeoutS: 4,
        tunnelMtu: 1450,
        psnatLo: 21000,
        psnatHi: 21009,
        logLevel: 1,
      }),
    );
    expect((await formatted(MAP.config))[0]?.value).toEqual({
      node_ip: be32('172.18.0.2'),
      vx_ifindex: 11,
      flags: 1,
      tcp_timeout_s: 2,
      udp_timeout_s: 3,
      affinity_timeout_s: 4,
      tunnel_mtu: 1450,
      psnat_lo: 21000,
      psnat_hi: 21009,
      log_level: 1,
      pad: 0,
    });
  });
});
