/**
 * The eBPF dataplane end to end on a two-node lab, installed by hand: NodePort through the
 * tunnel with the client's address preserved, ClusterIP from a pod (TCP and UDP), refusal of
 * services without endpoints, externalTrafficPolicy Local, a LoadBalancer VIP, connect-time load
 * balancing for a node's own processes, an uninstall that leaves nothing behind, and DSR mode
 * with and without bpfDSROptoutCIDRs.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cgroupPrograms, tcPrograms } from '../../../src/dataplane/bpf/attach.ts';
import { listMaps, mapInfo } from '../../../src/dataplane/bpf/bpftool.ts';
import { type BpfDataplane, createBpfDataplane } from '../../../src/dataplane/bpf/index.ts';
import { CT_FLAG, MAP, VNI_RETURN } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin } from '../../../src/dataplane/bpf/maps.ts';
import { listLinks, listLocalRoutes } from '../../../src/dataplane/bpf/node-kernel.ts';
import type { DataplaneContext, Frontend } from '../../../src/dataplane/types.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import type { ClusterModel, EndpointsState, ServiceState } from '../../../src/k8s/model.ts';
import { type Packet, startCapture } from '../../../src/observe/index.ts';
import type { AgentClient } from '../../../src/workload/agent-client.ts';
import type { ProbeResult } from '../../../src/workload/types.ts';
import { type Lab, startLab } from '../lab.ts';
import { bpfSourceOverride } from './helpers.ts';

const VIP = '172.18.255.200';
let lab: Lab;
let dp: BpfDataplane;
let ctx: DataplaneContext;
/** Agents of the external client and of the pods (pods serve HTTP and UDP on 8080 and 5353). */
let client: AgentClient;
const pods: AgentClient[] = [];
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
  const p1 = lab.pods[1]!.info;
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
    nodes: lab.nodes.map((n) => ({ name: n.name, index: n.index, ip: n.ip, podCidr: n.podCidr })),
    pods: lab.pods.map(({ info }) => ({
      namespace: info.namespace,
      name: info.name,
      labels: { app: 'echo' },
      nodeName: info.nodeName,
      ip: info.ip,
      ports: [{ containerPort: 8080, protocol: 'TCP' as const }],
      hostIface: info.hostIface,
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

/** The external client's address. */
function clientIp(): string {
  return lab.topology.clients[0]!.ip;
}

/** An HTTP GET from an agent; `/clientip` answers the peer as `ip:port`, `/hostname` the server. */
function http(from: AgentClient, host: string, port: number, path = '/clientip', timeoutMs?: number) {
  return from.probe({ kind: 'http', host, port, path, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

/** The address the server saw the request come from, out of a `/clientip` answer. */
function seenFrom(r: ProbeResult): string | undefined {
  return r.ok ? r.body?.replace(/:\d+$/, '') : undefined;
}

/** `src > dst:port vni N`, one VXLAN packet as the capture saw it. */
function vx(src: string, dst: string, vni: number): string {
  return `${src} > ${dst}:4789 vni ${vni}`;
}

/**
 * Runs `fn` while every node captures VXLAN on its interface to the node network, and returns
 * the VXLAN packets they saw (`vx()` form). Every packet between two nodes leaves one of these
 * interfaces and arrives on another, so together they see what crossed the node network.
 */
async function throughTunnel<T>(fn: () => Promise<T>): Promise<{ result: T; seen: string[] }> {
  const started = await Promise.allSettled(
    lab.nodes.map((n) => startCapture({ place: n, iface: n.iface, filter: 'udp port 4789' })),
  );
  const captures = started.flatMap((s) => (s.status === 'fulfilled' ? [s.value] : []));
  const failed = started.find((s) => s.status === 'rejected');
  if (failed) {
    // Half a view of the node network would make "no packet B -> A" meaningless.
    await Promise.all(captures.map((c) => c.stop().catch(() => undefined)));
    throw failed.reason;
  }
  let result: T;
  let packets: Packet[] = [];
  try {
    result = await fn();
  } finally {
    packets = (await Promise.all(captures.map((c) => c.stop()))).flat();
  }
  const seen = packets.flatMap((p) => (p.vxlan ? [`${p.src} > ${p.dst}:${p.dport} vni ${p.vxlan.vni}`] : []));
  return { result, seen: [...new Set(seen)] };
}

/** A client -> node A NodePort request and the VXLAN packets it caused. */
function nodePortThroughTunnel(): Promise<{ result: ProbeResult; seen: string[] }> {
  return throughTunnel(() => http(client, lab.nodes[0]!.ip, 30080));
}

beforeAll(async () => {
  lab = await startLab({ nodes: 2, clients: 1 });
  await lab.provider.routeExternal(lab.topology, [{ ip: VIP, via: [lab.topology.nodes[0]!] }]);
  client = await lab.agent(lab.clients[0]!, []);
  for (const p of lab.pods) pods.push(await lab.agent(p.place, [8080, 5353]));
  ctx = {
    runId: lab.runId,
    nodes: lab.nodes,
    settings: { ...DEFAULT_FELIX_SETTINGS, bpfMapSizeConntrack: 4096 },
    log: (l) => logs.push(l),
  };
  dp = createBpfDataplane(bpfSourceOverride());
  await dp.install(ctx);
  const report = await dp.sync(model());
  expect(report.errors).toEqual([]);
  expect(report.services).toBe(5);
});

afterAll(async () => {
  await dp?.uninstall().catch(() => undefined);
  await lab?.down();
});

describe('eBPF dataplane end to end (Tunnel mode)', () => {
  it('E2E-001 client -> nodeA:NodePort reaches the backend on node B through the tunnel, client IP kept', async () => {
    const [a, b] = lab.nodes;
    const { result, seen } = await throughTunnel(async () => ({
      server: await http(client, a!.ip, 30080, '/hostname'),
      peer: await http(client, a!.ip, 30080),
    }));
    expect(result.server, JSON.stringify(result.server)).toMatchObject({ ok: true });
    expect(result.peer, JSON.stringify(result.peer)).toMatchObject({ ok: true });
    // Independent of our own maps: VXLAN on the wire, A -> B with the ordinal, B -> A with RETURN.
    expect(seen).toContain(vx(a!.ip, b!.ip, 0));
    expect(seen).toContain(vx(b!.ip, a!.ip, VNI_RETURN));
    expect(result.server.body).toBe(lab.pods[1]!.place.name);
    expect(seenFrom(result.peer)).toBe(clientIp());
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
      const r = await http(client, lab.nodes[0]!.ip, 30080);
      expect(r.ok, JSON.stringify(r)).toBe(true);
    }
  });

  it('E2E-003 client -> nodeB:NodePort with the backend on B itself works, client IP kept', async () => {
    const r = await http(client, lab.nodes[1]!.ip, 30080);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(seenFrom(r)).toBe(clientIp());
  });

  it('E2E-004 pod on node A -> ClusterIP (TCP) reaches the backend on B, pod IP kept', async () => {
    const server = await http(pods[0]!, '10.96.0.10', 80, '/hostname');
    expect(server.ok, JSON.stringify(server)).toBe(true);
    expect(server.body).toBe(lab.pods[1]!.place.name);
    const peer = await http(pods[0]!, '10.96.0.10', 80);
    expect(peer.ok, JSON.stringify(peer)).toBe(true);
    expect(seenFrom(peer)).toBe(lab.pods[0]!.info.ip);
  });

  it('E2E-005 pod -> ClusterIP (UDP): the reply comes back from the ClusterIP (reverse NAT)', async () => {
    const p0 = lab.pods[0]!;
    const capture = await startCapture({ place: p0.place, iface: p0.info.iface, filter: 'udp' });
    let r: ProbeResult;
    let packets: Packet[] = [];
    try {
      r = await pods[0]!.probe({ kind: 'udp', host: '10.96.0.12', port: 53, payload: 'hostname' });
    } finally {
      packets = await capture.stop();
    }
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(r.body).toBe(lab.pods[1]!.place.name);
    // A connected UDP socket only accepts the reply if its source is the address it sent to; the
    // capture in the pod shows that source on the wire.
    const reply = packets.find((p) => p.dst === p0.info.ip && p.dport === r.localPort);
    expect(reply && `${reply.src}:${reply.sport}`).toBe('10.96.0.12:53');
  });

  it('E2E-006 a service without endpoints is refused at once, from outside and from a pod', async () => {
    const ext = await http(client, lab.nodes[0]!.ip, 30081);
    expect(ext).toMatchObject({ ok: false, error: 'refused' });
    expect(ext.totalMs).toBeLessThan(1000);
    const pod = await http(pods[0]!, '10.96.0.11', 80);
    expect(pod).toMatchObject({ ok: false, error: 'refused' });
    expect(pod.totalMs).toBeLessThan(1000);
  });

  it('E2E-007 eTP Local: the node with the endpoint answers, the node without drops', async () => {
    const good = await http(client, lab.nodes[1]!.ip, 30082);
    expect(good.ok, JSON.stringify(good)).toBe(true);
    expect(seenFrom(good)).toBe(clientIp());
    const none = await http(client, lab.nodes[0]!.ip, 30082, '/clientip', 1000);
    expect(none).toMatchObject({ ok: false, error: 'timeout' });
    const drops = (await dp.counters(lab.nodes[0]!.name)).find(
      (c) => c.iface === 'eth0' && c.reason === 'dropped: no local endpoint',
    );
    expect(drops?.packets ?? 0n).toBeGreaterThan(0n);
  });

  it('E2E-008 LoadBalancer VIP routed to node A reaches the backend on B, client IP kept', async () => {
    const r = await http(client, VIP, 80);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(seenFrom(r)).toBe(clientIp());
  });

  it("E2E-009 connect-time load balancing: a process in node A's cgroup reaches a ClusterIP", async () => {
    const a = lab.nodes[0]!;
    const inCgroup = await lab.agent(a, [], { cgroup: a.cgroupDir });
    const r = await http(inCgroup, '10.96.0.10', 80);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(seenFrom(r)).toBe(a.ip);
    // Outside the cgroup connect-time balancing does not translate: with
    // bpfHostNetworkedNATWithoutCTLB (Enabled by default) the lo hook NATs the connection, SNATed
    // to the node's address and a bpfPSNATPorts port, since its source was the ClusterIP itself.
    const outsideAgent = await lab.agent(a, []);
    const outside = await http(outsideAgent, '10.96.0.10', 80, '/clientip', 2000);
    expect(outside.ok, JSON.stringify(outside)).toBe(true);
    expect(seenFrom(outside)).toBe(a.ip);
    const port = Number(outside.body?.split(':')[1]);
    expect(port).toBeGreaterThanOrEqual(20000);
    expect(port).toBeLessThanOrEqual(29999);
    // Without it, and without connect-time balancing, nothing translates and the local route refuses.
    const disabled = { ...ctx.settings, bpfHostNetworkedNATWithoutCTLB: 'Disabled' as const };
    expect((await dp.update(disabled)).applied).toBe(true);
    try {
      const refused = await http(outsideAgent, '10.96.0.10', 80, '/clientip', 1000);
      expect(refused.ok).toBe(false);
    } finally {
      await dp.update(ctx.settings);
    }
  });

  it('E2E-010 maps are sized from FelixConfiguration', async () => {
    const a = lab.nodes[0]!;
    const pins = dp.pins(a.name);
    expect((await mapInfo(a, mapPin(pins, MAP.conntrack))).maxEntries).toBe(4096);
    expect((await mapInfo(a, mapPin(pins, MAP.natFrontend))).maxEntries).toBe(
      DEFAULT_FELIX_SETTINGS.bpfMapSizeNATFrontend,
    );
    expect((await mapInfo(a, mapPin(pins, MAP.natAffinity))).maxEntries).toBe(
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
    for (const n of lab.nodes) {
      const fe = await dp.frontends(n.name);
      expect(fe.some((e) => e.key.port === 30080)).toBe(false);
      expect(fe.some((e) => e.key.addr === '10.96.0.10' && e.key.port === 80)).toBe(true);
    }
    const r = await http(client, lab.nodes[0]!.ip, 30080, '/clientip', 1000);
    expect(r).toMatchObject({ ok: false, error: 'refused' });
    await dp.sync(model());
  });

  it('E2E-014 a later process resumes the dataplane: same frontends and attachments, sync and traffic still work', async () => {
    const later = createBpfDataplane(bpfSourceOverride());
    await later.resume!(ctx);
    const key = (f: Frontend) => `${f.node} ${f.kind} ${f.ip ?? ''} ${f.port}/${f.protocol}`;
    const before = (await dp.listFrontends()).map(key).sort();
    for (const n of lab.nodes) {
      expect(before).toContain(`${n.name} nodeport  30080/TCP`);
      expect(before).toContain(`${n.name} ip 10.96.0.12 53/UDP`);
      expect(before).toContain(`${n.name} ip ${VIP} 80/TCP`);
    }
    expect((await later.listFrontends()).map(key).sort()).toEqual(before);
    for (const n of lab.nodes)
      expect(later.attachedInterfaces(n.name)).toEqual(dp.attachedInterfaces(n.name));
    const report = await later.sync(model());
    expect(report.errors).toEqual([]);
    expect((await later.listFrontends()).map(key).sort()).toEqual(before);
    const r = await http(client, lab.nodes[0]!.ip, 30080);
    expect(r.ok, JSON.stringify(r)).toBe(true);
    expect(seenFrom(r)).toBe(clientIp());
  });

  it('E2E-016 growing a map is taken in place: a bigger map holding the same conntrack entries, the programs on their hooks, traffic on', async () => {
    const a = lab.nodes[0]!;
    const pin = () => mapPin(dp.pins(a.name), MAP.conntrack);
    // A flow the grown map must carry over.
    expect((await http(client, a.ip, 30080)).ok).toBe(true);
    const entries = async () => (await dp.conntrack(a.name)).map((e) => JSON.stringify(e.key)).sort();
    const before = await entries();
    const progsBefore = await tcPrograms(a, a.iface, 'ingress');
    const idBefore = (await mapInfo(a, pin())).id;
    const grown = { ...ctx.settings, bpfMapSizeConntrack: 8192 };
    const outcome = await dp.update(grown);
    try {
      expect(outcome).toMatchObject({ applied: true });
      const info = await mapInfo(a, pin());
      expect(info.maxEntries).toBe(8192);
      expect(info.id).not.toBe(idBefore);
      // Every entry the old map held is in the new one (new flows may have added more).
      expect(await entries()).toEqual(expect.arrayContaining(before));
      expect(await tcPrograms(a, a.iface, 'ingress')).toEqual(progsBefore);
      const r = await http(client, a.ip, 30080);
      expect(r.ok, JSON.stringify(r)).toBe(true);
      // A map that would shrink is not taken in place.
      expect((await dp.update({ ...grown, bpfMapSizeConntrack: 4096 })).applied).toBe(false);
    } finally {
      ctx = { ...ctx, settings: grown };
    }
  });

  it('E2E-012 uninstall leaves no program attached, no pin, no map, no vx, no local route', async () => {
    const mapIds = new Set<number>();
    for (const n of lab.nodes) {
      for (const name of Object.values(MAP)) mapIds.add((await mapInfo(n, mapPin(dp.pins(n.name), name))).id);
    }
    await dp.uninstall();
    for (const n of lab.nodes) {
      const links = await listLinks(n);
      expect(links.map((l) => l.name)).not.toContain('vx');
      for (const l of links) {
        expect(await tcPrograms(n, l.name, 'ingress')).toEqual([]);
        expect(await tcPrograms(n, l.name, 'egress')).toEqual([]);
      }
      expect(await listLocalRoutes(n)).toEqual([]);
      expect(await n.fs.exists(n.bpffsDir)).toBe(false);
      // The cgroup is the provider's; the dataplane only attached to it and must have let go.
      expect(await cgroupPrograms(n, n.cgroupDir)).toEqual([]);
    }
    // Map memory is released asynchronously once the last reference goes.
    let left: number[] = [];
    for (let i = 0; i < 50; i++) {
      left = (await listMaps(lab.nodes[0]!)).filter((m) => mapIds.has(m.id)).map((m) => m.id);
      if (left.length === 0) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(left).toEqual([]);
  });
});

describe('eBPF dataplane end to end (DSR mode)', () => {
  it('E2E-013 DSR: the request goes A -> B in the tunnel, the reply leaves B straight to the client', async () => {
    const [a, b] = lab.nodes;
    const dsr = createBpfDataplane(bpfSourceOverride());
    await dsr.install({ ...ctx, settings: { ...ctx.settings, bpfExternalServiceMode: 'DSR' } });
    try {
      expect((await dsr.sync(model())).errors).toEqual([]);
      const { result: r, seen } = await nodePortThroughTunnel();
      expect(r.ok, JSON.stringify(r)).toBe(true);
      expect(seenFrom(r)).toBe(clientIp());
      expect(seen).toContain(vx(a!.ip, b!.ip, 0));
      expect(seen.filter((s) => s.startsWith(`${b!.ip} > ${a!.ip}:4789 `))).toEqual([]);
    } finally {
      await dsr.uninstall();
    }
  });

  it('E2E-015 DSR with the client in bpfDSROptoutCIDRs: the reply returns through A (VNI RETURN); without it, none does', async () => {
    const [a, b] = lab.nodes;
    const forward = vx(a!.ip, b!.ip, 0);
    const back = vx(b!.ip, a!.ip, VNI_RETURN);
    const anyBack = (seen: string[]) => seen.filter((s) => s.startsWith(`${b!.ip} > ${a!.ip}:4789 `));
    const where = `VXLAN seen on ${lab.nodes.map((n) => `${n.iface} in ${n.where}`).join(' and ')}`;
    const settings = {
      ...ctx.settings,
      bpfExternalServiceMode: 'DSR' as const,
      bpfDSROptoutCIDRs: [`${clientIp()}/32`],
    };
    const dsr = createBpfDataplane(bpfSourceOverride());
    await dsr.install({ ...ctx, settings });
    try {
      expect((await dsr.sync(model())).errors).toEqual([]);
      for (const n of lab.nodes) expect(await dsr.dsrOptout(n.name)).toEqual([`${clientIp()}/32`]);
      const out = await nodePortThroughTunnel();
      expect(out.result.ok, JSON.stringify(out.result)).toBe(true);
      expect(seenFrom(out.result)).toBe(clientIp());
      expect(out.seen).toContain(forward);
      expect(out.seen, where).toContain(back);

      // A later process with the list emptied: the client is back on DSR.
      const later = createBpfDataplane(bpfSourceOverride());
      const laterSettings = { ...settings, bpfDSROptoutCIDRs: [] as string[] };
      await later.resume!({ ...ctx, settings: laterSettings });
      for (const n of lab.nodes) expect(await later.dsrOptout(n.name)).toEqual([]);
      const direct = await nodePortThroughTunnel();
      expect(direct.result.ok, JSON.stringify(direct.result)).toBe(true);
      expect(direct.seen).toContain(forward);
      expect(anyBack(direct.seen), where).toEqual([]);

      // The client's /24 at the next sync: Tunnel behaviour again.
      laterSettings.bpfDSROptoutCIDRs = ['172.18.1.0/24'];
      expect((await later.sync(model())).errors).toEqual([]);
      for (const n of lab.nodes) expect(await later.dsrOptout(n.name)).toEqual(['172.18.1.0/24']);
      const again = await nodePortThroughTunnel();
      expect(again.result.ok, JSON.stringify(again.result)).toBe(true);
      expect(again.seen, where).toContain(back);
    } finally {
      await dsr.uninstall();
    }
  });
});
