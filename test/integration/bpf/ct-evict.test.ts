/**
 * Conntrack when entries go missing under a live connection (LRU eviction, expiry): the flow is
 * re-created on the same backend, the missing reply entry is put back, and each re-creation is
 * counted; a full map still gives every new flow an entry. Runs the programs with
 * BPF_PROG_TEST_RUN in two lab nodes; deleting an entry stands in for the kernel evicting it,
 * which the programs cannot tell apart.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progRun, runBatch, TC_ACT } from '../../../src/dataplane/bpf/bpftool.ts';
import { encodeCtKey, encodeCtValue } from '../../../src/dataplane/bpf/encoding.ts';
import { MAP, PROG, REASON_CT_RECREATED } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin, progPin, readConntrack, readCounters } from '../../../src/dataplane/bpf/maps.ts';
import { buildPacket, type PacketSpec, parsePacket, TCP_FLAG } from '../../../src/dataplane/bpf/packet.ts';
import { type Lab, startLab } from '../lab.ts';
import { hostOrder, type LoadedNode, loadNode, SMALL_SIZES, testConfig } from './helpers.ts';

const A = '172.18.0.2';
const B = '172.18.0.3';
const CLIENT = '172.18.1.10';
const NP = 30500;
const BACKENDS_A = ['10.244.0.20', '10.244.0.21', '10.244.0.22', '10.244.0.23'];
const BE_B = '10.244.1.30';
const LO = 1;

let lab: Lab;
let a: LoadedNode;
let b: LoadedNode;

async function runOn(node: LoadedNode, prog: string, spec: PacketSpec) {
  const r = await progRun(node.node, progPin(node.pins, prog), buildPacket(spec));
  return { ...r, out: parsePacket(r.dataOut) };
}

async function counted(node: LoadedNode, reason: string): Promise<bigint> {
  return (await readCounters(node.node, node.pins))
    .filter((r) => r.reason === reason)
    .reduce((s, r) => s + r.packets, 0n);
}

/** Deletes every conntrack entry naming `port` as a source or destination port (an eviction). */
async function evict(node: LoadedNode, port: number): Promise<number> {
  const gone = (await readConntrack(node.node, node.pins)).filter(
    (e) => e.key.sport === port || e.key.dport === port,
  );
  await runBatch(
    node.node,
    gone.map((e) => ({
      op: 'delete' as const,
      pin: mapPin(node.pins, MAP.conntrack),
      key: encodeCtKey(e.key),
    })),
  );
  return gone.length;
}

beforeAll(async () => {
  lab = await startLab({ nodes: 2, pods: [] });
  // The packets name the nodes by the lab's own addresses.
  expect(lab.nodes.map((n) => n.ip)).toEqual([A, B]);
  a = await loadNode(lab.nodes[0]!);
  b = await loadNode(lab.nodes[1]!);
  await a.config(testConfig(A, 77));
  await b.config(testConfig(B, 77));
  await a.route({ cidr: `${A}/32` }, { type: 'localHost', ifindex: 0, nodeIp: A });
  for (const ip of BACKENDS_A)
    await a.route({ cidr: `${ip}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: A });
  await b.route({ cidr: `${BE_B}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: B });
  await b.route({ cidr: `${A}/32` }, { type: 'remoteHost', ifindex: 0, nodeIp: A });
  await a.frontend(
    { addr: '0.0.0.0', port: NP, proto: 'TCP' },
    { svcId: 1, count: BACKENDS_A.length, flags: 0 },
  );
  for (const [ordinal, addr] of BACKENDS_A.entries())
    await a.backend({ svcId: 1, ordinal }, { addr, port: 8080, nodeIp: A });
  await b.frontend({ addr: '0.0.0.0', port: NP, proto: 'TCP' }, { svcId: 2, count: 1, flags: 0 });
  await b.backend({ svcId: 2, ordinal: 0 }, { addr: BE_B, port: 8080, nodeIp: B });
});

afterAll(async () => {
  await lab?.down();
});

describe('conntrack entries lost under a live connection', () => {
  const flow = { src: CLIENT, dst: A, proto: 'TCP' as const, dport: NP, payload: 'GET /' };

  it('BPF-CTE-001 a connection whose entries were evicted is re-created on the same backend and counted', async () => {
    const picked = new Set<string>();
    for (let sport = 40000; sport < 40012; sport++) {
      const syn = await runOn(a, PROG.hostIngress, { ...flow, sport, tcpFlags: TCP_FLAG.syn });
      picked.add(syn.out.dst);
      expect(await evict(a, sport)).toBe(2);
      const before = await counted(a, REASON_CT_RECREATED);
      const ack = await runOn(a, PROG.hostIngress, { ...flow, sport, tcpFlags: TCP_FLAG.ack });
      expect(ack.retval).toBe(TC_ACT.ok);
      expect(ack.out.dst).toBe(syn.out.dst);
      expect(await counted(a, REASON_CT_RECREATED)).toBe(before + 1n);
      // Both directions are back: the reply is restored on egress.
      const reply = await runOn(a, PROG.hostEgress, {
        src: syn.out.dst,
        dst: CLIENT,
        proto: 'TCP',
        sport: 8080,
        dport: sport,
        tcpFlags: TCP_FLAG.ack,
      });
      expect(reply.out).toMatchObject({ src: A, sport: NP });
    }
    // Without a spread, "the same backend" above would prove nothing.
    expect(picked.size).toBeGreaterThan(1);
  });

  it('BPF-CTE-002 an opening SYN without an entry is a new connection, not a re-creation', async () => {
    const before = await counted(a, REASON_CT_RECREATED);
    await runOn(a, PROG.hostIngress, { ...flow, sport: 41000, tcpFlags: TCP_FLAG.syn });
    expect(await counted(a, REASON_CT_RECREATED)).toBe(before);
  });

  it('BPF-CTE-003 a forward entry whose reply entry was evicted puts it back', async () => {
    const sport = 42000;
    const syn = await runOn(a, PROG.hostIngress, { ...flow, sport, tcpFlags: TCP_FLAG.syn });
    const rev = (await readConntrack(a.node, a.pins)).filter(
      (e) => e.key.dport === sport && e.value.type === 'rev',
    );
    expect(rev).toHaveLength(1);
    await runBatch(a.node, [
      { op: 'delete', pin: mapPin(a.pins, MAP.conntrack), key: encodeCtKey(rev[0]!.key) },
    ]);
    const before = await counted(a, REASON_CT_RECREATED);
    const ack = await runOn(a, PROG.hostIngress, { ...flow, sport, tcpFlags: TCP_FLAG.ack });
    expect(ack.out.dst).toBe(syn.out.dst);
    expect(await counted(a, REASON_CT_RECREATED)).toBe(before + 1n);
    const back = (await readConntrack(a.node, a.pins)).filter(
      (e) => e.key.dport === sport && e.value.type === 'rev',
    );
    expect(back.map((e) => e.value)).toMatchObject([{ natIp: A, natPort: NP }]);
  });

  it('BPF-CTE-004 backend node: a tunnelled connection whose entries were evicted is re-created and counted', async () => {
    const sport = 43000;
    await b.tunnelIn(hostOrder(A), 0);
    await runOn(b, PROG.vxlanIngress, { ...flow, sport, tcpFlags: TCP_FLAG.syn });
    expect(await evict(b, sport)).toBe(2);
    const before = await counted(b, REASON_CT_RECREATED);
    const ack = await runOn(b, PROG.vxlanIngress, { ...flow, sport, tcpFlags: TCP_FLAG.ack });
    expect(ack.retval).toBe(TC_ACT.redirect);
    expect(ack.out.dst).toBe(BE_B);
    expect(await counted(b, REASON_CT_RECREATED)).toBe(before + 1n);
  });

  it('BPF-CTE-005 a full conntrack map evicts and still gives a new flow its entries', async () => {
    const max = SMALL_SIZES.conntrack;
    const pin = mapPin(a.pins, MAP.conntrack);
    const filler = Array.from({ length: 3 * max }, (_, i) => ({
      op: 'update' as const,
      pin,
      key: encodeCtKey({ saddr: '172.18.9.9', daddr: A, sport: 1000 + i, dport: 9, proto: 'TCP' }),
      value: encodeCtValue({
        lastSeenNs: process.hrtime.bigint(),
        type: 'fwd',
        flags: 0,
        natIp: BACKENDS_A[0]!,
        natPort: 8080,
        tunIp: A,
        ordinal: 0,
        svcId: 1,
      }),
    }));
    await runBatch(a.node, filler);
    expect((await readConntrack(a.node, a.pins)).length).toBeLessThanOrEqual(max);
    const failedBefore = await counted(a, 'failed to create conntrack');
    const syn = await runOn(a, PROG.hostIngress, { ...flow, sport: 44000, tcpFlags: TCP_FLAG.syn });
    expect(syn.retval).toBe(TC_ACT.ok);
    expect(BACKENDS_A).toContain(syn.out.dst);
    const mine = (await readConntrack(a.node, a.pins)).filter(
      (e) => e.key.sport === 44000 || e.key.dport === 44000,
    );
    expect(mine).toHaveLength(2);
    expect(await counted(a, 'failed to create conntrack')).toBe(failedBefore);
  });
});
