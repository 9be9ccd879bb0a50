/**
 * NetworkPolicy in the workload hooks, run with BPF_PROG_TEST_RUN: ingress judged on the veth's
 * egress with the client's address, egress judged on the veth's ingress after service NAT,
 * replies of allowed flows let through statefully, and drops counted as "dropped by policy".
 * test_run runs on the loopback device of the lab node it runs in, so the pod's veth is
 * ifindex 1 here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { progRun, runBatch, TC_ACT } from '../../../src/dataplane/bpf/bpftool.ts';
import {
  encodePolicyEndpoint,
  encodePolicyRuleKey,
  encodePolicyRuleValue,
  encodeU32,
  type PolicyPortRange,
} from '../../../src/dataplane/bpf/encoding.ts';
import { MAP, PROG } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin, progPin, readCounters } from '../../../src/dataplane/bpf/maps.ts';
import { buildPacket, type PacketSpec, parsePacket, TCP_FLAG } from '../../../src/dataplane/bpf/packet.ts';
import { type Lab, startLab } from '../lab.ts';
import { type LoadedNode, loadNode, testConfig } from './helpers.ts';

const NODE = '172.18.0.2';
const CLIENT = '172.18.1.10';
const OTHER = '172.18.2.20';
const POD = '10.244.0.5';
const BE_OK = '10.244.1.7';
const BE_NO = '10.244.1.8';
const CIP_OK = '10.96.0.10';
const CIP_NO = '10.96.0.11';
const LO = 1;

let lab: Lab;
let n: LoadedNode;

async function runOn(prog: string, spec: PacketSpec) {
  const r = await progRun(n.node, progPin(n.pins, prog), buildPacket(spec));
  return { retval: r.retval, out: parsePacket(r.dataOut) };
}

async function rule(direction: 'ingress' | 'egress', cidr: string, ranges: PolicyPortRange[]) {
  await runBatch(n.node, [
    {
      op: 'update',
      pin: mapPin(n.pins, MAP.policyRules),
      key: encodePolicyRuleKey({ ifindex: LO, direction, cidr }),
      value: encodePolicyRuleValue(ranges),
    },
  ]);
}

async function policyDrops(hook: 'ingress' | 'egress'): Promise<bigint> {
  return (await readCounters(n.node, n.pins))
    .filter((c) => c.ifindex === LO && c.hook === hook && c.reason === 'dropped by policy')
    .reduce((s, c) => s + c.packets, 0n);
}

beforeAll(async () => {
  lab = await startLab({ nodes: 1, pods: [] });
  n = await loadNode(lab.nodes[0]!);
  await n.config(testConfig(NODE));
  await n.route({ cidr: `${POD}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: NODE });
  await n.frontend({ addr: CIP_OK, port: 80, proto: 'TCP' }, { svcId: 1, count: 1, flags: 0 });
  await n.backend({ svcId: 1, ordinal: 0 }, { addr: BE_OK, port: 8080, nodeIp: '172.18.0.3' });
  await n.frontend({ addr: CIP_NO, port: 80, proto: 'TCP' }, { svcId: 2, count: 1, flags: 0 });
  await n.backend({ svcId: 2, ordinal: 0 }, { addr: BE_NO, port: 8080, nodeIp: '172.18.0.3' });
  // The pod is isolated both ways: ingress admits CLIENT on TCP 8080, egress admits BE_OK on TCP 8080.
  await rule('ingress', `${CLIENT}/32`, [{ protocol: 'TCP', lo: 8080, hi: 8080 }]);
  await rule('egress', `${BE_OK}/32`, [{ protocol: 'TCP', lo: 8080, hi: 8080 }]);
  await runBatch(n.node, [
    {
      op: 'update',
      pin: mapPin(n.pins, MAP.policyEndpoints),
      key: encodeU32(LO),
      value: encodePolicyEndpoint({ ingress: true, egress: true }),
    },
  ]);
});

afterAll(async () => {
  await lab?.down();
});

describe('ingress policy on the veth egress', () => {
  it('BPF-POL-001 an allowed client on an allowed port passes', async () => {
    const r = await runOn(PROG.workloadEgress, {
      src: CLIENT,
      dst: POD,
      proto: 'TCP',
      sport: 41000,
      dport: 8080,
    });
    expect(r.retval).toBe(TC_ACT.ok);
  });

  it('BPF-POL-002 another client, or the allowed one on another protocol, is dropped and counted', async () => {
    const before = await policyDrops('egress');
    const other = await runOn(PROG.workloadEgress, {
      src: OTHER,
      dst: POD,
      proto: 'TCP',
      sport: 41001,
      dport: 8080,
    });
    const udp = await runOn(PROG.workloadEgress, {
      src: CLIENT,
      dst: POD,
      proto: 'UDP',
      sport: 41002,
      dport: 8080,
    });
    expect(other.retval).toBe(TC_ACT.shot);
    expect(udp.retval).toBe(TC_ACT.shot);
    expect((await policyDrops('egress')) - before).toBe(2n);
  });

  it('BPF-POL-003 the reply of an allowed inbound flow leaves although egress to the client is denied', async () => {
    const reply = await runOn(PROG.workloadIngress, {
      src: POD,
      dst: CLIENT,
      proto: 'TCP',
      sport: 8080,
      dport: 41000,
      tcpFlags: TCP_FLAG.ack,
    });
    expect(reply.retval).toBe(TC_ACT.ok);
    const before = await policyDrops('ingress');
    const fresh = await runOn(PROG.workloadIngress, {
      src: POD,
      dst: CLIENT,
      proto: 'TCP',
      sport: 8080,
      dport: 41999,
    });
    expect(fresh.retval).toBe(TC_ACT.shot);
    expect((await policyDrops('ingress')) - before).toBe(1n);
  });
});

describe('egress policy on the veth ingress, after service NAT', () => {
  it('BPF-POL-004 a ClusterIP whose backend is allowed passes, DNATed; one whose backend is not is dropped', async () => {
    const ok = await runOn(PROG.workloadIngress, {
      src: POD,
      dst: CIP_OK,
      proto: 'TCP',
      sport: 42000,
      dport: 80,
    });
    expect(ok.retval).toBe(TC_ACT.ok);
    expect(ok.out).toMatchObject({ dst: BE_OK, dport: 8080 });
    const no = await runOn(PROG.workloadIngress, {
      src: POD,
      dst: CIP_NO,
      proto: 'TCP',
      sport: 42001,
      dport: 80,
    });
    expect(no.retval).toBe(TC_ACT.shot);
  });

  it('BPF-POL-005 the reply from the allowed backend comes back in, reverse-NATed', async () => {
    const r = await runOn(PROG.workloadEgress, {
      src: BE_OK,
      dst: POD,
      proto: 'TCP',
      sport: 8080,
      dport: 42000,
      tcpFlags: TCP_FLAG.syn | TCP_FLAG.ack,
    });
    expect(r.retval).toBe(TC_ACT.ok);
    expect(r.out).toMatchObject({ src: CIP_OK, sport: 80 });
  });
});
