import { describe, expect, it } from 'vitest';
import type { CalicoPolicyState, CalicoRule, HostEndpointState } from '../../../src/k8s/calico-model.ts';
import { autoHostEndpoint } from '../../../src/k8s/calico-model.ts';
import { calicoSelects, parseCalicoSelector, SelectorError } from '../../../src/k8s/calico-selector.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import { cidrContains, mustCidr4, mustIpv4 } from '../../../src/k8s/ip.ts';
import type { NetworkPolicyState, PodState } from '../../../src/k8s/model.ts';
import { admittedBoxes, boxesOf, subtractRanges } from '../../../src/policy/boxes.ts';
import { allows, compilePolicy } from '../../../src/policy/compile.ts';
import {
  compileHostPolicy,
  endpointFor,
  type HostPolicyInputs,
  stageVerdict,
} from '../../../src/policy/host.ts';

function pod(
  namespace: string,
  name: string,
  ip: string,
  labels: Record<string, string>,
  nodeName = 'n1',
): PodState {
  return { namespace, name, ip, labels, nodeName, ports: [], hostIface: `cali${name}` };
}

const PODS = [
  pod('a', 'web', '10.244.1.10', { app: 'web', tier: 'front' }),
  pod('b', 'web', '10.244.1.11', { app: 'web' }),
  pod('a', 'db', '10.244.2.10', { app: 'db' }, 'n2'),
  pod('c', 'client', '10.244.2.20', { app: 'client' }, 'n2'),
];

function gnp(name: string, spec: Partial<CalicoPolicyState>): CalicoPolicyState {
  return {
    kind: 'GlobalNetworkPolicy',
    name,
    selector: 'all()',
    types: ['Ingress'],
    ingress: [],
    egress: [],
    applyOnForward: false,
    preDNAT: false,
    ...spec,
  };
}

const rule = (action: CalicoRule['action'], extra: Partial<CalicoRule> = {}): CalicoRule => ({
  action,
  source: {},
  destination: {},
  ...extra,
});

function compiled(calicoPolicies: CalicoPolicyState[], policies: NetworkPolicyState[] = []) {
  return compilePolicy({ pods: PODS, namespaces: [], policies, calicoPolicies });
}

describe('Calico selectors', () => {
  it.each([
    ["app == 'web'", { app: 'web' }, true],
    ["app != 'web'", {}, true],
    ['has(tier) && !has(legacy)', { tier: 'x' }, true],
    ["app in {'db', 'web'}", { app: 'db' }, true],
    ["app not in {'db'}", { app: 'db' }, false],
    ["(app == 'x' || tier starts with 'fr') && all()", { tier: 'front' }, true],
    ["app contains 'e'", { app: 'web' }, true],
  ])('%s on %j is %s', (text, labels, want) => {
    expect(calicoSelects(parseCalicoSelector(text), labels)).toBe(want);
  });

  it('global() selects only what lives outside namespaces', () => {
    expect(calicoSelects(parseCalicoSelector('global()'), {}, true)).toBe(true);
    expect(calicoSelects(parseCalicoSelector('global()'), {}, false)).toBe(false);
    expect(calicoSelects(parseCalicoSelector('all()'), {}, true)).toBe(false);
  });

  it('says where a selector stops making sense', () => {
    expect(() => parseCalicoSelector("app == 'x' &&")).toThrow(SelectorError);
    expect(() => parseCalicoSelector('app in (a)')).toThrow(/expected "\{"/);
  });
});

describe('box arithmetic', () => {
  it('subtracts port ranges', () => {
    expect(
      subtractRanges(
        [{ lo: 0, hi: 100 }],
        [
          { lo: 10, hi: 20 },
          { lo: 90, hi: 200 },
        ],
      ),
    ).toEqual([
      { lo: 0, hi: 9 },
      { lo: 21, hi: 89 },
    ]);
  });

  it('lets an earlier deny carve a hole in a later allow', () => {
    const admitted = admittedBoxes([
      { admits: false, boxes: boxesOf(['10.0.0.1/32'], ['TCP'], [{ lo: 80, hi: 80 }]) },
      { admits: true, boxes: boxesOf(['10.0.0.0/30'], ['TCP'], [{ lo: 0, hi: 65535 }]) },
    ]);
    const has = (ip: string, port: number) =>
      admitted.some((b) => cidrContains(b.peer, mustIpv4(ip)) && port >= b.lo && port <= b.hi);
    expect(has('10.0.0.1', 80)).toBe(false);
    expect(has('10.0.0.1', 81)).toBe(true);
    expect(has('10.0.0.2', 80)).toBe(true);
    expect(has('10.0.0.4', 80)).toBe(false);
  });
});

describe('Calico policy on pods', () => {
  it('a GlobalNetworkPolicy selects pods by label in every namespace', () => {
    const out = compiled([gnp('deny-web', { selector: "app == 'web'", ingress: [rule('Deny')] })]);
    expect(allows(out, '10.244.2.20', '10.244.1.10', 'TCP', 80)).toBe(false);
    expect(allows(out, '10.244.2.20', '10.244.1.11', 'TCP', 80)).toBe(false);
    expect(allows(out, '10.244.2.20', '10.244.2.10', 'TCP', 80)).toBe(true);
  });

  it('a namespaced Calico NetworkPolicy selects only in its namespace', () => {
    const p = {
      ...gnp('deny-web', { selector: "app == 'web'", ingress: [rule('Deny')] }),
      kind: 'NetworkPolicy.projectcalico.org' as const,
      namespace: 'a',
    };
    const out = compiled([p]);
    expect(allows(out, '10.244.2.20', '10.244.1.10', 'TCP', 80)).toBe(false);
    expect(allows(out, '10.244.2.20', '10.244.1.11', 'TCP', 80)).toBe(true);
  });

  it('the lower order decides; a policy without order comes last', () => {
    const allowClient = rule('Allow', { source: { selector: "app == 'client'" } });
    const first = compiled([
      gnp('z-allow', { selector: "app == 'db'", order: 1, ingress: [allowClient] }),
      gnp('a-deny', { selector: "app == 'db'", order: 2, ingress: [rule('Deny')] }),
    ]);
    expect(allows(first, '10.244.2.20', '10.244.2.10', 'TCP', 5432)).toBe(true);
    const unordered = compiled([
      gnp('z-allow', { selector: "app == 'db'", ingress: [allowClient] }),
      gnp('a-deny', { selector: "app == 'db'", order: 2, ingress: [rule('Deny')] }),
    ]);
    expect(allows(unordered, '10.244.2.20', '10.244.2.10', 'TCP', 5432)).toBe(false);
  });

  it('Pass skips the rest of the tier to the profile, which allows', () => {
    const out = compiled([
      gnp('pass', {
        selector: "app == 'db'",
        order: 1,
        ingress: [rule('Pass', { source: { namespaceSelector: "projectcalico.org/name == 'c'" } })],
      }),
      gnp('deny', { selector: "app == 'db'", order: 2, ingress: [rule('Deny')] }),
    ]);
    expect(allows(out, '10.244.2.20', '10.244.2.10', 'TCP', 1)).toBe(true);
    expect(allows(out, '10.244.1.10', '10.244.2.10', 'TCP', 1)).toBe(false);
  });

  it('end of tier denies; Log goes on; ports and protocols narrow a rule', () => {
    const out = compiled([
      gnp('web-80', {
        selector: "app == 'web'",
        ingress: [rule('Log'), rule('Allow', { protocol: 6, destination: { ports: [{ lo: 80, hi: 80 }] } })],
      }),
    ]);
    expect(allows(out, '10.244.2.20', '10.244.1.10', 'TCP', 80)).toBe(true);
    expect(allows(out, '10.244.2.20', '10.244.1.10', 'TCP', 81)).toBe(false);
    expect(allows(out, '10.244.2.20', '10.244.1.10', 'UDP', 80)).toBe(false);
  });

  it('Kubernetes NetworkPolicies sit at order 1000 among Calico policies', () => {
    const k8s: NetworkPolicyState = {
      namespace: 'a',
      name: 'allow-client',
      // Stored as written: `from`, which client-node's model calls `_from`.
      spec: {
        podSelector: { matchLabels: { app: 'db' } },
        ingress: [{ from: [{ ipBlock: { cidr: '10.244.2.20/32' } }] }],
      } as unknown as NetworkPolicyState['spec'],
    };
    const denyLate = gnp('deny-late', { selector: "app == 'db'", order: 2000, ingress: [rule('Deny')] });
    expect(allows(compiled([denyLate], [k8s]), '10.244.2.20', '10.244.2.10', 'TCP', 1)).toBe(true);
    const denyEarly = { ...denyLate, order: 10 };
    expect(allows(compiled([denyEarly], [k8s]), '10.244.2.20', '10.244.2.10', 'TCP', 1)).toBe(false);
  });

  it('leaves pods no Calico policy selects exactly as Kubernetes policy compiles them', () => {
    const out = compiled([gnp('deny-web', { selector: "app == 'web'", ingress: [rule('Deny')] })]);
    const db = out.find((p) => p.name === 'db')!;
    expect(db.ingress).toEqual({ isolated: false, policies: [], rules: [] });
  });
});

describe('host endpoint policy', () => {
  const nodes = [
    { name: 'n1', ip: '172.18.0.2' },
    { name: 'n2', ip: '172.18.0.3' },
  ];
  const heps: HostEndpointState[] = nodes.map((n, index) => autoHostEndpoint({ ...n, index }));
  const inputs = (policies: CalicoPolicyState[], extra: HostEndpointState[] = []): HostPolicyInputs => ({
    nodes,
    pods: PODS,
    namespaces: [],
    hostEndpoints: [...heps, ...extra],
    policies,
    failsafeInbound: DEFAULT_FELIX_SETTINGS.failsafeInboundHostPorts,
    failsafeOutbound: DEFAULT_FELIX_SETTINGS.failsafeOutboundHostPorts,
  });
  const inCidr = (c: string, a: number) => cidrContains(mustCidr4(c), a);
  const verdict = (
    stage: Parameters<typeof stageVerdict>[0],
    proto: number,
    src: string,
    dst: string,
    port: number,
  ) => stageVerdict(stage, proto, mustIpv4(src), mustIpv4(dst), port, inCidr);

  it('an automatic endpoint without policy allows everything (its profile)', () => {
    const ep = compileHostPolicy(inputs([])).endpoints[0]!;
    for (const stage of Object.values(ep.stages)) expect(stage.otherwise).toBe('allow');
  });

  it('a selecting policy makes the host default-deny, failsafe ports first', () => {
    const deny = gnp('deny', { selector: 'has(kubernetes.io/hostname)', ingress: [rule('Deny')] });
    const ep = compileHostPolicy(inputs([deny])).endpoints.find((e) => e.nodeName === 'n1')!;
    expect(verdict(ep.stages.ingress, 6, '172.18.1.2', '172.18.0.2', 10250)).toBe('deny');
    expect(verdict(ep.stages.ingress, 6, '172.18.1.2', '172.18.0.2', 22)).toBe('allow');
    expect(ep.stages.ingress.rules[0]?.origin).toBe('failsafe inbound tcp:22');
    // Not applyOnForward: forwarded traffic is not judged by it.
    expect(verdict(ep.stages.forwardIngress, 6, '172.18.1.2', '10.244.1.10', 80)).toBe('allow');
    expect(verdict(ep.stages.preDnat, 6, '172.18.1.2', '172.18.0.2', 30081)).toBe('allow');
  });

  it('pre-DNAT policy drops what it denies and passes on what it does not match', () => {
    const pre = gnp('pre', {
      selector: 'all()',
      preDNAT: true,
      applyOnForward: true,
      ingress: [
        rule('Allow', {
          protocol: 6,
          source: { nets: ['172.18.1.1/32'] },
          destination: { ports: [{ lo: 30081, hi: 30081 }] },
        }),
        rule('Deny', { protocol: 6, destination: { ports: [{ lo: 30081, hi: 30081 }] } }),
      ],
    });
    const ep = compileHostPolicy(inputs([pre])).endpoints[0]!;
    expect(verdict(ep.stages.preDnat, 6, '172.18.1.1', '172.18.0.2', 30081)).toBe('allow');
    expect(verdict(ep.stages.preDnat, 6, '172.18.1.2', '172.18.0.2', 30081)).toBe('deny');
    expect(verdict(ep.stages.preDnat, 6, '172.18.1.2', '172.18.0.2', 30082)).toBe('allow');
    expect(ep.stages.ingress.otherwise).toBe('allow');
  });

  it('a written endpoint without profile denies when no policy selects it, and owns its interface', () => {
    const eth0: HostEndpointState = {
      name: 'n1-eth0',
      node: 'n1',
      interfaceName: 'eth0',
      expectedIPs: [],
      labels: {},
      profiles: [],
      auto: false,
    };
    const plan = compileHostPolicy(inputs([], [eth0]));
    const ep = endpointFor(plan.endpoints, 'n1', 'eth0')!;
    expect(ep.name).toBe('n1-eth0');
    expect(endpointFor(plan.endpoints, 'n1', 'eth1')?.name).toBe('n1-auto-hep');
    expect(verdict(ep.stages.ingress, 6, '172.18.1.2', '172.18.0.2', 10250)).toBe('deny');
    expect(verdict(ep.stages.egress, 17, '172.18.0.2', '8.8.8.8', 53)).toBe('allow');
    expect(verdict(ep.stages.egress, 17, '172.18.0.2', '8.8.8.8', 54)).toBe('deny');
  });

  it('rule selectors pick host endpoints and pods as peers; notNets carve holes', () => {
    const p = gnp('from-nodes', {
      selector: 'has(kubernetes.io/hostname)',
      ingress: [
        rule('Allow', { source: { selector: 'has(kubernetes.io/hostname)', notNets: ['172.18.0.3/32'] } }),
      ],
    });
    const ep = compileHostPolicy(inputs([p])).endpoints[0]!;
    expect(verdict(ep.stages.ingress, 6, '172.18.0.2', '172.18.0.2', 1)).toBe('allow');
    expect(verdict(ep.stages.ingress, 6, '172.18.0.3', '172.18.0.2', 1)).toBe('deny');
  });
});
