/**
 * The programs themselves, run with BPF_PROG_TEST_RUN on crafted frames: service NAT, reverse
 * NAT, conntrack, the no-endpoint and eTP Local paths, and both ends of the NodePort tunnel.
 * Uses the test build (-DDPC_TEST): its vx hook reads the "received" tunnel key from a map and
 * every send records its tunnel key / redirect target, which test_run cannot show. Each object
 * is loaded on a lab node and run there, so the paths that forward with a FIB lookup see that
 * node's FIB, which knows the clients on the node network.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progRun, TC_ACT } from '../../../src/dataplane/bpf/bpftool.ts';
import { CFG_FLAG, CT_FLAG, FE_FLAG, PROG, VNI_RETURN } from '../../../src/dataplane/bpf/layout.ts';
import { type CounterRow, progPin, readConntrack, readCounters } from '../../../src/dataplane/bpf/maps.ts';
import { buildPacket, type PacketSpec, parsePacket, TCP_FLAG } from '../../../src/dataplane/bpf/packet.ts';
import { type Lab, startLab } from '../lab.ts';
import { hostOrder, ifindexOf, type LoadedNode, loadNode, takeSent, testConfig } from './helpers.ts';

const A = '172.18.0.2';
const B = '172.18.0.3';
const CLIENT = '172.18.1.10';
/** A second external client, outside the opt-out CIDR the DSR tests use. */
const CLIENT2 = '172.18.2.20';
const POD = '10.244.0.5';
const BE_B = '10.244.1.7';
const BE_A = '10.244.0.9';
const CIP = '10.96.0.10';
/** test_run hands the program a packet "on" the loopback device. */
const LO = 1;
const VX_A = 77;
const VX_B = 78;

let lab: Lab;
let a: LoadedNode;
let b: LoadedNode;
/** The interfaces A's and B's FIBs send the node network (and so the clients) out of. */
let ethA = 0;
let ethB = 0;

function cfg(nodeIp: string, vx: number, flags = 0) {
  return testConfig(nodeIp, vx, { flags });
}

async function runOn(node: LoadedNode, prog: string, spec: PacketSpec) {
  const input = buildPacket(spec);
  const r = await progRun(node.node, progPin(node.pins, prog), input);
  return { ...r, input, out: parsePacket(r.dataOut) };
}

function counter(rows: CounterRow[], reason: string, hook = 'ingress'): bigint {
  return rows.filter((r) => r.reason === reason && r.hook === hook).reduce((s, r) => s + r.packets, 0n);
}

beforeAll(async () => {
  lab = await startLab({ nodes: 2, pods: [] });
  // The packets name the nodes by the lab's own addresses.
  expect(lab.nodes.map((n) => n.ip)).toEqual([A, B]);
  a = await loadNode(lab.nodes[0]!);
  b = await loadNode(lab.nodes[1]!);
  await a.config(cfg(A, VX_A));
  await b.config(cfg(B, VX_B));
  await a.route({ cidr: `${POD}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: A });
  await a.route({ cidr: `${BE_A}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: A });
  await a.route({ cidr: `${A}/32` }, { type: 'localHost', ifindex: 0, nodeIp: A });
  await a.route({ cidr: `${B}/32` }, { type: 'remoteHost', ifindex: 0, nodeIp: B });
  await b.route({ cidr: `${BE_B}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: B });
  await b.route({ cidr: `${A}/32` }, { type: 'remoteHost', ifindex: 0, nodeIp: A });
  await b.route({ cidr: `${B}/32` }, { type: 'localHost', ifindex: 0, nodeIp: B });

  ethA = await ifindexOf(a.node, a.node.iface);
  ethB = await ifindexOf(b.node, b.node.iface);
});

afterAll(async () => {
  await lab?.down();
});

describe('ClusterIP on the workload hooks', () => {
  beforeAll(async () => {
    await a.frontend({ addr: CIP, port: 80, proto: 'TCP' }, { svcId: 1, count: 1, flags: 0 });
    await a.backend({ svcId: 1, ordinal: 0 }, { addr: BE_B, port: 8080, nodeIp: B });
    await a.frontend({ addr: CIP, port: 53, proto: 'UDP' }, { svcId: 2, count: 1, flags: 0 });
    await a.backend({ svcId: 2, ordinal: 0 }, { addr: BE_B, port: 5353, nodeIp: B });
  });

  it('BPF-NAT-001 rewrites a pod->ClusterIP packet to the backend, checksums valid', async () => {
    const r = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 40000,
      dport: 80,
      payload: 'hello',
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(r.out).toMatchObject({ src: POD, sport: 40000, dst: BE_B, dport: 8080 });
    expect(r.out.ipChecksumOk).toBe(true);
    expect(r.out.l4ChecksumOk).toBe(true);
    expect(new TextDecoder().decode(r.out.payload)).toBe('hello');
    const ct = await readConntrack(a.node, a.pins);
    const fwd = ct.find((e) => e.key.saddr === POD && e.key.sport === 40000 && e.key.daddr === CIP);
    const rev = ct.find((e) => e.key.saddr === BE_B && e.key.daddr === POD && e.key.dport === 40000);
    expect(fwd?.value).toMatchObject({ type: 'fwd', natIp: BE_B, natPort: 8080, flags: 0 });
    expect(rev?.value).toMatchObject({ type: 'rev', natIp: CIP, natPort: 80 });
  });

  it('BPF-NAT-002 reverse-NATs the reply on the client veth egress', async () => {
    const r = await runOn(a, PROG.workloadEgress, {
      src: BE_B,
      dst: POD,
      proto: 'TCP',
      sport: 8080,
      dport: 40000,
      tcpFlags: TCP_FLAG.syn | TCP_FLAG.ack,
      payload: 'reply',
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(r.out).toMatchObject({ src: CIP, sport: 80, dst: POD, dport: 40000 });
    expect(r.out.ipChecksumOk && r.out.l4ChecksumOk).toBe(true);
  });

  it('BPF-NAT-003 leaves a packet of no known flow alone on egress', async () => {
    const r = await runOn(a, PROG.workloadEgress, {
      src: BE_B,
      dst: POD,
      proto: 'TCP',
      sport: 8080,
      dport: 40001,
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(Buffer.from(r.dataOut).equals(Buffer.from(r.input))).toBe(true);
  });

  it('BPF-NAT-004 NATs UDP with a valid checksum, and keeps a zero UDP checksum zero', async () => {
    const withSum = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'UDP',
      sport: 41000,
      dport: 53,
      payload: 'q',
    });
    expect(withSum.retval).toBe(TC_ACT.ok);
    expect(withSum.out).toMatchObject({ dst: BE_B, dport: 5353 });
    expect(withSum.out.l4Checksum).not.toBe(0);
    expect(withSum.out.l4ChecksumOk && withSum.out.ipChecksumOk).toBe(true);

    const zero = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'UDP',
      sport: 41001,
      dport: 53,
      payload: 'q',
      udpZeroChecksum: true,
    });
    expect(zero.out).toMatchObject({ dst: BE_B, dport: 5353, l4Checksum: 0 });
    expect(zero.out.ipChecksumOk).toBe(true);
  });

  it('BPF-CT-001 a flow keeps its backend (conntrack miss, then hits); new flows spread', async () => {
    await a.frontend({ addr: CIP, port: 81, proto: 'TCP' }, { svcId: 3, count: 2, flags: 0 });
    await a.backend({ svcId: 3, ordinal: 0 }, { addr: '10.244.1.20', port: 9000, nodeIp: B });
    await a.backend({ svcId: 3, ordinal: 1 }, { addr: '10.244.1.21', port: 9000, nodeIp: B });
    const flow = { src: POD, dst: CIP, proto: 'TCP' as const, sport: 42000, dport: 81 };
    const seen = new Set<string>();
    seen.add((await runOn(a, PROG.workloadIngress, flow)).out.dst);
    for (let i = 0; i < 12; i++) {
      seen.add((await runOn(a, PROG.workloadIngress, { ...flow, tcpFlags: TCP_FLAG.ack })).out.dst);
    }
    expect(seen.size).toBe(1);
    const spread = new Set<string>();
    for (let p = 42001; p < 42025; p++) {
      spread.add((await runOn(a, PROG.workloadIngress, { ...flow, sport: p })).out.dst);
    }
    // Without this, "always the same backend" above would prove nothing.
    expect(spread).toEqual(new Set(['10.244.1.20', '10.244.1.21']));
  });

  it('BPF-CT-002 a fresh conntrack entry wins over the frontend; a stale one is a miss', async () => {
    // Ordinal 1 is in the backend map but beyond the frontend's count: only conntrack can pick it.
    await a.frontend({ addr: CIP, port: 82, proto: 'TCP' }, { svcId: 4, count: 1, flags: 0 });
    await a.backend({ svcId: 4, ordinal: 0 }, { addr: '10.244.1.30', port: 9000, nodeIp: B });
    await a.backend({ svcId: 4, ordinal: 1 }, { addr: '10.244.1.31', port: 9001, nodeIp: B });
    const key = { saddr: POD, daddr: CIP, sport: 43000, dport: 82, proto: 'TCP' as const };
    const entry = {
      type: 'fwd' as const,
      flags: 0,
      natIp: '10.244.1.31',
      natPort: 9001,
      tunIp: B,
      ordinal: 1,
      svcId: 4,
    };
    const flow = {
      src: POD,
      dst: CIP,
      proto: 'TCP' as const,
      sport: 43000,
      dport: 82,
      tcpFlags: TCP_FLAG.ack,
    };

    // bpf_ktime_get_ns and hrtime are both CLOCK_MONOTONIC.
    await a.conntrack(key, { ...entry, lastSeenNs: process.hrtime.bigint() });
    expect((await runOn(a, PROG.workloadIngress, flow)).out).toMatchObject({
      dst: '10.244.1.31',
      dport: 9001,
    });

    await a.conntrack(key, { ...entry, lastSeenNs: process.hrtime.bigint() - 301n * 1_000_000_000n });
    expect((await runOn(a, PROG.workloadIngress, flow)).out).toMatchObject({
      dst: '10.244.1.30',
      dport: 9000,
    });
  });

  it('BPF-CT-003 a TCP SYN on a live tuple is a new connection and is balanced afresh', async () => {
    await a.frontend({ addr: CIP, port: 86, proto: 'TCP' }, { svcId: 8, count: 1, flags: 0 });
    await a.backend({ svcId: 8, ordinal: 0 }, { addr: '10.244.1.50', port: 9000, nodeIp: B });
    await a.backend({ svcId: 8, ordinal: 1 }, { addr: '10.244.1.51', port: 9000, nodeIp: B });
    const live = { lastSeenNs: process.hrtime.bigint(), type: 'fwd' as const, flags: 0, tunIp: B };
    await a.conntrack(
      { saddr: POD, daddr: CIP, sport: 46000, dport: 86, proto: 'TCP' },
      { ...live, natIp: '10.244.1.51', natPort: 9000, ordinal: 1, svcId: 8 },
    );
    const flow = { src: POD, dst: CIP, proto: 'TCP' as const, sport: 46000, dport: 86 };
    const ack = await runOn(a, PROG.workloadIngress, { ...flow, tcpFlags: TCP_FLAG.ack });
    expect(ack.out.dst).toBe('10.244.1.51');
    const syn = await runOn(a, PROG.workloadIngress, { ...flow, tcpFlags: TCP_FLAG.syn });
    expect(syn.out.dst).toBe('10.244.1.50');
  });

  it('BPF-CT-004 an entry whose backend is gone (service deleted, ClusterIP reused) is a miss', async () => {
    await a.frontend({ addr: CIP, port: 87, proto: 'TCP' }, { svcId: 9, count: 1, flags: 0 });
    await a.backend({ svcId: 9, ordinal: 0 }, { addr: '10.244.1.60', port: 9000, nodeIp: B });
    const live = { lastSeenNs: process.hrtime.bigint(), type: 'fwd' as const, flags: 0, tunIp: B };
    await a.conntrack(
      { saddr: POD, daddr: CIP, sport: 47000, dport: 87, proto: 'TCP' },
      { ...live, natIp: '10.244.1.99', natPort: 9000, ordinal: 0, svcId: 99 },
    );
    const flow = {
      src: POD,
      dst: CIP,
      proto: 'TCP' as const,
      sport: 47000,
      dport: 87,
      tcpFlags: TCP_FLAG.ack,
    };
    expect((await runOn(a, PROG.workloadIngress, flow)).out).toMatchObject({
      dst: '10.244.1.60',
      dport: 9000,
    });
  });

  it('BPF-HP-001 a pod that is one of several backends is never balanced to itself', async () => {
    await a.frontend({ addr: CIP, port: 88, proto: 'TCP' }, { svcId: 13, count: 2, flags: 0 });
    await a.backend({ svcId: 13, ordinal: 0 }, { addr: POD, port: 8080, nodeIp: A });
    await a.backend({ svcId: 13, ordinal: 1 }, { addr: '10.244.1.70', port: 8080, nodeIp: B });
    const picked = new Set<string>();
    for (let p = 48000; p < 48016; p++) {
      picked.add(
        (await runOn(a, PROG.workloadIngress, { src: POD, dst: CIP, proto: 'TCP', sport: p, dport: 88 })).out
          .dst,
      );
    }
    expect(picked).toEqual(new Set(['10.244.1.70']));
    const ct = await readConntrack(a.node, a.pins);
    const entries = ct.filter((e) => e.key.sport >= 48000 && e.key.sport < 48016 && e.value.type === 'fwd');
    expect(entries).toHaveLength(16);
    // Each conntrack entry names the ordinal actually used, so that it stays valid.
    for (const e of entries) expect(e.value).toMatchObject({ ordinal: 1, svcId: 13, natIp: '10.244.1.70' });
  });

  it('BPF-SVC-001 a service without endpoints passes un-NATed so that the node refuses it', async () => {
    await a.frontend({ addr: CIP, port: 83, proto: 'TCP' }, { svcId: 5, count: 0, flags: 0 });
    const r = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 44000,
      dport: 83,
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(Buffer.from(r.dataOut).equals(Buffer.from(r.input))).toBe(true);
  });

  it('BPF-SVC-002 eTP Local without a local endpoint drops and counts it', async () => {
    await a.frontend({ addr: CIP, port: 84, proto: 'TCP' }, { svcId: 6, count: 0, flags: FE_FLAG.local });
    const before = counter(await readCounters(a.node, a.pins), 'dropped: no local endpoint');
    const r = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 44001,
      dport: 84,
    });
    expect(r.retval).toBe(TC_ACT.shot);
    expect(counter(await readCounters(a.node, a.pins), 'dropped: no local endpoint')).toBe(before + 1n);
  });

  it('BPF-RT-001 a workload sending from an address not routed to it is dropped as unknown route', async () => {
    const before = counter(await readCounters(a.node, a.pins), 'packets with unknown route');
    const r = await runOn(a, PROG.workloadIngress, {
      src: '10.244.0.99',
      dst: CIP,
      proto: 'TCP',
      sport: 44002,
      dport: 80,
    });
    expect(r.retval).toBe(TC_ACT.shot);
    expect(counter(await readCounters(a.node, a.pins), 'packets with unknown route')).toBe(before + 1n);
  });

  it('BPF-AFF-001 sessionAffinity ClientIP sends every flow of a client to one backend', async () => {
    await a.frontend({ addr: CIP, port: 85, proto: 'TCP' }, { svcId: 7, count: 2, flags: FE_FLAG.affinity });
    await a.backend({ svcId: 7, ordinal: 0 }, { addr: '10.244.1.40', port: 9000, nodeIp: B });
    await a.backend({ svcId: 7, ordinal: 1 }, { addr: '10.244.1.41', port: 9000, nodeIp: B });
    const seen = new Set<string>();
    for (let p = 45000; p < 45016; p++) {
      seen.add(
        (await runOn(a, PROG.workloadIngress, { src: POD, dst: CIP, proto: 'TCP', sport: p, dport: 85 })).out
          .dst,
      );
    }
    expect(seen.size).toBe(1);
  });
});

describe('NodePort in Tunnel mode', () => {
  const NP = 30080;
  const flow = { src: CLIENT, dst: A, proto: 'TCP' as const, sport: 50000, dport: NP, payload: 'GET /' };
  const reply = { src: BE_B, dst: CLIENT, proto: 'TCP' as const, sport: 8080, dport: 50000, payload: 'OK' };

  beforeAll(async () => {
    for (const n of [a, b]) {
      await n.frontend({ addr: '0.0.0.0', port: NP, proto: 'TCP' }, { svcId: 10, count: 1, flags: 0 });
      await n.backend({ svcId: 10, ordinal: 0 }, { addr: BE_B, port: 8080, nodeIp: B });
    }
    await takeSent(a);
    await takeSent(b);
  });

  it('BPF-TUN-001 frontend node: a NodePort hit for a remote backend goes to its node in the tunnel', async () => {
    const r = await runOn(a, PROG.hostIngress, flow);
    expect(r.retval).toBe(TC_ACT.redirect);
    // The original packet travels (the backend node does the NAT), one router hop further on.
    expect(Buffer.from(r.dataOut).equals(Buffer.from(buildPacket({ ...flow, ttl: 63 })))).toBe(true);
    expect(await takeSent(a)).toEqual({
      remoteHostOrder: hostOrder(B),
      vni: 0,
      ifindex: VX_A,
      calls: 1,
    });
    const ct = await readConntrack(a.node, a.pins);
    const fwd = ct.find((e) => e.key.saddr === CLIENT && e.key.sport === 50000);
    expect(fwd?.value).toMatchObject({
      type: 'fwd',
      flags: CT_FLAG.tunnelOut,
      tunIp: B,
      natIp: BE_B,
      ordinal: 0,
    });
  });

  it('BPF-TUN-002 frontend node: later packets of the flow follow conntrack, not the frontend map', async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP, proto: 'TCP' }, { svcId: 10, count: 0, flags: 0 });
    try {
      const r = await runOn(a, PROG.hostIngress, { ...flow, tcpFlags: TCP_FLAG.ack });
      expect(r.retval).toBe(TC_ACT.redirect);
      expect(await takeSent(a)).toMatchObject({ remoteHostOrder: hostOrder(B), vni: 0 });
    } finally {
      await a.frontend({ addr: '0.0.0.0', port: NP, proto: 'TCP' }, { svcId: 10, count: 1, flags: 0 });
    }
  });

  it('BPF-TUN-003 a NodePort answers only on the node address, not on any address', async () => {
    const r = await runOn(a, PROG.hostIngress, { ...flow, dst: '172.18.0.99', sport: 50001 });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(Buffer.from(r.dataOut).equals(Buffer.from(r.input))).toBe(true);
  });

  it('BPF-TUN-004 backend node: the tunnelled packet is DNATed by the VNI and handed to the backend veth', async () => {
    await b.tunnelIn(hostOrder(A), 0);
    const r = await runOn(b, PROG.vxlanIngress, flow);
    expect(r.retval).toBe(TC_ACT.redirect);
    expect(r.out).toMatchObject({ src: CLIENT, sport: 50000, dst: BE_B, dport: 8080 });
    expect(r.out.ipChecksumOk && r.out.l4ChecksumOk).toBe(true);
    expect(await takeSent(b)).toMatchObject({ ifindex: LO });
    const ct = await readConntrack(b.node, b.pins);
    const rev = ct.find((e) => e.key.saddr === BE_B && e.key.daddr === CLIENT);
    expect(rev?.value).toMatchObject({
      type: 'rev',
      flags: CT_FLAG.fromTunnel,
      natIp: A,
      natPort: NP,
      tunIp: A,
    });
  });

  it('BPF-TUN-005 backend node: the reply is reverse-NATed to the frontend and sent back in the tunnel', async () => {
    const r = await runOn(b, PROG.workloadIngress, reply);
    expect(r.retval).toBe(TC_ACT.redirect);
    expect(r.out).toMatchObject({ src: A, sport: NP, dst: CLIENT, dport: 50000 });
    expect(r.out.ipChecksumOk && r.out.l4ChecksumOk).toBe(true);
    expect(await takeSent(b)).toMatchObject({
      remoteHostOrder: hostOrder(A),
      vni: VNI_RETURN,
      ifindex: VX_B,
    });
  });

  it('BPF-TUN-006 frontend node: a returning reply of a known flow is forwarded to the client', async () => {
    await a.tunnelIn(hostOrder(B), VNI_RETURN);
    const r = await runOn(a, PROG.vxlanIngress, { ...reply, src: A, sport: NP });
    expect(r.retval).toBe(TC_ACT.redirect);
    // Forwarded as it came, one router hop further on.
    expect(
      Buffer.from(r.dataOut).equals(Buffer.from(buildPacket({ ...reply, src: A, sport: NP, ttl: 63 }))),
    ).toBe(true);
    expect(await takeSent(a)).toMatchObject({ ifindex: ethA });
  });

  it('BPF-TUN-007 frontend node: a "reply" of no flow of ours is dropped as a tunnel error', async () => {
    await a.tunnelIn(hostOrder(B), VNI_RETURN);
    const before = counter(await readCounters(a.node, a.pins), 'dropped: tunnel error');
    const r = await runOn(a, PROG.vxlanIngress, { ...reply, src: A, sport: NP, dport: 50099 });
    expect(r.retval).toBe(TC_ACT.shot);
    expect(counter(await readCounters(a.node, a.pins), 'dropped: tunnel error')).toBe(before + 1n);
  });

  it('BPF-TUN-008 backend node: an ordinal that is not a local backend is dropped', async () => {
    await b.frontend({ addr: '0.0.0.0', port: NP + 1, proto: 'TCP' }, { svcId: 12, count: 1, flags: 0 });
    await b.backend({ svcId: 12, ordinal: 0 }, { addr: BE_A, port: 8080, nodeIp: A });
    await b.tunnelIn(hostOrder(A), 0);
    const before = counter(await readCounters(b.node, b.pins), 'dropped: no backend');
    const r = await runOn(b, PROG.vxlanIngress, { ...flow, dport: NP + 1, sport: 50002 });
    expect(r.retval).toBe(TC_ACT.shot);
    expect(counter(await readCounters(b.node, b.pins), 'dropped: no backend')).toBe(before + 1n);
  });

  it('BPF-TUN-009 a NodePort hit for a backend on the same node is DNATed in place; the reply is restored on egress', async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP + 2, proto: 'TCP' }, { svcId: 11, count: 1, flags: 0 });
    await a.backend({ svcId: 11, ordinal: 0 }, { addr: BE_A, port: 8080, nodeIp: A });
    const fwd = await runOn(a, PROG.hostIngress, { ...flow, dport: NP + 2, sport: 51000 });
    expect(fwd.retval).toBe(TC_ACT.ok);
    expect(fwd.out).toMatchObject({ src: CLIENT, dst: BE_A, dport: 8080 });
    expect(fwd.out.l4ChecksumOk && fwd.out.ipChecksumOk).toBe(true);
    const rep = await runOn(a, PROG.hostEgress, { ...reply, src: BE_A, dport: 51000 });
    expect(rep.retval).toBe(TC_ACT.ok);
    expect(rep.out).toMatchObject({ src: A, sport: NP + 2, dst: CLIENT, dport: 51000 });
    expect(rep.out.l4ChecksumOk && rep.out.ipChecksumOk).toBe(true);
  });

  it('BPF-TUN-010 repeated in one test run, a SYN to a NodePort is balanced afresh and tunnelled on every run, a hop older each time', async () => {
    const RUNS = 200;
    const syn = { ...flow, sport: 52000, ttl: 255 };
    const before = counter(await readCounters(a.node, a.pins), 'new connections');
    const r = await progRun(a.node, progPin(a.pins, PROG.hostIngress), buildPacket(syn), { repeat: RUNS });
    expect(r.retval).toBe(TC_ACT.redirect);
    // One buffer for every run: each forwards what the one before left.
    expect(parsePacket(r.dataOut)).toMatchObject({ dst: A, dport: NP, ttl: 255 - RUNS });
    expect(await takeSent(a)).toMatchObject({ remoteHostOrder: hostOrder(B), calls: RUNS });
    expect(counter(await readCounters(a.node, a.pins), 'new connections') - before).toBe(BigInt(RUNS));
    const ct = await readConntrack(a.node, a.pins);
    expect(ct.filter((e) => e.key.saddr === CLIENT && e.key.sport === 52000)).toHaveLength(1);
  });

  it('BPF-DSR-001 in DSR mode the backend node routes the reply straight to the client', async () => {
    await b.config(cfg(B, VX_B, CFG_FLAG.dsr));
    try {
      await b.tunnelIn(hostOrder(A), 0);
      await runOn(b, PROG.vxlanIngress, { ...flow, sport: 52000 });
      await takeSent(b);
      const r = await runOn(b, PROG.workloadIngress, { ...reply, dport: 52000 });
      expect(r.retval).toBe(TC_ACT.redirect);
      expect(r.out).toMatchObject({ src: A, sport: NP, dst: CLIENT });
      expect(await takeSent(b)).toMatchObject({ vni: 0, ifindex: ethB });
    } finally {
      await b.config(cfg(B, VX_B));
    }
  });

  it('BPF-DSR-002 in DSR mode a client in bpfDSROptoutCIDRs gets Tunnel; a client outside gets DSR', async () => {
    await b.config(cfg(B, VX_B, CFG_FLAG.dsr));
    await b.dsrOptout('172.18.1.0/24');
    try {
      await b.tunnelIn(hostOrder(A), 0);
      // One flow per client, each arriving from A in the tunnel.
      await runOn(b, PROG.vxlanIngress, { ...flow, src: CLIENT, sport: 53000 });
      await runOn(b, PROG.vxlanIngress, { ...flow, src: CLIENT2, sport: 53001 });
      await takeSent(b);

      const optedOut = await runOn(b, PROG.workloadIngress, { ...reply, dst: CLIENT, dport: 53000 });
      expect(optedOut.retval).toBe(TC_ACT.redirect);
      expect(optedOut.out).toMatchObject({ src: A, sport: NP, dst: CLIENT, dport: 53000 });
      expect(optedOut.out.ipChecksumOk && optedOut.out.l4ChecksumOk).toBe(true);
      expect(await takeSent(b)).toEqual({
        remoteHostOrder: hostOrder(A),
        vni: VNI_RETURN,
        ifindex: VX_B,
        calls: 1,
      });

      const direct = await runOn(b, PROG.workloadIngress, { ...reply, dst: CLIENT2, dport: 53001 });
      expect(direct.retval).toBe(TC_ACT.redirect);
      expect(direct.out).toMatchObject({ src: A, sport: NP, dst: CLIENT2, dport: 53001 });
      expect(await takeSent(b)).toEqual({ remoteHostOrder: 0, vni: 0, ifindex: ethB, calls: 1 });
    } finally {
      await b.dsrOptout('172.18.1.0/24', false);
      await b.config(cfg(B, VX_B));
    }
  });

  it('BPF-DSR-003 a /32 opts out that address only; the list matters only in DSR mode', async () => {
    await b.dsrOptout(`${CLIENT}/32`);
    try {
      await b.tunnelIn(hostOrder(A), 0);
      await runOn(b, PROG.vxlanIngress, { ...flow, src: CLIENT, sport: 53100 });
      await runOn(b, PROG.vxlanIngress, { ...flow, src: '172.18.1.11', sport: 53101 });
      await takeSent(b);
      const replyTo = (dst: string, dport: number) =>
        runOn(b, PROG.workloadIngress, { ...reply, dst, dport });

      // Tunnel mode: the list changes nothing, every reply goes back through A.
      await replyTo(CLIENT, 53100);
      expect(await takeSent(b)).toMatchObject({ vni: VNI_RETURN, ifindex: VX_B });
      await replyTo('172.18.1.11', 53101);
      expect(await takeSent(b)).toMatchObject({ vni: VNI_RETURN, ifindex: VX_B });

      // DSR mode: a /32 opts out that one address, its neighbour keeps DSR.
      await b.config(cfg(B, VX_B, CFG_FLAG.dsr));
      await replyTo(CLIENT, 53100);
      expect(await takeSent(b)).toMatchObject({ vni: VNI_RETURN, ifindex: VX_B });
      await replyTo('172.18.1.11', 53101);
      expect(await takeSent(b)).toMatchObject({ vni: 0, ifindex: ethB });

      // Removing the entry switches a live flow to DSR on its next reply.
      await b.dsrOptout(`${CLIENT}/32`, false);
      await replyTo(CLIENT, 53100);
      expect(await takeSent(b)).toMatchObject({ vni: 0, ifindex: ethB });
    } finally {
      await b.dsrOptout(`${CLIENT}/32`, false).catch(() => undefined);
      await b.config(cfg(B, VX_B));
    }
  });
});
