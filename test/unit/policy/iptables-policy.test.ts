/**
 * The iptables rendering of compiled policy: chain names, rule order, ipBlock holes, the
 * counted drop rule, what lands on which node, and reading the drop counters back.
 */
import type { V1NetworkPolicySpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import {
  createPolicyExtension,
  dropComment,
  isPolicyChain,
  POLICY_CHAIN,
  podChainName,
} from '../../../src/dataplane/iptables/policy.ts';
import { parsePolicyDrops } from '../../../src/dataplane/iptables/policy-counters.ts';
import { planFilter } from '../../../src/dataplane/iptables/render-filter.ts';
import { parseIptablesSave } from '../../../src/dataplane/iptables/save-parse.ts';
import type { ClusterModel, NetworkPolicyState, PodState } from '../../../src/k8s/model.ts';
import { subtractCidrs } from '../../../src/policy/cidr.ts';

function pod(name: string, ip: string, nodeName: string, hostIface: string): PodState {
  return {
    namespace: 'x',
    name,
    labels: { pod: name },
    nodeName,
    ip,
    ports: [{ name: 'http', containerPort: 8080, protocol: 'TCP' }],
    hostIface,
  };
}

const PODS = [
  pod('a', '10.244.0.2', 'n0', 'caliaaaaaaaaaaa'),
  pod('b', '10.244.0.3', 'n0', 'calibbbbbbbbbbb'),
  pod('c', '10.244.1.2', 'n1', 'caliccccccccccc'),
];

function model(...policies: Record<string, unknown>[]): ClusterModel {
  return {
    nodes: [],
    pods: PODS,
    services: [],
    endpoints: [],
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
    namespaces: [{ name: 'x', labels: {} }],
    policies: policies.map(
      (spec, i): NetworkPolicyState => ({
        namespace: 'x',
        name: `p${i}`,
        spec: spec as unknown as V1NetworkPolicySpec,
      }),
    ),
  };
}

/** The rule lines of the filter restore for node n0 with the policy extension. */
function lines(m: ClusterModel, node = 'n0'): string[] {
  const text = planFilter(m, { name: node }, { extensions: [createPolicyExtension()] }).text;
  return text.split('\n');
}

const TW_A = podChainName('x', 'a', 'ingress');
const FW_A = podChainName('x', 'a', 'egress');

describe('subtractCidrs', () => {
  it('carves holes out of a block as disjoint CIDRs', () => {
    expect(subtractCidrs('10.0.0.0/24', [])).toEqual(['10.0.0.0/24']);
    expect(subtractCidrs('10.0.0.0/24', ['10.0.0.0/25'])).toEqual(['10.0.0.128/25']);
    expect(subtractCidrs('10.0.0.0/24', ['10.0.0.5/32'])).toEqual([
      '10.0.0.0/30',
      '10.0.0.4/32',
      '10.0.0.6/31',
      '10.0.0.8/29',
      '10.0.0.16/28',
      '10.0.0.32/27',
      '10.0.0.64/26',
      '10.0.0.128/25',
    ]);
    expect(subtractCidrs('10.0.0.0/24', ['10.0.0.0/16'])).toEqual([]);
    expect(subtractCidrs('10.0.0.0/24', ['192.168.0.0/16'])).toEqual(['10.0.0.0/24']);
  });
});

describe('policy chain names', () => {
  it('are stable per pod and direction, ours, and short enough for iptables', () => {
    expect(podChainName('x', 'a', 'ingress')).toBe(TW_A);
    expect(TW_A).toMatch(/^DPC-TW-[0-9A-F]{16}$/);
    expect(FW_A).toMatch(/^DPC-FW-[0-9A-F]{16}$/);
    expect(podChainName('x', 'b', 'ingress')).not.toBe(TW_A);
    expect(podChainName('y', 'a', 'ingress')).not.toBe(TW_A);
    expect(TW_A.length).toBeLessThanOrEqual(28);
    expect([TW_A, FW_A, POLICY_CHAIN].every(isPolicyChain)).toBe(true);
    expect(isPolicyChain('KUBE-FORWARD')).toBe(false);
  });
});

describe('policy extension', () => {
  it('without policies: only the empty dispatch chain and its hook', () => {
    const l = lines(model());
    expect(l).toContain(`:${POLICY_CHAIN} - [0:0]`);
    expect(l).toContain('-A KUBE-PROXY-FIREWALL -m comment --comment "dpc network policy" -j DPC-POLICY');
    expect(l.filter((x) => x.startsWith(`-A ${POLICY_CHAIN} `))).toEqual([]);
  });

  it('default deny ingress: replies first, then the counted drop, dispatched on -o', () => {
    const l = lines(model({ podSelector: { matchLabels: { pod: 'a' } } }));
    expect(l.filter((x) => x.startsWith(`-A ${TW_A} `))).toEqual([
      `-A ${TW_A} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `-A ${TW_A} -m comment --comment "${dropComment('x', 'a', 'ingress')}" -j DROP`,
    ]);
    expect(l.filter((x) => x.startsWith(`-A ${POLICY_CHAIN} `))).toEqual([
      `-A ${POLICY_CHAIN} -o caliaaaaaaaaaaa -j ${TW_A}`,
    ]);
  });

  it('allow rules become RETURNs per peer and port; ipBlock holes are carved out', () => {
    const l = lines(
      model({
        podSelector: { matchLabels: { pod: 'a' } },
        ingress: [
          {
            from: [
              { podSelector: { matchLabels: { pod: 'b' } } },
              { ipBlock: { cidr: '172.18.0.0/30', except: ['172.18.0.1/32'] } },
            ],
            ports: [{ port: 'http' }, { port: 9000, endPort: 9010, protocol: 'UDP' }],
          },
        ],
      }),
    );
    const c = '-m comment --comment "x/p0 ingress[0]" -j RETURN';
    expect(l.filter((x) => x.startsWith(`-A ${TW_A} `)).slice(1, -1)).toEqual([
      `-A ${TW_A} -s 172.18.0.0/32 -p tcp -m tcp --dport 8080 ${c}`,
      `-A ${TW_A} -s 172.18.0.0/32 -p udp -m udp --dport 9000:9010 ${c}`,
      `-A ${TW_A} -s 172.18.0.2/31 -p tcp -m tcp --dport 8080 ${c}`,
      `-A ${TW_A} -s 172.18.0.2/31 -p udp -m udp --dport 9000:9010 ${c}`,
      `-A ${TW_A} -s 10.244.0.3/32 -p tcp -m tcp --dport 8080 ${c}`,
      `-A ${TW_A} -s 10.244.0.3/32 -p udp -m udp --dport 9000:9010 ${c}`,
    ]);
  });

  it('egress uses -d and -i, and egress chains are dispatched before ingress ones', () => {
    const l = lines(
      model({
        podSelector: {},
        policyTypes: ['Ingress', 'Egress'],
        egress: [{ to: [{ podSelector: { matchLabels: { pod: 'c' } } }], ports: [{ protocol: 'UDP' }] }],
      }),
    );
    expect(l.filter((x) => x.startsWith(`-A ${FW_A} `))[1]).toBe(
      `-A ${FW_A} -d 10.244.1.2/32 -p udp -m comment --comment "x/p0 egress[0]" -j RETURN`,
    );
    const TW_B = podChainName('x', 'b', 'ingress');
    const FW_B = podChainName('x', 'b', 'egress');
    expect(l.filter((x) => x.startsWith(`-A ${POLICY_CHAIN} `))).toEqual([
      `-A ${POLICY_CHAIN} -i caliaaaaaaaaaaa -j ${FW_A}`,
      `-A ${POLICY_CHAIN} -i calibbbbbbbbbbb -j ${FW_B}`,
      `-A ${POLICY_CHAIN} -o caliaaaaaaaaaaa -j ${TW_A}`,
      `-A ${POLICY_CHAIN} -o calibbbbbbbbbbb -j ${TW_B}`,
    ]);
    // Pod c lives on n1: its chains are not written on n0, and are on n1.
    const TW_C = podChainName('x', 'c', 'ingress');
    expect(l.some((x) => x.includes(TW_C))).toBe(false);
    expect(lines(model({ podSelector: {} }), 'n1').some((x) => x.includes(TW_C))).toBe(true);
  });

  it('the chains of a pod no longer isolated are deleted at the next sync', () => {
    const ext = createPolicyExtension();
    const first = planFilter(
      model({ podSelector: { matchLabels: { pod: 'a' } } }),
      { name: 'n0' },
      { extensions: [ext] },
    );
    const current = parseIptablesSave(
      `*filter\n${[...first.chains.keys()].map((c) => `:${c} - [0:0]`).join('\n')}\nCOMMIT\n`,
    ).get('filter');
    const second = planFilter(model(), { name: 'n0' }, { extensions: [ext], current });
    expect(second.text.split('\n')).toContain(`-X ${TW_A}`);
    expect(second.text.split('\n')).not.toContain(`-X ${POLICY_CHAIN}`);
  });
});

describe('parsePolicyDrops', () => {
  it('finds each pod drop rule by its comment and reads its counters', () => {
    const saved = [
      '*filter',
      `:${TW_A} - [0:0]`,
      `[7:420] -A ${TW_A} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT`,
      `[3:252] -A ${TW_A} -m comment --comment "${dropComment('x', 'a', 'ingress')}" -j DROP`,
      `[5:300] -A ${FW_A} -m comment --comment "${dropComment('x', 'a', 'egress')}" -j DROP`,
      '[9:900] -A KUBE-FORWARD -m conntrack --ctstate INVALID -j DROP',
      'COMMIT',
    ].join('\n');
    expect(parsePolicyDrops(saved)).toEqual([
      { pod: 'x/a', direction: 'ingress', chain: TW_A, packets: 3, bytes: 252 },
      { pod: 'x/a', direction: 'egress', chain: FW_A, packets: 5, bytes: 300 },
    ]);
  });
});
