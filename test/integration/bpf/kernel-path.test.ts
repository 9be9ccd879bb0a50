/**
 * What the programs do where they stand in for the kernel's forward path, run with
 * BPF_PROG_TEST_RUN on crafted frames: "fragmentation needed" for what does not fit the tunnel,
 * TTL and "time exceeded", ICMP errors of NATed flows translated, IP fragments and IP options,
 * hairpin and host processes' connections SNATed from bpfPSNATPorts, and the log bpfLogLevel
 * asks for.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progRun, TC_ACT } from '../../../src/dataplane/bpf/bpftool.ts';
import type { NodeConfig } from '../../../src/dataplane/bpf/encoding.ts';
import { CFG_FLAG, CT_FLAG, LOG_LEVEL, PROG, VNI_RETURN } from '../../../src/dataplane/bpf/layout.ts';
import {
  type CounterRow,
  progPin,
  readConntrack,
  readCounters,
  readLog,
} from '../../../src/dataplane/bpf/maps.ts';
import {
  buildIcmpError,
  buildPacket,
  fragmentPacket,
  type PacketSpec,
  parsePacket,
  TCP_FLAG,
} from '../../../src/dataplane/bpf/packet.ts';
import { type Lab, startLab } from '../lab.ts';
import { hostOrder, ifindexOf, type LoadedNode, loadNode, takeSent, testConfig } from './helpers.ts';

const A = '172.18.0.2';
const B = '172.18.0.3';
const CLIENT = '172.18.1.10';
const POD = '10.244.0.5';
const BE_A = '10.244.0.9';
const BE_B = '10.244.1.7';
const CIP = '10.96.0.20';
/** test_run hands the program a packet "on" the loopback device. */
const LO = 1;
const VX_A = 77;
const VX_B = 78;
const TUNNEL_MTU = 1450;
const PSNAT = { lo: 21000, hi: 21009 };

let lab: Lab;
let a: LoadedNode;
let b: LoadedNode;
let ethA = 0;

function cfg(nodeIp: string, vx: number, extra: Partial<NodeConfig> = {}): NodeConfig {
  return testConfig(nodeIp, vx, {
    flags: CFG_FLAG.hostNat,
    tunnelMtu: TUNNEL_MTU,
    psnatLo: PSNAT.lo,
    psnatHi: PSNAT.hi,
    logLevel: LOG_LEVEL.Off,
    ...extra,
  });
}

async function run(node: LoadedNode, prog: string, frame: Uint8Array) {
  const r = await progRun(node.node, progPin(node.pins, prog), frame);
  return { ...r, out: parsePacket(r.dataOut) };
}

function runOn(node: LoadedNode, prog: string, spec: PacketSpec) {
  return run(node, prog, buildPacket(spec));
}

function counter(rows: CounterRow[], reason: string): bigint {
  return rows.filter((r) => r.reason === reason).reduce((s, r) => s + r.packets, 0n);
}

async function counted(node: LoadedNode, reason: string): Promise<bigint> {
  return counter(await readCounters(node.node, node.pins), reason);
}

/** A payload that makes the IP packet exactly `ipLen` bytes long. */
function sized(proto: 'TCP' | 'UDP', ipLen: number): string {
  return 'x'.repeat(ipLen - 20 - (proto === 'TCP' ? 20 : 8));
}

beforeAll(async () => {
  lab = await startLab({ nodes: 2, pods: [] });
  expect(lab.nodes.map((n) => n.ip)).toEqual([A, B]);
  a = await loadNode(lab.nodes[0]!);
  b = await loadNode(lab.nodes[1]!);
  await a.config(cfg(A, VX_A));
  await b.config(cfg(B, VX_B));
  for (const [n, local, remote, self] of [
    [a, [POD, BE_A], B, A],
    [b, [BE_B], A, B],
  ] as const) {
    for (const ip of local)
      await n.route({ cidr: `${ip}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: self });
    await n.route({ cidr: `${self}/32` }, { type: 'localHost', ifindex: 0, nodeIp: self });
    await n.route({ cidr: `${remote}/32` }, { type: 'remoteHost', ifindex: 0, nodeIp: remote });
  }
  ethA = await ifindexOf(a.node, a.node.iface);
});

afterAll(async () => {
  await lab?.down();
});

describe('the tunnel never carries what it would have to fragment', () => {
  const NP = 30100;
  const flow = {
    src: CLIENT,
    dst: A,
    proto: 'TCP' as const,
    sport: 51000,
    dport: NP,
    tcpFlags: TCP_FLAG.ack,
  };

  beforeAll(async () => {
    for (const n of [a, b]) {
      await n.frontend({ addr: '0.0.0.0', port: NP, proto: 'TCP' }, { svcId: 30, count: 1, flags: 0 });
      await n.backend({ svcId: 30, ordinal: 0 }, { addr: BE_B, port: 8080, nodeIp: B });
    }
    await takeSent(a);
  });

  it('KP-MTU-001 a DF packet too big for the tunnel gets "fragmentation needed" with the tunnel MTU, quoting it', async () => {
    const before = await counted(a, 'fragmentation needed sent');
    const input = buildPacket({
      ...flow,
      srcMac: '02:00:00:00:00:0a',
      dstMac: '02:00:00:00:00:0b',
      payload: sized('TCP', TUNNEL_MTU + 1),
    });
    const r = await run(a, PROG.hostIngress, input);
    expect(r.retval).toBe(TC_ACT.redirect);
    expect(r.out).toMatchObject({ src: A, dst: CLIENT, protoNumber: 1, ipChecksumOk: true });
    // Back to the sender: the MAC addresses swap.
    expect(r.out).toMatchObject({ srcMac: '02:00:00:00:00:0b', dstMac: '02:00:00:00:00:0a' });
    expect(r.out.icmp).toMatchObject({ type: 3, code: 4, mtu: TUNNEL_MTU, checksumOk: true });
    expect(r.out.icmp?.quote).toMatchObject({
      src: CLIENT,
      dst: A,
      sport: 51000,
      dport: NP,
      ipChecksumOk: true,
    });
    // Sent back out of the interface it came in on, not into the tunnel.
    expect((await takeSent(a)).calls).toBe(0);
    expect(await counted(a, 'fragmentation needed sent')).toBe(before + 1n);
  });

  it('KP-MTU-002 a packet that fits goes into the tunnel whole; one without DF that does not is dropped and counted', async () => {
    const fits = await runOn(a, PROG.hostIngress, { ...flow, payload: sized('TCP', TUNNEL_MTU) });
    expect(fits.retval).toBe(TC_ACT.redirect);
    expect(fits.out.ipLength).toBe(TUNNEL_MTU);
    expect(await takeSent(a)).toMatchObject({ remoteHostOrder: hostOrder(B), ifindex: VX_A, calls: 1 });
    const before = await counted(a, 'dropped: too big for tunnel');
    const noDf = await runOn(a, PROG.hostIngress, {
      ...flow,
      df: false,
      payload: sized('TCP', TUNNEL_MTU + 1),
    });
    expect(noDf.retval).toBe(TC_ACT.shot);
    expect(await counted(a, 'dropped: too big for tunnel')).toBe(before + 1n);
  });

  it("KP-MTU-003 the backend's reply too big for the return tunnel gets ICMP back to the pod, quoting what the pod sent", async () => {
    await b.tunnelIn(hostOrder(A), 0);
    expect((await runOn(b, PROG.vxlanIngress, { ...flow, tcpFlags: TCP_FLAG.syn })).retval).toBe(
      TC_ACT.redirect,
    );
    const reply = {
      src: BE_B,
      dst: CLIENT,
      proto: 'TCP' as const,
      sport: 8080,
      dport: 51000,
      tcpFlags: TCP_FLAG.ack,
    };
    const r = await runOn(b, PROG.workloadIngress, { ...reply, payload: sized('TCP', 1500) });
    expect(r.retval).toBe(TC_ACT.redirect);
    expect(r.out).toMatchObject({ src: B, dst: BE_B, protoNumber: 1 });
    expect(r.out.icmp).toMatchObject({ type: 3, code: 4, mtu: TUNNEL_MTU, checksumOk: true });
    expect(r.out.icmp?.quote).toMatchObject({ src: BE_B, sport: 8080, dst: CLIENT, dport: 51000 });
  });
});

describe('TTL on the paths the programs forward themselves', () => {
  const NP = 30101;
  const flow = { src: CLIENT, dst: A, proto: 'UDP' as const, sport: 52000, dport: NP, payload: 'q' };

  beforeAll(async () => {
    for (const n of [a, b]) {
      await n.frontend({ addr: '0.0.0.0', port: NP, proto: 'UDP' }, { svcId: 31, count: 1, flags: 0 });
      await n.backend({ svcId: 31, ordinal: 0 }, { addr: BE_B, port: 5353, nodeIp: B });
    }
  });

  it('KP-TTL-001 each node that forwards a tunnelled flow is one hop: the TTL drops by one at each', async () => {
    const onA = await runOn(a, PROG.hostIngress, { ...flow, ttl: 30 });
    expect(onA.retval).toBe(TC_ACT.redirect);
    expect(onA.out).toMatchObject({ ttl: 29, ipChecksumOk: true });
    await b.tunnelIn(hostOrder(A), 0);
    const onB = await run(b, PROG.vxlanIngress, onA.dataOut);
    expect(onB.out).toMatchObject({ dst: BE_B, ttl: 28, ipChecksumOk: true, l4ChecksumOk: true });
  });

  it('KP-TTL-002 a packet whose TTL runs out is answered with "time exceeded" and counted', async () => {
    const before = await counted(a, 'dropped: TTL expired');
    const r = await runOn(a, PROG.hostIngress, { ...flow, sport: 52001, ttl: 1 });
    expect(r.retval).toBe(TC_ACT.redirect);
    expect(r.out).toMatchObject({ src: A, dst: CLIENT, protoNumber: 1 });
    expect(r.out.icmp).toMatchObject({ type: 11, code: 0, checksumOk: true });
    expect(await counted(a, 'dropped: TTL expired')).toBe(before + 1n);
  });
});

describe('ICMP errors about NATed flows', () => {
  const NP = 30102;
  const request = { src: CLIENT, dst: A, proto: 'UDP' as const, sport: 53000, dport: NP, payload: 'ping' };

  beforeAll(async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP, proto: 'UDP' }, { svcId: 32, count: 1, flags: 0 });
    await a.backend({ svcId: 32, ordinal: 0 }, { addr: BE_A, port: 9, nodeIp: A });
    await b.frontend({ addr: '0.0.0.0', port: NP + 1, proto: 'UDP' }, { svcId: 33, count: 1, flags: 0 });
    await b.backend({ svcId: 33, ordinal: 0 }, { addr: BE_B, port: 9, nodeIp: B });
  });

  it("KP-ICMP-001 a backend's port unreachable reaches the client from the service address, quoting it", async () => {
    const dnat = await runOn(a, PROG.hostIngress, request);
    expect(dnat.out).toMatchObject({ dst: BE_A, dport: 9 });
    const error = buildIcmpError({ src: BE_A, dst: CLIENT, type: 3, code: 3, about: dnat.dataOut });
    const before = await counted(a, 'ICMP errors translated');
    const r = await run(a, PROG.hostEgress, error);
    expect(r.retval).toBe(TC_ACT.ok);
    expect(r.out).toMatchObject({ src: A, dst: CLIENT, ipChecksumOk: true });
    expect(r.out.icmp).toMatchObject({ type: 3, code: 3, checksumOk: true });
    expect(r.out.icmp?.quote).toMatchObject({
      src: CLIENT,
      sport: 53000,
      dst: A,
      dport: NP,
      ipChecksumOk: true,
    });
    expect(await counted(a, 'ICMP errors translated')).toBe(before + 1n);
  });

  it('KP-ICMP-002 one about a tunnelled flow is translated on the backend node and returns through the frontend node', async () => {
    await b.tunnelIn(hostOrder(A), 0);
    const tunnelled = { ...request, dport: NP + 1 };
    const dnat = await runOn(b, PROG.vxlanIngress, tunnelled);
    expect(dnat.out).toMatchObject({ dst: BE_B, dport: 9 });
    await takeSent(b);
    const error = buildIcmpError({ src: BE_B, dst: CLIENT, type: 3, code: 3, about: dnat.dataOut });
    const onB = await run(b, PROG.workloadIngress, error);
    expect(onB.retval).toBe(TC_ACT.redirect);
    expect(onB.out).toMatchObject({ src: A, dst: CLIENT });
    expect(onB.out.icmp?.quote).toMatchObject({ dst: A, dport: NP + 1, src: CLIENT, sport: 53000 });
    expect(onB.out.icmp?.checksumOk).toBe(true);
    expect(await takeSent(b)).toMatchObject({
      remoteHostOrder: hostOrder(A),
      vni: VNI_RETURN,
      ifindex: VX_B,
    });
    // The frontend node knows the flow it tunnelled, and sends the error on to the client.
    await a.conntrack(
      { saddr: CLIENT, daddr: A, sport: 53000, dport: NP + 1, proto: 'UDP' },
      {
        lastSeenNs: process.hrtime.bigint(),
        type: 'fwd',
        flags: CT_FLAG.tunnelOut,
        natIp: BE_B,
        natPort: 9,
        tunIp: B,
        ordinal: 0,
        svcId: 33,
      },
    );
    await a.tunnelIn(hostOrder(B), VNI_RETURN);
    const onA = await run(a, PROG.vxlanIngress, onB.dataOut);
    expect(onA.retval).toBe(TC_ACT.redirect);
    expect(await takeSent(a)).toMatchObject({ ifindex: ethA });
  });
});

describe('IP fragments and IP options', () => {
  const NP = 30103;
  const datagram = {
    src: CLIENT,
    dst: A,
    proto: 'UDP' as const,
    sport: 54000,
    dport: NP,
    df: false,
    ipId: 4242,
    payload: 'f'.repeat(2800),
  };

  beforeAll(async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP, proto: 'UDP' }, { svcId: 34, count: 1, flags: 0 });
    await a.backend({ svcId: 34, ordinal: 0 }, { addr: BE_A, port: 7007, nodeIp: A });
    await a.frontend({ addr: CIP, port: 80, proto: 'TCP' }, { svcId: 35, count: 1, flags: 0 });
    await a.backend({ svcId: 35, ordinal: 0 }, { addr: BE_A, port: 8080, nodeIp: A });
  });

  it('KP-FRAG-001 every fragment of a NATed datagram is NATed alike, and the datagram reassembles with a valid checksum', async () => {
    const frags = fragmentPacket(buildPacket(datagram), 1500);
    expect(frags.length).toBe(2);
    const outs = [];
    for (const f of frags) {
      const r = await run(a, PROG.hostIngress, f);
      expect(r.retval).toBe(TC_ACT.ok);
      expect(r.out).toMatchObject({ dst: BE_A, ipChecksumOk: true });
      outs.push(r.out);
    }
    expect(outs.map((o) => o.fragOffset)).toEqual([0, 1480]);
    expect(outs[0]).toMatchObject({ dport: 7007, moreFragments: true });
    // The UDP checksum, in the first fragment, covers the whole datagram with its new destination.
    const firstOut = buildPacket({ ...datagram, dst: BE_A, dport: 7007 });
    expect(outs[0]!.l4Checksum).toBe(parsePacket(firstOut).l4Checksum);
  });

  it('KP-FRAG-002 a later fragment whose first fragment was not seen is dropped and counted, never passed un-NATed', async () => {
    const [, later] = fragmentPacket(buildPacket({ ...datagram, ipId: 4243, sport: 54001 }), 1500);
    const before = await counted(a, 'dropped: IP fragment');
    const r = await run(a, PROG.hostIngress, later!);
    expect(r.retval).toBe(TC_ACT.shot);
    expect(await counted(a, 'dropped: IP fragment')).toBe(before + 1n);
  });

  it('KP-OPT-001 a packet with IP options is NATed like any other, its options kept', async () => {
    const options = [0x01, 0x01, 0x01, 0x00];
    const r = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 40100,
      dport: 80,
      ipOptions: options,
      payload: 'opt',
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(r.out).toMatchObject({ ihl: 24, dst: BE_A, dport: 8080, ipChecksumOk: true, l4ChecksumOk: true });
    expect([...r.dataOut.subarray(34, 38)]).toEqual(options);
  });
});

describe('SNAT where a flow needs it, from bpfPSNATPorts', () => {
  const HP = { addr: CIP, port: 90 };

  beforeAll(async () => {
    await a.frontend({ addr: HP.addr, port: HP.port, proto: 'TCP' }, { svcId: 36, count: 1, flags: 0 });
    await a.backend({ svcId: 36, ordinal: 0 }, { addr: POD, port: 8080, nodeIp: A });
    await a.frontend({ addr: CIP, port: 91, proto: 'TCP' }, { svcId: 37, count: 1, flags: 0 });
    await a.backend({ svcId: 37, ordinal: 0 }, { addr: BE_B, port: 8080, nodeIp: B });
    await takeSent(a);
  });

  it('KP-HP-001 hairpin: a pod reaching itself through its Service is SNATed to the node, and the reply comes back as the Service', async () => {
    const before = await counted(a, 'source NATed');
    const out = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 40200,
      dport: 90,
      tcpFlags: TCP_FLAG.syn,
    });
    expect(out.retval).toBe(TC_ACT.redirect);
    expect(out.out).toMatchObject({
      src: A,
      dst: POD,
      dport: 8080,
      ttl: 63,
      ipChecksumOk: true,
      l4ChecksumOk: true,
    });
    expect(out.out.sport).toBeGreaterThanOrEqual(PSNAT.lo);
    expect(out.out.sport).toBeLessThanOrEqual(PSNAT.hi);
    expect(await takeSent(a)).toMatchObject({ ifindex: LO });
    expect(await counted(a, 'source NATed')).toBe(before + 1n);
    const back = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: A,
      proto: 'TCP',
      sport: 8080,
      dport: out.out.sport,
      tcpFlags: TCP_FLAG.syn | TCP_FLAG.ack,
    });
    expect(back.retval).toBe(TC_ACT.redirect);
    expect(back.out).toMatchObject({ src: CIP, sport: 90, dst: POD, dport: 40200, l4ChecksumOk: true });
  });

  it('KP-HP-002 every flow gets a port of its own from the range; when none is free the flow is dropped and counted', async () => {
    // KP-HP-001's flow holds one of the ten ports: nine more flows take the other nine.
    const ports = new Set<number>();
    for (let p = 40300; p < 40309; p++) {
      const r = await runOn(a, PROG.workloadIngress, {
        src: POD,
        dst: CIP,
        proto: 'TCP',
        sport: p,
        dport: 90,
      });
      expect(r.retval).toBe(TC_ACT.redirect);
      ports.add(r.out.sport);
    }
    expect(ports.size).toBe(9);
    for (const p of ports) expect(p >= PSNAT.lo && p <= PSNAT.hi, `port ${p}`).toBe(true);
    const before = await counted(a, 'dropped: no free SNAT port');
    const full = await runOn(a, PROG.workloadIngress, {
      src: POD,
      dst: CIP,
      proto: 'TCP',
      sport: 40309,
      dport: 90,
    });
    expect(full.retval).toBe(TC_ACT.shot);
    expect(await counted(a, 'dropped: no free SNAT port')).toBe(before + 1n);
  });

  it("KP-HOST-001 a host process's connection to a Service crosses lo: NATed and SNATed there, its reply handed to the stack", async () => {
    const out = await runOn(a, PROG.loopbackIngress, {
      src: CIP,
      dst: CIP,
      proto: 'TCP',
      sport: 45000,
      dport: 91,
      tcpFlags: TCP_FLAG.syn,
    });
    expect(out.retval).toBe(TC_ACT.redirect);
    expect(out.out).toMatchObject({ src: A, dst: BE_B, dport: 8080, ttl: 64, l4ChecksumOk: true });
    expect(await takeSent(a)).toMatchObject({ ifindex: ethA });
    const reply = await runOn(a, PROG.hostIngress, {
      src: BE_B,
      dst: A,
      proto: 'TCP',
      sport: 8080,
      dport: out.out.sport,
      tcpFlags: TCP_FLAG.syn | TCP_FLAG.ack,
    });
    expect(reply.retval).toBe(TC_ACT.redirect);
    expect(reply.out).toMatchObject({ src: CIP, sport: 91, dst: CIP, dport: 45000, l4ChecksumOk: true });
    expect(reply.out).toMatchObject({ srcMac: '00:00:00:00:00:00', dstMac: '00:00:00:00:00:00' });
    expect(await takeSent(a)).toMatchObject({ ifindex: LO });
    const ct = await readConntrack(a.node, a.pins);
    const fwd = ct.find((e) => e.key.saddr === CIP && e.key.sport === 45000);
    expect(fwd?.value.flags).toBe(CT_FLAG.snat | CT_FLAG.toHost);
  });

  it('KP-HOST-002 without bpfHostNetworkedNATWithoutCTLB the lo hook leaves host packets alone', async () => {
    await a.config(cfg(A, VX_A, { flags: 0 }));
    try {
      const r = await runOn(a, PROG.loopbackIngress, {
        src: CIP,
        dst: CIP,
        proto: 'TCP',
        sport: 45001,
        dport: 91,
      });
      expect(r.retval).toBe(TC_ACT.ok);
      expect(
        Buffer.from(r.dataOut).equals(
          Buffer.from(buildPacket({ src: CIP, dst: CIP, proto: 'TCP', sport: 45001, dport: 91 })),
        ),
      ).toBe(true);
    } finally {
      await a.config(cfg(A, VX_A));
    }
  });
});

describe('bpfLogLevel', () => {
  const NP = 30104;
  const flow = { src: CLIENT, dst: A, proto: 'UDP' as const, dport: NP, payload: 'l' };

  beforeAll(async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP, proto: 'UDP' }, { svcId: 38, count: 1, flags: 0 });
    await a.backend({ svcId: 38, ordinal: 0 }, { addr: BE_A, port: 6000, nodeIp: A });
  });

  /** The records logged for one probe packet of source port `sport`. */
  async function logged(level: keyof typeof LOG_LEVEL, sport: number) {
    await a.config(cfg(A, VX_A, { logLevel: LOG_LEVEL[level] }));
    const since = process.hrtime.bigint();
    await runOn(a, PROG.hostIngress, { ...flow, sport });
    await runOn(a, PROG.hostIngress, { ...flow, sport });
    return (await readLog(a.node, a.pins, since)).filter((r) => r.sport === sport || r.dport === sport);
  }

  it('KP-LOG-001 Off logs nothing, Info the new flow with its backend, Debug every packet', async () => {
    try {
      expect(await logged('Off', 55000)).toEqual([]);
      const info = await logged('Info', 55001);
      expect(info.map((r) => r.event)).toEqual([2]);
      expect(info[0]).toMatchObject({ saddr: CLIENT, daddr: A, natIp: BE_A, natPort: 6000, proto: 17 });
      const debug = await logged('Debug', 55002);
      expect(debug.filter((r) => r.event === 1)).toHaveLength(2);
      expect(debug.filter((r) => r.event === 2)).toHaveLength(1);
    } finally {
      await a.config(cfg(A, VX_A));
    }
  });

  it('KP-LOG-002 at Info a drop is logged with its reason', async () => {
    await a.frontend({ addr: '0.0.0.0', port: NP + 1, proto: 'UDP' }, { svcId: 39, count: 0, flags: 1 });
    await a.config(cfg(A, VX_A, { logLevel: LOG_LEVEL.Info }));
    try {
      const since = process.hrtime.bigint();
      await runOn(a, PROG.hostIngress, { ...flow, sport: 55003, dport: NP + 1 });
      const drops = (await readLog(a.node, a.pins, since)).filter((r) => r.sport === 55003);
      expect(drops).toHaveLength(1);
      expect(drops[0]).toMatchObject({
        event: 3,
        reason: 'dropped: no local endpoint',
        verdict: TC_ACT.shot,
      });
    } finally {
      await a.config(cfg(A, VX_A));
    }
  });
});
