/**
 * The eBPF dataplane end to end on a small netns cluster of its own: NodePort through the
 * tunnel with the client's address preserved, ClusterIP from a pod (TCP and UDP), refusal of
 * services without endpoints, externalTrafficPolicy Local, a LoadBalancer VIP, connect-time load
 * balancing for a node's own processes, an uninstall that leaves nothing behind, and DSR mode
 * with and without bpfDSROptoutCIDRs.
 */
import { readdir } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { tcPrograms } from '../../../src/dataplane/bpf/attach.ts';
import { listMaps, mapInfo } from '../../../src/dataplane/bpf/bpftool.ts';
import { type BpfDataplane, createBpfDataplane } from '../../../src/dataplane/bpf/index.ts';
import { CT_FLAG, MAP, VNI_RETURN } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin } from '../../../src/dataplane/bpf/maps.ts';
import { listLinks, listLocalRoutes } from '../../../src/dataplane/bpf/node-kernel.ts';
import {
  type DataplaneContext,
  DEFAULT_FELIX_SETTINGS,
  type Frontend,
} from '../../../src/dataplane/types.ts';
import type { ClusterModel, EndpointsState, ServiceState } from '../../../src/k8s/model.ts';
import { type Started, start } from '../../../src/sys/exec.ts';
import { bpfSourceOverride, testTag } from './helpers.ts';
import {
  buildTopology,
  destroyTopology,
  type MiniTopology,
  probe,
  routeVip,
  startServer,
} from './topology.ts';

const tag = testTag();
const VIP = '172.18.255.200';
let topo: MiniTopology;
let dp: BpfDataplane;
let ctx: DataplaneContext;
const servers: Started[] = [];
const logs: string[] = [];

function svc(name: string, over: Partial<ServiceState>): ServiceState {
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    clusterIP: '',
    externalIPs: [],
    externalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    ports: [],
    ...over,
  };
}

function model(): ClusterModel {
  const p1 = topo.pods[1]!;
  const onP1 = (service: string, protocol: 'TCP' | 'UDP', port: number, portName = ''): EndpointsState => ({
    namespace: 'default',
    serviceName: service,
    ports: [
      {
        portName,
        protocol,
        port,
        endpoints: [{ ip: p1.ip, nodeName: p1.nodeName, podName: p1.name, ready: true }],
      },
    ],
  });
  return {
    nodes: topo.nodes.map((n) => ({ name: n.name, index: n.index, ip: n.ip, podCidr: n.podCidr })),
    pods: topo.pods.map((p) => ({
      namespace: 'default',
      name: p.name,
      labels: { app: 'echo' },
      nodeName: p.nodeName,
      ip: p.ip,
      ports: [{ containerPort: 8080, protocol: 'TCP' as const }],
      hostIface: p.hostIface,
    })),
    services: [
      svc('web', {
        type: 'NodePort',
        clusterIP: '10.96.0.10',
        ports: [{ name: 'http', protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
      }),
      svc('empty', {
        type: 'NodePort',
        clusterIP: '10.96.0.11',
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
      }),
      svc('dns', { clusterIP: '10.96.0.12', ports: [{ protocol: 'UDP', port: 53, targetPort: 5353 }] }),
      svc('local', {
        type: 'NodePort',
        clusterIP: '10.96.0.13',
        externalTrafficPolicy: 'Local',
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30082 }],
      }),
      svc('lb', {
        type: 'LoadBalancer',
        clusterIP: '10.96.0.14',
        loadBalancerIP: VIP,
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30083 }],
      }),
    ],
    endpoints: [
      onP1('web', 'TCP', 8080, 'http'),
      {
        namespace: 'default',
        serviceName: 'empty',
        ports: [{ portName: '', protocol: 'TCP', port: 8080, endpoints: [] }],
      },
      onP1('dns', 'UDP', 5353),
      onP1('local', 'TCP', 8080),
      onP1('lb', 'TCP', 8080),
    ],
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
}

beforeAll(async () => {
  topo = await buildTopology(tag, 2);
  await routeVip(topo, VIP, topo.nodes[0]!.ip);
  for (const p of topo.pods) servers.push(await startServer(p));
  ctx = {
    runId: tag.slice(4),
    nodes: topo.nodes,
    settings: { ...DEFAULT_FELIX_SETTINGS, bpfMapSizeConntrack: 4096 },
    bpffsDir: `/sys/fs/bpf/${tag}`,
    cgroupDir: `/sys/fs/cgroup/unified/${tag}`,
    log: (l) => logs.push(l),
  };
  dp = createBpfDataplane(bpfSourceOverride());
  await dp.install(ctx);
  const report = await dp.sync(model());
  expect(report.errors).toEqual([]);
  expect(report.services).toBe(5);
});

/** The VXLAN packets seen on the fabric while a client -> node A NodePort request runs. */
async function nodePortThroughFabric(): Promise<{ r: Awaited<ReturnType<typeof probe>>; seen: string }> {
  const capture = start(['tcpdump', '-i', 'br0', '-n', '-l', '--immediate-mode', 'udp port 4789'], {
    netns: topo.fabric,
  });
  await new Promise((res) => setTimeout(res, 500));
  const r = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30080);
  await new Promise((res) => setTimeout(res, 200));
  return { r, seen: (await capture.stop('SIGINT')).stdout };
}

afterAll(async () => {
  for (const s of servers) await s.stop();
  await dp?.uninstall().catch(() => undefined);
  if (topo) await destroyTopology(topo);
});

describe('eBPF dataplane end to end (Tunnel mode)', () => {
  it('E2E-001 client -> nodeA:NodePort reaches the backend on node B through the tunnel, client IP kept', async () => {
    const [a, b] = topo.nodes;
    const capture = start(['tcpdump', '-i', 'br0', '-n', '-l', '--immediate-mode', 'udp port 4789'], {
      netns: topo.fabric,
    });
    await new Promise((res) => setTimeout(res, 500));
    const r = await probe(topo.client.netns, 'http', a!.ip, 30080);
    await new Promise((res) => setTimeout(res, 200));
    const seen = (await capture.stop('SIGINT')).stdout;
    expect(r, JSON.stringify(r)).toMatchObject({ ok: true });
    // Independent of our own maps: VXLAN on the wire, A -> B with the ordinal, B -> A with RETURN.
    expect(seen).toMatch(new RegExp(`${a!.ip}\\.\\d+ > ${b!.ip}\\.4789: VXLAN.*vni 0\\b`));
    expect(seen).toMatch(new RegExp(`${b!.ip}\\.\\d+ > ${a!.ip}\\.4789: VXLAN.*vni ${VNI_RETURN}\\b`));
    expect(JSON.parse(r.body!)).toMatchObject({ server: topo.pods[1]!.name, client: topo.client.ip });
    // Evidence of the path: B holds a conntrack entry of a flow that came from A in the tunnel.
    const ct = await dp.conntrack(b!.name);
    expect(
      ct.some(
        (e) => e.value.type === 'rev' && e.value.flags === CT_FLAG.fromTunnel && e.value.tunIp === a!.ip,
      ),
    ).toBe(true);
    const vxIn = (await dp.counters(b!.name)).find((c) => c.iface === 'vx' && c.reason === 'new connections');
    expect(vxIn?.packets ?? 0n).toBeGreaterThan(0n);
  });

  it('E2E-002 several requests in a row all succeed (conntrack + return path hold up)', async () => {
    for (let i = 0; i < 5; i++) {
      const r = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30080);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });

  it('E2E-003 client -> nodeB:NodePort with the backend on B itself works, client IP kept', async () => {
    const r = await probe(topo.client.netns, 'http', topo.nodes[1]!.ip, 30080);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(JSON.parse(r.body!)).toMatchObject({ client: topo.client.ip });
  });

  it('E2E-004 pod on node A -> ClusterIP (TCP) reaches the backend on B, pod IP kept', async () => {
    const p0 = topo.pods[0]!;
    const r = await probe(p0.netns, 'http', '10.96.0.10', 80);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(JSON.parse(r.body!)).toMatchObject({ server: topo.pods[1]!.name, client: p0.ip });
  });

  it('E2E-005 pod -> ClusterIP (UDP): the reply comes back from the ClusterIP (reverse NAT)', async () => {
    const r = await probe(topo.pods[0]!.netns, 'udp', '10.96.0.12', 53);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    // A connected UDP socket only accepts the reply if its source is the address it sent to.
    expect(r.from).toBe('10.96.0.12:53');
  });

  it('E2E-006 a service without endpoints is refused at once, from outside and from a pod', async () => {
    const ext = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30081);
    expect(ext).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(ext.ms).toBeLessThan(1000);
    const pod = await probe(topo.pods[0]!.netns, 'http', '10.96.0.11', 80);
    expect(pod).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    expect(pod.ms).toBeLessThan(1000);
  });

  it('E2E-007 eTP Local: the node with the endpoint answers, the node without drops', async () => {
    const good = await probe(topo.client.netns, 'http', topo.nodes[1]!.ip, 30082);
    expect(good.ok, JSON.stringify(good)).toBe(true);
    expect(JSON.parse(good.body!)).toMatchObject({ client: topo.client.ip });
    const none = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30082, { timeoutMs: 1000 });
    expect(none).toMatchObject({ ok: false, error: 'timeout' });
    const drops = (await dp.counters(topo.nodes[0]!.name)).find(
      (c) => c.iface === 'eth0' && c.reason === 'dropped: no local endpoint',
    );
    expect(drops?.packets ?? 0n).toBeGreaterThan(0n);
  });

  it('E2E-008 LoadBalancer VIP routed to node A reaches the backend on B, client IP kept', async () => {
    const r = await probe(topo.client.netns, 'http', VIP, 80);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(JSON.parse(r.body!)).toMatchObject({ client: topo.client.ip });
  });

  it("E2E-009 connect-time load balancing: a process in node A's cgroup reaches a ClusterIP", async () => {
    const a = topo.nodes[0]!;
    const r = await probe(a.netns, 'http', '10.96.0.10', 80, { cgroup: `${ctx.cgroupDir}/${a.name}` });
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(JSON.parse(r.body!)).toMatchObject({ client: a.ip });
    // Outside the cgroup nothing translates, and the service CIDR is local: refused.
    const outside = await probe(a.netns, 'http', '10.96.0.10', 80, { timeoutMs: 1000 });
    expect(outside.ok).toBe(false);
  });

  it('E2E-010 maps are sized from FelixConfiguration', async () => {
    const pins = dp.pins(topo.nodes[0]!.name);
    expect((await mapInfo(mapPin(pins, MAP.conntrack))).maxEntries).toBe(4096);
    expect((await mapInfo(mapPin(pins, MAP.natFrontend))).maxEntries).toBe(
      DEFAULT_FELIX_SETTINGS.bpfMapSizeNATFrontend,
    );
    expect((await mapInfo(mapPin(pins, MAP.natAffinity))).maxEntries).toBe(
      DEFAULT_FELIX_SETTINGS.bpfMapSizeNATAffinity,
    );
  });

  it('E2E-011 changing NodePort back to ClusterIP leaves no NodePort frontend', async () => {
    const m = model();
    const web = m.services.find((s) => s.name === 'web')!;
    web.type = 'ClusterIP';
    delete web.ports[0]!.nodePort;
    const report = await dp.sync(m);
    expect(report.errors).toEqual([]);
    for (const n of topo.nodes) {
      const fe = await dp.frontends(n.name);
      expect(fe.some((e) => e.key.port === 30080)).toBe(false);
      expect(fe.some((e) => e.key.addr === '10.96.0.10' && e.key.port === 80)).toBe(true);
    }
    const r = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30080, { timeoutMs: 1000 });
    expect(r).toMatchObject({ ok: false, error: 'ECONNREFUSED' });
    await dp.sync(model());
  });

  it('E2E-014 a later process resumes the dataplane: same frontends and attachments, sync and traffic still work', async () => {
    const later = createBpfDataplane(bpfSourceOverride());
    await later.resume!(ctx);
    const key = (f: Frontend) => `${f.node} ${f.kind} ${f.ip ?? ''} ${f.port}/${f.protocol}`;
    const before = (await dp.listFrontends()).map(key).sort();
    for (const n of topo.nodes) {
      expect(before).toContain(`${n.name} nodeport  30080/TCP`);
      expect(before).toContain(`${n.name} ip 10.96.0.12 53/UDP`);
      expect(before).toContain(`${n.name} ip ${VIP} 80/TCP`);
    }
    expect((await later.listFrontends()).map(key).sort()).toEqual(before);
    for (const n of topo.nodes)
      expect(later.attachedInterfaces(n.name)).toEqual(dp.attachedInterfaces(n.name));
    const report = await later.sync(model());
    expect(report.errors).toEqual([]);
    expect((await later.listFrontends()).map(key).sort()).toEqual(before);
    const r = await probe(topo.client.netns, 'http', topo.nodes[0]!.ip, 30080);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(JSON.parse(r.body!)).toMatchObject({ client: topo.client.ip });
  });

  it('E2E-012 uninstall leaves no program attached, no pin, no map, no vx, no local route', async () => {
    const mapIds = new Set<number>();
    for (const n of topo.nodes) {
      for (const name of Object.values(MAP)) mapIds.add((await mapInfo(mapPin(dp.pins(n.name), name))).id);
    }
    await dp.uninstall();
    for (const n of topo.nodes) {
      const links = await listLinks(n.netns);
      expect(links.map((l) => l.name)).not.toContain('vx');
      for (const l of links) {
        expect(await tcPrograms(n.netns, l.name, 'ingress')).toEqual([]);
        expect(await tcPrograms(n.netns, l.name, 'egress')).toEqual([]);
      }
      expect(await listLocalRoutes(n.netns)).toEqual([]);
    }
    await expect(readdir(ctx.bpffsDir)).rejects.toThrow();
    await expect(readdir(ctx.cgroupDir)).rejects.toThrow();
    // Map memory is released asynchronously once the last reference goes.
    let left: number[] = [];
    for (let i = 0; i < 50; i++) {
      left = (await listMaps()).filter((m) => mapIds.has(m.id)).map((m) => m.id);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toEqual([]);
  });
});

describe('eBPF dataplane end to end (DSR mode)', () => {
  it('E2E-013 DSR: the request goes A -> B in the tunnel, the reply leaves B straight to the client', async () => {
    const [a, b] = topo.nodes;
    const dsr = createBpfDataplane(bpfSourceOverride());
    await dsr.install({ ...ctx, settings: { ...ctx.settings, bpfExternalServiceMode: 'DSR' } });
    try {
      expect((await dsr.sync(model())).errors).toEqual([]);
      const capture = start(['tcpdump', '-i', 'br0', '-n', '-l', '--immediate-mode', 'udp port 4789'], {
        netns: topo.fabric,
      });
      await new Promise((res) => setTimeout(res, 500));
      const r = await probe(topo.client.netns, 'http', a!.ip, 30080);
      await new Promise((res) => setTimeout(res, 200));
      const seen = (await capture.stop('SIGINT')).stdout;
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(JSON.parse(r.body!)).toMatchObject({ client: topo.client.ip });
      expect(seen).toMatch(new RegExp(`${a!.ip}\\.\\d+ > ${b!.ip}\\.4789: VXLAN`));
      expect(seen).not.toMatch(new RegExp(`${b!.ip}\\.\\d+ > ${a!.ip}\\.4789: VXLAN`));
    } finally {
      await dsr.uninstall();
    }
  });

  it('E2E-015 DSR with the client in bpfDSROptoutCIDRs: the reply returns through A (VNI RETURN); without it, none does', async () => {
    const [a, b] = topo.nodes;
    const forward = new RegExp(`${a!.ip}\\.\\d+ > ${b!.ip}\\.4789: VXLAN.*vni 0\\b`);
    const back = new RegExp(`${b!.ip}\\.\\d+ > ${a!.ip}\\.4789: VXLAN.*vni ${VNI_RETURN}\\b`);
    const anyBack = new RegExp(`${b!.ip}\\.\\d+ > ${a!.ip}\\.4789: VXLAN`);
    const settings = {
      ...ctx.settings,
      bpfExternalServiceMode: 'DSR' as const,
      bpfDSROptoutCIDRs: [`${topo.client.ip}/32`],
    };
    const dsr = createBpfDataplane(bpfSourceOverride());
    await dsr.install({ ...ctx, settings });
    try {
      expect((await dsr.sync(model())).errors).toEqual([]);
      for (const n of topo.nodes) expect(await dsr.dsrOptout(n.name)).toEqual([`${topo.client.ip}/32`]);
      const out = await nodePortThroughFabric();
      expect(out.r.ok, JSON.stringify(out.r)).toBe(true);
      expect(JSON.parse(out.r.body!)).toMatchObject({ client: topo.client.ip });
      expect(out.seen).toMatch(forward);
      expect(out.seen, `capture on br0 in ${topo.fabric}`).toMatch(back);

      // A later process with the list emptied: the client is back on DSR.
      const later = createBpfDataplane(bpfSourceOverride());
      const laterSettings = { ...settings, bpfDSROptoutCIDRs: [] as string[] };
      await later.resume!({ ...ctx, settings: laterSettings });
      for (const n of topo.nodes) expect(await later.dsrOptout(n.name)).toEqual([]);
      const direct = await nodePortThroughFabric();
      expect(direct.r.ok, JSON.stringify(direct.r)).toBe(true);
      expect(direct.seen).toMatch(forward);
      expect(direct.seen, `capture on br0 in ${topo.fabric}`).not.toMatch(anyBack);

      // The client's /24 at the next sync: Tunnel behaviour again.
      laterSettings.bpfDSROptoutCIDRs = ['172.18.1.0/24'];
      expect((await later.sync(model())).errors).toEqual([]);
      for (const n of topo.nodes) expect(await later.dsrOptout(n.name)).toEqual(['172.18.1.0/24']);
      const again = await nodePortThroughFabric();
      expect(again.r.ok, JSON.stringify(again.r)).toBe(true);
      expect(again.seen, `capture on br0 in ${topo.fabric}`).toMatch(back);
    } finally {
      await dsr.uninstall();
    }
  });
});
