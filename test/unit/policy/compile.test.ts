/**
 * NetworkPolicy compilation, checked the way Kubernetes' netpol e2e tests check a network
 * plugin: namespaces x, y, z with pods a, b, c each serving 80 and 81 over TCP and UDP, and a
 * reachability matrix (rows: from, columns: to) per protocol and port.
 */
import type { V1NetworkPolicySpec } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { NetworkPolicyState, PodState, Protocol } from '../../../src/k8s/model.ts';
import { allows, compilePolicy } from '../../../src/policy/compile.ts';
import type { PolicyInputs } from '../../../src/policy/types.ts';

const NAMESPACES = ['x', 'y', 'z'];
const NAMES = ['a', 'b', 'c'];

function pod(ns: string, name: string, i: number): PodState {
  return {
    namespace: ns,
    name,
    labels: { pod: name },
    nodeName: `node-${i % 2}`,
    ip: `10.244.${i % 2}.${10 + i}`,
    ports: [80, 81].flatMap((port) =>
      (['TCP', 'UDP'] as const).map((protocol) => ({
        name: `serve-${port}-${protocol.toLowerCase()}`,
        containerPort: port,
        protocol,
      })),
    ),
    hostIface: `cali${String(i).padStart(11, '0')}`,
  };
}

const PODS = NAMESPACES.flatMap((ns, n) => NAMES.map((name, m) => pod(ns, name, n * 3 + m)));
const ipOf = (key: string) => PODS.find((p) => `${p.namespace}/${p.name}` === key)!.ip;

function inputs(...policies: NetworkPolicyState[]): PolicyInputs {
  return {
    policies,
    pods: PODS,
    namespaces: NAMESPACES.map((name) => ({ name, labels: { ns: name } })),
  };
}

function policy(namespace: string, name: string, spec: Record<string, unknown>): NetworkPolicyState {
  return { namespace, name, spec: spec as unknown as V1NetworkPolicySpec };
}

/** The reachability matrix: one line per source pod, `.` reachable, `X` not. */
function matrix(input: PolicyInputs, protocol: Protocol, port: number): string[] {
  const compiled = compilePolicy(input);
  return PODS.map((from) =>
    PODS.map((to) => (from === to || allows(compiled, from.ip, to.ip, protocol, port) ? '.' : 'X')).join(''),
  );
}

const ALL_OPEN = Array(9).fill('.........');

/** A matrix where only these targets are closed to everyone but these sources. */
function expectMatrix(closedTo: string[], openFrom: (to: string) => string[] = () => []): string[] {
  const keys = PODS.map((p) => `${p.namespace}/${p.name}`);
  return keys.map((from) =>
    keys
      .map((to) => (from === to || !closedTo.includes(to) || openFrom(to).includes(from) ? '.' : 'X'))
      .join(''),
  );
}

describe('compilePolicy', () => {
  it('no policy: nothing is isolated, everything reaches everything', () => {
    const compiled = compilePolicy(inputs());
    expect(compiled.every((p) => !p.ingress.isolated && !p.egress.isolated)).toBe(true);
    expect(matrix(inputs(), 'TCP', 80)).toEqual(ALL_OPEN);
  });

  it('default-deny ingress in x: x pods are isolated for ingress only and unreachable', () => {
    const deny = policy('x', 'deny', { podSelector: {} });
    const compiled = compilePolicy(inputs(deny));
    const xa = compiled.find((p) => p.namespace === 'x' && p.name === 'a')!;
    expect(xa.ingress).toEqual({ isolated: true, policies: ['x/deny'], rules: [] });
    expect(xa.egress.isolated).toBe(false);
    expect(compiled.find((p) => p.namespace === 'y')?.ingress.isolated).toBe(false);
    const expected = expectMatrix(['x/a', 'x/b', 'x/c']);
    expect(matrix(inputs(deny), 'TCP', 80)).toEqual(expected);
    expect(matrix(inputs(deny), 'UDP', 81)).toEqual(expected);
  });

  it('default-deny egress in x: x pods reach nobody, others still reach x', () => {
    const deny = policy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] });
    const compiled = compilePolicy(inputs(deny));
    expect(compiled.filter((p) => p.egress.isolated).map((p) => p.namespace)).toEqual(['x', 'x', 'x']);
    expect(compiled.some((p) => p.ingress.isolated)).toBe(false);
    const m = matrix(inputs(deny), 'TCP', 80);
    expect(m.slice(0, 3)).toEqual(['.XXXXXXXX', 'X.XXXXXXX', 'XX.XXXXXX']);
    expect(m.slice(3)).toEqual(ALL_OPEN.slice(3));
  });

  it('policyTypes default: egress rules make a policy Egress too; none written means Ingress only', () => {
    const withEgress = policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, egress: [{}] });
    const a = compilePolicy(inputs(withEgress)).find((p) => p.namespace === 'x' && p.name === 'a')!;
    expect(a.ingress.isolated).toBe(true);
    expect(a.egress).toMatchObject({ isolated: true, rules: [{ origin: 'x/p egress[0]' }] });
    expect(a.egress.rules[0]?.peers).toBeUndefined();
    expect(a.egress.rules[0]?.ports).toBeUndefined();
  });

  it('policyTypes default: an empty egress list does not make a policy Egress', () => {
    const p = policy('x', 'p', { podSelector: { matchLabels: { pod: 'a' } }, egress: [] });
    const a = compilePolicy(inputs(p)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect([a.ingress.isolated, a.egress.isolated]).toEqual([true, false]);
  });

  it('an empty from list admits every peer, like an absent one', () => {
    const p = policy('x', 'p', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [], ports: [{ port: 80 }] }],
    });
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p), 'TCP', 81)).toEqual(expectMatrix(['x/a']));
  });

  it('allow from a namespace: only pods of y reach x/a', () => {
    const p = policy('x', 'allow-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(expectMatrix(['x/a'], () => ['y/a', 'y/b', 'y/c']));
  });

  it('allow by namespace name label (kubernetes.io/metadata.name)', () => {
    const p = policy('x', 'allow-z', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'z' } } }] }],
    });
    expect(matrix(inputs(p), 'UDP', 80)).toEqual(expectMatrix(['x/a'], () => ['z/a', 'z/b', 'z/c']));
  });

  it('allow from a pod label: the podSelector alone means the policy namespace only', () => {
    const p = policy('x', 'allow-b', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(expectMatrix(['x/a'], () => ['x/b']));
  });

  it('namespaceSelector and podSelector in one peer are ANDed, in two peers ORed', () => {
    const and = policy('x', 'and', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            {
              namespaceSelector: { matchExpressions: [{ key: 'ns', operator: 'In', values: ['y', 'z'] }] },
              podSelector: { matchLabels: { pod: 'c' } },
            },
          ],
        },
      ],
    });
    expect(matrix(inputs(and), 'TCP', 80)).toEqual(expectMatrix(['x/a'], () => ['y/c', 'z/c']));
    const or = policy('x', 'or', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [
        {
          from: [
            { namespaceSelector: { matchLabels: { ns: 'y' } } },
            { podSelector: { matchLabels: { pod: 'c' } } },
          ],
        },
      ],
    });
    expect(matrix(inputs(or), 'TCP', 80)).toEqual(expectMatrix(['x/a'], () => ['y/a', 'y/b', 'y/c', 'x/c']));
  });

  it('allow on a port only: 80/TCP opens for everyone, 81/TCP and 80/UDP stay closed', () => {
    const p = policy('x', 'port-80', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ ports: [{ port: 80, protocol: 'TCP' }] }],
    });
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p), 'TCP', 81)).toEqual(expectMatrix(['x/a']));
    expect(matrix(inputs(p), 'UDP', 80)).toEqual(expectMatrix(['x/a']));
  });

  it('port ranges (endPort) and protocol without port', () => {
    const p = policy('x', 'ranges', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ ports: [{ port: 79, endPort: 80 }, { protocol: 'UDP' }] }],
    });
    const a = compilePolicy(inputs(p)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.ingress.rules[0]?.ports).toEqual([
      { protocol: 'TCP', port: 79, endPort: 80 },
      { protocol: 'UDP' },
    ]);
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p), 'TCP', 81)).toEqual(expectMatrix(['x/a']));
    expect(matrix(inputs(p), 'UDP', 81)).toEqual(ALL_OPEN);
  });

  it('ipBlock with except: the block is allowed, the hole in it is not', () => {
    // node-1 pods live in 10.244.1.0/24; carve y/a's address out of it.
    const p = policy('x', 'cidr', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ ipBlock: { cidr: '10.244.1.0/24', except: [`${ipOf('y/a')}/32`] } }] }],
    });
    const a = compilePolicy(inputs(p)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.ingress.rules[0]?.peers).toEqual({
      cidrs: [{ cidr: '10.244.1.0/24', except: [`${ipOf('y/a')}/32`] }],
      podIps: [],
    });
    const onNode1 = PODS.filter((q) => q.nodeName === 'node-1').map((q) => `${q.namespace}/${q.name}`);
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(
      expectMatrix(['x/a'], () => onNode1.filter((k) => k !== 'y/a')),
    );
    expect(allows(compilePolicy(inputs(p)), '10.244.1.200', ipOf('x/a'), 'TCP', 80)).toBe(true);
    expect(allows(compilePolicy(inputs(p)), '172.18.0.100', ipOf('x/a'), 'TCP', 80)).toBe(false);
  });

  it('named ports: ingress resolves on the selected pod, with its protocol', () => {
    const p = policy('x', 'named', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ ports: [{ port: 'serve-81-udp', protocol: 'UDP' }, { port: 'serve-80-tcp' }] }],
    });
    const a = compilePolicy(inputs(p)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.ingress.rules[0]?.ports).toEqual([
      { protocol: 'UDP', port: 81 },
      { protocol: 'TCP', port: 80 },
    ]);
    expect(matrix(inputs(p), 'UDP', 81)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p), 'TCP', 80)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p), 'TCP', 81)).toEqual(expectMatrix(['x/a']));
  });

  it('named ports: a name the pod does not declare (or declares for another protocol) admits nothing', () => {
    const p = policy('x', 'named', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ ports: [{ port: 'serve-81-udp' }, { port: 'nope', protocol: 'UDP' }] }],
    });
    const a = compilePolicy(inputs(p)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.ingress).toEqual({ isolated: true, policies: ['x/named'], rules: [] });
  });

  it('named ports: egress resolves on each destination pod', () => {
    const shifted = PODS.map((q) =>
      q.namespace === 'y' && q.name === 'b'
        ? { ...q, ports: [{ name: 'serve-80-tcp', containerPort: 8080, protocol: 'TCP' as const }] }
        : q,
    );
    const p = policy('x', 'egress-named', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [
        { to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }], ports: [{ port: 'serve-80-tcp' }] },
      ],
    });
    const input = { ...inputs(p), pods: shifted };
    const compiled = compilePolicy(input);
    const a = compiled.find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.egress.rules.map((r) => r.ports)).toEqual([
      [{ protocol: 'TCP', port: 80 }],
      [{ protocol: 'TCP', port: 8080 }],
    ]);
    const ya = ipOf('y/a');
    const yb = ipOf('y/b');
    expect(allows(compiled, ipOf('x/a'), ya, 'TCP', 80)).toBe(true);
    expect(allows(compiled, ipOf('x/a'), yb, 'TCP', 80)).toBe(false);
    expect(allows(compiled, ipOf('x/a'), yb, 'TCP', 8080)).toBe(true);
    expect(allows(compiled, ipOf('x/a'), ya, 'TCP', 8080)).toBe(false);
    expect(allows(compiled, ipOf('x/a'), ipOf('z/a'), 'TCP', 80)).toBe(false);
  });

  it('several policies add up: a port from one, a namespace from another', () => {
    const p1 = policy('x', 'from-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    const p2 = policy('x', 'port-81', {
      podSelector: {},
      ingress: [{ ports: [{ port: 81 }] }],
    });
    const a = compilePolicy(inputs(p1, p2)).find((q) => q.namespace === 'x' && q.name === 'a')!;
    expect(a.ingress.policies).toEqual(['x/from-y', 'x/port-81']);
    expect(matrix(inputs(p1, p2), 'TCP', 81)).toEqual(ALL_OPEN);
    expect(matrix(inputs(p1, p2), 'TCP', 80)).toEqual(
      expectMatrix(['x/a', 'x/b', 'x/c'], (to) => (to === 'x/a' ? ['y/a', 'y/b', 'y/c'] : [])),
    );
  });

  it('an allow-all ingress rule beside a default deny opens the pods again', () => {
    const deny = policy('x', 'deny', { podSelector: {} });
    const all = policy('x', 'all', { podSelector: {}, ingress: [{}] });
    expect(matrix(inputs(deny, all), 'UDP', 81)).toEqual(ALL_OPEN);
  });

  it('ingress and egress both apply: x/a may only talk to y, y/b only accepts from z', () => {
    const egress = policy('x', 'to-y', {
      podSelector: { matchLabels: { pod: 'a' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ namespaceSelector: { matchLabels: { ns: 'y' } } }] }],
    });
    const ingress = policy('y', 'from-z', {
      podSelector: { matchLabels: { pod: 'b' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { ns: 'z' } } }] }],
    });
    const compiled = compilePolicy(inputs(egress, ingress));
    expect(allows(compiled, ipOf('x/a'), ipOf('y/a'), 'TCP', 80)).toBe(true);
    expect(allows(compiled, ipOf('x/a'), ipOf('y/b'), 'TCP', 80)).toBe(false);
    expect(allows(compiled, ipOf('z/a'), ipOf('y/b'), 'TCP', 80)).toBe(true);
    expect(allows(compiled, ipOf('x/a'), ipOf('z/a'), 'TCP', 80)).toBe(false);
  });
});
