import { describe, expect, it } from 'vitest';
import {
  encodeHepNetKey,
  encodeHepRule,
  encodeRules,
  HEP_LIMITS,
  planHostPolicy,
} from '../../../src/dataplane/bpf/host-policy-plan.ts';
import { keyId } from '../../../src/dataplane/bpf/plan.ts';
import {
  hepChainName,
  hostDropComment,
  parseHostPolicyDrops,
  ruleMatches,
  writeHostPolicyChains,
} from '../../../src/dataplane/iptables/host-policy.ts';
import { TableSection } from '../../../src/dataplane/iptables/restore-text.ts';
import type { HostEndpointPolicy, HostRule, HostStagePolicy } from '../../../src/policy/host.ts';

const open: HostStagePolicy = { policies: [], rules: [], otherwise: 'allow' };

function endpoint(
  name: string,
  iface: string,
  ingress: HostStagePolicy,
  nodeName = 'n1',
): HostEndpointPolicy {
  return {
    name,
    nodeName,
    iface,
    stages: { preDnat: open, ingress, egress: open, forwardIngress: open, forwardEgress: open },
  };
}

const denyKubelet: HostStagePolicy = {
  policies: ['GlobalNetworkPolicy k'],
  rules: [
    { action: 'allow', protocol: 6, ports: [{ lo: 22, hi: 22 }], origin: 'failsafe inbound tcp:22' },
    { action: 'deny', protocol: 6, src: ['172.18.1.0/24'], ports: [{ lo: 10250, hi: 10250 }], origin: 'k' },
  ],
  otherwise: 'deny',
};

describe('host endpoint policy in iptables', () => {
  it('expands a rule into one line per source, destination and port range; pre-DNAT matches the original destination', () => {
    const rule: HostRule = {
      action: 'deny',
      protocol: 6,
      src: ['10.0.0.0/8', '192.168.0.0/16'],
      dst: ['172.18.0.2/32'],
      ports: [{ lo: 30000, hi: 30010 }],
      origin: 'x',
    };
    expect(ruleMatches(rule, false)).toEqual([
      ['-p', 'tcp', '-s', '10.0.0.0/8', '-d', '172.18.0.2/32', '-m', 'tcp', '--dport', '30000:30010'],
      ['-p', 'tcp', '-s', '192.168.0.0/16', '-d', '172.18.0.2/32', '-m', 'tcp', '--dport', '30000:30010'],
    ]);
    expect(ruleMatches(rule, true)[0]).toEqual([
      '-p',
      'tcp',
      '-s',
      '10.0.0.0/8',
      '-m',
      'conntrack',
      '--ctorigdst',
      '172.18.0.2/32',
      '-m',
      'conntrack',
      '--ctorigdstport',
      '30000:30010',
    ]);
    expect(ruleMatches({ action: 'allow', notProtocol: 17, origin: 'y' }, false)).toEqual([
      ['!', '-p', 'udp'],
    ]);
  });

  it('dispatches by interface, written endpoints before the `*` one, and drops with a counted comment', () => {
    const filter = new TableSection('filter');
    writeHostPolicyChains(
      filter,
      [endpoint('n1-eth0', 'eth0', denyKubelet), endpoint('n1-auto-hep', '*', open)],
      'n1',
    );
    const text = filter.text();
    const eth0 = hepChainName('n1-eth0', 'I');
    const star = hepChainName('n1-auto-hep', 'I');
    expect(text.indexOf(`-A DPC-HOST-I -i eth0 -g ${eth0}`)).toBeLessThan(
      text.indexOf(`-A DPC-HOST-I -g ${star}`),
    );
    const ingress = hepChainName('n1-eth0', 'ingress');
    expect(filter.rules(ingress)).toEqual([
      `-A ${ingress} -p tcp -m tcp --dport 22 -m comment --comment "failsafe inbound tcp:22" -j RETURN`,
      `-A ${ingress} -p tcp -s 172.18.1.0/24 -m tcp --dport 10250 -m comment --comment "${hostDropComment('n1-eth0', 'ingress')}" -j DROP`,
      `-A ${ingress} -m comment --comment "${hostDropComment('n1-eth0', 'ingress')}" -j DROP`,
    ]);
    // Another node's endpoints write nothing here.
    const other = new TableSection('filter');
    writeHostPolicyChains(other, [endpoint('n2-auto-hep', '*', denyKubelet, 'n2')], 'n1');
    expect(other.chains()).toEqual([]);
  });

  it('reads the drop counters back, summed per endpoint and stage', () => {
    const chain = hepChainName('n1-eth0', 'ingress');
    const saved = [
      `[3:180] -A ${chain} -p tcp -m tcp --dport 10250 -m comment --comment "dpc dropped by host policy: n1-eth0 ingress" -j DROP`,
      `[4:240] -A ${chain} -m comment --comment "dpc dropped by host policy: n1-eth0 ingress" -j DROP`,
      `[9:900] -A ${chain} -p tcp -m tcp --dport 22 -m comment --comment "failsafe inbound tcp:22" -j RETURN`,
    ].join('\n');
    expect(parseHostPolicyDrops(saved)).toEqual([
      { endpoint: 'n1-eth0', stage: 'ingress', packets: 7, bytes: 420 },
    ]);
  });
});

describe('host endpoint policy in the eBPF maps', () => {
  it('encodes a rule as the header lays it out', () => {
    const bytes = encodeHepRule({
      action: 'deny',
      proto: 6,
      notProto: false,
      srcSet: 7,
      dstSet: 0,
      ports: [{ lo: 10250, hi: 10251 }],
    });
    const d = new DataView(bytes.buffer);
    expect([d.getUint8(0), d.getUint8(1), d.getUint8(2), d.getUint8(3)]).toEqual([2, 6, 0, 1]);
    expect([
      d.getUint32(4, true),
      d.getUint32(8, true),
      d.getUint16(16, true),
      d.getUint16(18, true),
    ]).toEqual([7, 0, 10250, 10251]);
    expect([...encodeHepNetKey(7, '10.1.0.0/16')]).toEqual([48, 0, 0, 0, 7, 0, 0, 0, 10, 1, 0, 0]);
  });

  it('splits a port list longer than a rule holds into consecutive rules with the same action', () => {
    const ports = Array.from({ length: 10 }, (_, i) => ({ lo: 1000 + i, hi: 1000 + i }));
    const out = encodeRules({ action: 'allow', protocol: 17, ports, origin: 'x' }, () => 1);
    expect(out.map((r) => r.ports.length)).toEqual([HEP_LIMITS.portsPerRule, 2]);
    expect(encodeRules({ action: 'deny', protocol: 6, notProtocol: 6, origin: 'never' }, () => 1)).toEqual(
      [],
    );
  });

  it('plans every stage of every data interface an endpoint owns; a new rule list gets a new version', () => {
    const ifaces = new Map([
      ['eth0', 4],
      ['eth1', 5],
    ]);
    const plan = planHostPolicy(
      [endpoint('n1-eth0', 'eth0', denyKubelet), endpoint('n1-auto-hep', '*', open)],
      'n1',
      ifaces,
    );
    expect([...plan.bound]).toEqual([
      ['eth0', 'n1-eth0'],
      ['eth1', 'n1-auto-hep'],
    ]);
    expect(plan.endpoints.size).toBe(10);
    expect(plan.rules.size).toBe(2);
    expect(plan.nets.size).toBe(1);
    const changed = planHostPolicy(
      [
        endpoint('n1-eth0', 'eth0', { ...denyKubelet, rules: denyKubelet.rules.slice(1) }),
        endpoint('n1-auto-hep', '*', open),
      ],
      'n1',
      ifaces,
    );
    const ruleKeys = (p: typeof plan) => new Set([...p.rules.keys()]);
    expect([...ruleKeys(changed)].some((k) => ruleKeys(plan).has(k))).toBe(false);
    expect(keyId(new Uint8Array([1]))).toBeTypeOf('string');
  });
});
