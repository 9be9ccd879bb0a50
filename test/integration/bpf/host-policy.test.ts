/**
 * Host endpoint policy in the data interface hooks, run with BPF_PROG_TEST_RUN: the maps are
 * programmed by the control plane's own planner from a compiled endpoint, then packets go
 * through calico_from_hep / calico_to_hep. test_run runs on the lab node's loopback, so the
 * "data interface" is ifindex 1 here.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BatchOp, mapInfo, progRun, runBatch, TC_ACT } from '../../../src/dataplane/bpf/bpftool.ts';
import { HEP_MAP, HEP_SIZE, planHostPolicy } from '../../../src/dataplane/bpf/host-policy-plan.ts';
import { PROG } from '../../../src/dataplane/bpf/layout.ts';
import { mapPin, progPin, readCounters } from '../../../src/dataplane/bpf/maps.ts';
import { buildPacket, type PacketSpec, TCP_FLAG } from '../../../src/dataplane/bpf/packet.ts';
import type { HostEndpointPolicy, HostStagePolicy } from '../../../src/policy/host.ts';
import { type Lab, startLab } from '../lab.ts';
import { type LoadedNode, loadNode, testConfig } from './helpers.ts';

const NODE = '172.18.0.2';
const ADMIN = '172.18.1.1';
const OTHER = '172.18.1.2';
const BACKEND = '10.244.0.9';
const LO = 1;

let lab: Lab;
let n: LoadedNode;

const stage = (s: Partial<HostStagePolicy>): HostStagePolicy => ({
  policies: [],
  rules: [],
  otherwise: 'allow',
  ...s,
});

/** What the compiler makes of kubelet-from-admin, a pre-DNAT NodePort rule and a locked-down egress. */
const ENDPOINT: HostEndpointPolicy = {
  name: 'lab-auto-hep',
  nodeName: 'lab',
  iface: '*',
  stages: {
    preDnat: stage({
      rules: [
        {
          action: 'allow',
          protocol: 6,
          src: [`${ADMIN}/32`],
          ports: [{ lo: 30081, hi: 30081 }],
          origin: 'a',
        },
        { action: 'deny', protocol: 6, ports: [{ lo: 30081, hi: 30081 }], origin: 'b' },
      ],
    }),
    ingress: stage({
      rules: [
        { action: 'allow', protocol: 6, ports: [{ lo: 22, hi: 22 }], origin: 'failsafe' },
        { action: 'allow', src: [`${ADMIN}/32`], origin: 'admin' },
        {
          action: 'deny',
          protocol: 17,
          notProtocol: undefined,
          ports: [{ lo: 10250, hi: 10250 }],
          origin: 'c',
        },
      ],
      otherwise: 'deny',
    }),
    egress: stage({
      rules: [{ action: 'allow', protocol: 17, ports: [{ lo: 53, hi: 53 }], origin: 'failsafe' }],
      otherwise: 'deny',
    }),
    forwardIngress: stage({}),
    forwardEgress: stage({}),
  },
};

async function run(prog: string, spec: PacketSpec): Promise<number> {
  return (await progRun(n.node, progPin(n.pins, prog), buildPacket(spec))).retval;
}

async function drops(hook: 'ingress' | 'egress'): Promise<bigint> {
  return (await readCounters(n.node, n.pins))
    .filter((c) => c.ifindex === LO && c.hook === hook && c.reason === 'dropped by policy')
    .reduce((s, c) => s + c.packets, 0n);
}

async function program(endpoints: HostEndpointPolicy[]): Promise<void> {
  const plan = planHostPolicy(endpoints, 'lab', new Map([['lo', LO]]));
  const ops: BatchOp[] = [];
  for (const [map, entries] of [
    [HEP_MAP.nets, plan.nets],
    [HEP_MAP.rules, plan.rules],
    [HEP_MAP.endpoints, plan.endpoints],
  ] as const) {
    for (const e of entries.values())
      ops.push({ op: 'update', pin: mapPin(n.pins, map), key: e.key, value: e.value });
  }
  await runBatch(n.node, ops);
}

beforeAll(async () => {
  lab = await startLab({ nodes: 1, pods: [] });
  n = await loadNode(lab.nodes[0]!);
  await n.config(testConfig(NODE));
  await n.route({ cidr: `${NODE}/32` }, { type: 'localHost', ifindex: 0, nodeIp: NODE });
  await n.route({ cidr: `${BACKEND}/32` }, { type: 'localWorkload', ifindex: LO, nodeIp: NODE });
  await n.frontend({ addr: '0.0.0.0', port: 30081, proto: 'TCP' }, { svcId: 1, count: 1, flags: 0 });
  await n.backend({ svcId: 1, ordinal: 0 }, { addr: BACKEND, port: 8080, nodeIp: NODE });
  await program([ENDPOINT]);
});

afterAll(async () => {
  await lab?.down();
});

describe('host endpoint policy on a data interface', () => {
  it('BPF-HEP-000 the maps have the key and value sizes the planner encodes', async () => {
    const sizes = async (map: string) => {
      const m = await mapInfo(n.node, mapPin(n.pins, map));
      return [m.keySize, m.valueSize];
    };
    expect(await sizes(HEP_MAP.endpoints)).toEqual([HEP_SIZE.key, HEP_SIZE.val]);
    expect(await sizes(HEP_MAP.rules)).toEqual([HEP_SIZE.ruleKey, HEP_SIZE.rule]);
    expect(await sizes(HEP_MAP.nets)).toEqual([HEP_SIZE.netKey, HEP_SIZE.netVal]);
  });

  it('BPF-HEP-001 traffic to the host: the allowed client and the failsafe port pass, the rest is dropped and counted', async () => {
    const before = await drops('ingress');
    expect(
      await run(PROG.hostIngress, { src: ADMIN, dst: NODE, proto: 'TCP', sport: 40000, dport: 10250 }),
    ).toBe(TC_ACT.ok);
    expect(
      await run(PROG.hostIngress, { src: OTHER, dst: NODE, proto: 'TCP', sport: 40001, dport: 22 }),
    ).toBe(TC_ACT.ok);
    expect(
      await run(PROG.hostIngress, { src: OTHER, dst: NODE, proto: 'TCP', sport: 40002, dport: 10250 }),
    ).toBe(TC_ACT.shot);
    expect(
      await run(PROG.hostIngress, { src: OTHER, dst: NODE, proto: 'UDP', sport: 40003, dport: 10250 }),
    ).toBe(TC_ACT.shot);
    expect((await drops('ingress')) - before).toBe(2n);
  });

  it('BPF-HEP-002 replies of a flow the host let in leave although egress denies all; a new flow out does not', async () => {
    const reply = {
      src: NODE,
      dst: ADMIN,
      proto: 'TCP',
      sport: 10250,
      dport: 40000,
      tcpFlags: TCP_FLAG.syn | TCP_FLAG.ack,
    } as const;
    expect(await run(PROG.hostEgress, reply)).toBe(TC_ACT.ok);
    const before = await drops('egress');
    expect(
      await run(PROG.hostEgress, { src: NODE, dst: OTHER, proto: 'TCP', sport: 41000, dport: 443 }),
    ).toBe(TC_ACT.shot);
    expect(await run(PROG.hostEgress, { src: NODE, dst: OTHER, proto: 'UDP', sport: 41001, dport: 53 })).toBe(
      TC_ACT.ok,
    );
    expect((await drops('egress')) - before).toBe(1n);
  });

  it('BPF-HEP-003 pre-DNAT: a NodePort is judged by its own number before NAT, forwarded traffic by forward policy only', async () => {
    const before = await drops('ingress');
    expect(
      await run(PROG.hostIngress, { src: OTHER, dst: NODE, proto: 'TCP', sport: 42000, dport: 30081 }),
    ).toBe(TC_ACT.shot);
    // Allowed before NAT, DNATed to a workload: forwarded, so the host's default deny does not apply.
    expect(
      await run(PROG.hostIngress, { src: ADMIN, dst: NODE, proto: 'TCP', sport: 42001, dport: 30081 }),
    ).toBe(TC_ACT.ok);
    expect((await drops('ingress')) - before).toBe(1n);
  });

  it('BPF-HEP-004 without an endpoint on the interface nothing is judged', async () => {
    await program([]);
    const ops: BatchOp[] = [];
    // Clearing: the planner wrote nothing for no endpoint, so remove what the first plan wrote.
    const plan = planHostPolicy([ENDPOINT], 'lab', new Map([['lo', LO]]));
    for (const e of plan.endpoints.values())
      ops.push({ op: 'delete', pin: mapPin(n.pins, HEP_MAP.endpoints), key: e.key });
    await runBatch(n.node, ops);
    expect(
      await run(PROG.hostIngress, { src: OTHER, dst: NODE, proto: 'TCP', sport: 43000, dport: 10250 }),
    ).toBe(TC_ACT.ok);
  });
});
