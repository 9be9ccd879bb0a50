import { describe, expect, it } from 'vitest';
import {
  decodePolicyEndpoint,
  decodePolicyRuleKey,
  decodePolicyRuleValue,
  encodePolicyRuleKey,
  toHexWords,
} from '../../../src/dataplane/bpf/encoding.ts';
import { foldRules, mergeRanges, planPolicy } from '../../../src/dataplane/bpf/policy-plan.ts';
import type { DirectionPolicy, PodPolicy } from '../../../src/policy/types.ts';

const OPEN: DirectionPolicy = { isolated: false, policies: [], rules: [] };

function pod(
  name: string,
  ingress: DirectionPolicy,
  egress: DirectionPolicy = OPEN,
  nodeName = 'n1',
): PodPolicy {
  return { namespace: 'x', name, ip: '10.244.1.5', nodeName, hostIface: `cali${name}`, ingress, egress };
}

const IFS = new Map([
  ['calia', 7],
  ['calib', 8],
]);

describe('policy map encodings', () => {
  it('BPFPOL-U-001 rule key: prefix 64 + CIDR, ifindex, direction, masked address', () => {
    const k = encodePolicyRuleKey({ ifindex: 7, direction: 'egress', cidr: '10.1.2.3/16' });
    expect(toHexWords(k)).toBe('50 00 00 00 07 00 00 00 01 00 00 00 0a 01 00 00');
    expect(decodePolicyRuleKey(k)).toEqual({ ifindex: 7, direction: 'egress', cidr: '10.1.0.0/16' });
  });
});

describe('foldRules', () => {
  it('BPFPOL-U-002 a prefix carries the ports of every prefix that covers it', () => {
    const folded = foldRules([
      {
        origin: 'a',
        peers: { cidrs: [{ cidr: '10.0.0.0/8', except: [] }], podIps: [] },
        ports: [{ protocol: 'TCP', port: 80 }],
      },
      {
        origin: 'b',
        peers: { cidrs: [{ cidr: '10.1.0.0/16', except: [] }], podIps: [] },
        ports: [{ protocol: 'TCP', port: 443 }],
      },
    ]);
    expect(folded.get('10.0.0.0/8')).toEqual([{ protocol: 'TCP', lo: 80, hi: 80 }]);
    expect(folded.get('10.1.0.0/16')).toEqual([
      { protocol: 'TCP', lo: 80, hi: 80 },
      { protocol: 'TCP', lo: 443, hi: 443 },
    ]);
  });

  it('BPFPOL-U-003 except holes are carved out; no peers means 0.0.0.0/0; no ports means any', () => {
    const holes = foldRules([
      { origin: 'a', peers: { cidrs: [{ cidr: '10.0.0.0/30', except: ['10.0.0.1/32'] }], podIps: [] } },
    ]);
    expect([...holes.keys()].sort()).toEqual(['10.0.0.0/32', '10.0.0.2/31']);
    expect(foldRules([{ origin: 'all' }]).get('0.0.0.0/0')).toEqual([{ protocol: 'any', lo: 0, hi: 65535 }]);
  });

  it('BPFPOL-U-004 ranges merge when they overlap or touch, per protocol', () => {
    expect(
      mergeRanges([
        { protocol: 'TCP', lo: 80, hi: 90 },
        { protocol: 'UDP', lo: 85, hi: 85 },
        { protocol: 'TCP', lo: 91, hi: 100 },
        { protocol: 'TCP', lo: 85, hi: 86 },
      ]),
    ).toEqual([
      { protocol: 'TCP', lo: 80, hi: 100 },
      { protocol: 'UDP', lo: 85, hi: 85 },
    ]);
  });
});

describe('planPolicy', () => {
  it('BPFPOL-U-005 isolated pods of this node only, with their veth ifindex', () => {
    const deny: DirectionPolicy = { isolated: true, policies: ['x/deny'], rules: [] };
    const allow: DirectionPolicy = {
      isolated: true,
      policies: ['x/allow'],
      rules: [
        {
          origin: 'o',
          peers: { cidrs: [], podIps: ['172.18.1.10'] },
          ports: [{ protocol: 'UDP', port: 8080 }],
        },
      ],
    };
    const plan = planPolicy(
      [pod('a', allow, deny), pod('b', OPEN), pod('c', deny, OPEN, 'n2'), pod('d', deny)],
      'n1',
      IFS,
    );
    expect(plan.errors).toEqual([]);
    expect([...plan.endpoints.values()].map((e) => [e.owner, decodePolicyEndpoint(e.value)])).toEqual([
      ['x/a', { ingress: true, egress: true }],
    ]);
    const rules = [...plan.rules.values()].map((e) => [
      decodePolicyRuleKey(e.key),
      decodePolicyRuleValue(e.value),
    ]);
    expect(rules).toEqual([
      [
        { ifindex: 7, direction: 'ingress', cidr: '172.18.1.10/32' },
        [{ protocol: 'UDP', lo: 8080, hi: 8080 }],
      ],
    ]);
  });

  it('BPFPOL-U-006 limits refuse, never admit: too many ranges are cut, a full map leaves deny-all', () => {
    const many: DirectionPolicy = {
      isolated: true,
      policies: ['x/p'],
      rules: [
        {
          origin: 'o',
          ports: Array.from({ length: 5 }, (_, i) => ({ protocol: 'TCP' as const, port: 10 * i })),
        },
      ],
    };
    const cut = planPolicy([pod('a', many)], 'n1', IFS, { endpoints: 10, rules: 10, portsPerPrefix: 3 });
    expect(decodePolicyRuleValue([...cut.rules.values()][0]!.value)).toHaveLength(3);
    expect(cut.errors.join()).toContain('the rest are denied');
    const full = planPolicy([pod('a', many)], 'n1', IFS, { endpoints: 10, rules: 0, portsPerPrefix: 16 });
    expect(full.rules.size).toBe(0);
    expect(full.endpoints.size).toBe(1);
    expect(full.errors.join()).toContain('denies all ingress');
  });
});
