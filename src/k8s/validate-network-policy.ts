/**
 * networking.k8s.io/v1 NetworkPolicy checks, as kube-apiserver makes them. The policy is only
 * stored here; the dataplane compiles it.
 */
import type { V1NetworkPolicy } from '@kubernetes/client-node';
import { type FieldCheck, fieldOf, indexOf } from './check.ts';
import { cidrCovers, formatCidr4, parseCidr4 } from './ip.ts';
import { checkLabelSelector } from './label-selector.ts';
import { describeValue } from './manifest.ts';
import { checkIntOrPortName, checkProtocol } from './validate-service.ts';

const POLICY_TYPES = ['Ingress', 'Egress'] as const;

function checkCidr(c: FieldCheck, field: string, value: unknown) {
  const text = c.string(field, value, true)!;
  const cidr = parseCidr4(text);
  if (!cidr) {
    if (text.includes(':'))
      c.fail(field, `IPv6 CIDRs are not supported by this dataplane, got ${describeValue(text)}`);
    c.fail(field, `must be an IPv4 CIDR such as 10.0.0.0/8, got ${describeValue(text)}`);
  }
  if (cidr.hostBitsSet)
    c.warn(field, `host bits set in ${JSON.stringify(text)}, read as ${formatCidr4(cidr)}`);
  return cidr;
}

function checkPeer(c: FieldCheck, f: string, raw: unknown): void {
  const peer = c.record(f, raw, true)!;
  c.onlyKnown(f, peer, ['podSelector', 'namespaceSelector', 'ipBlock']);
  const pod = checkLabelSelector(c, fieldOf(f, 'podSelector'), peer.podSelector);
  const ns = checkLabelSelector(c, fieldOf(f, 'namespaceSelector'), peer.namespaceSelector);
  const blockField = fieldOf(f, 'ipBlock');
  const block = c.record(blockField, peer.ipBlock);
  if (block) {
    if (pod || ns) c.fail(blockField, 'may not be combined with podSelector or namespaceSelector');
    c.onlyKnown(blockField, block, ['cidr', 'except']);
    const cidr = checkCidr(c, fieldOf(blockField, 'cidr'), block.cidr);
    const exceptField = fieldOf(blockField, 'except');
    for (const [i, item] of (c.list(exceptField, block.except) ?? []).entries()) {
      const inner = checkCidr(c, indexOf(exceptField, i), item);
      if (!cidrCovers(cidr, inner) || inner.prefix === cidr.prefix) {
        c.fail(
          indexOf(exceptField, i),
          `must be strictly within ${formatCidr4(cidr)}, got ${describeValue(item)}`,
        );
      }
    }
  } else if (!pod && !ns) {
    c.fail(f, 'must set podSelector, namespaceSelector or ipBlock');
  }
}

function checkPorts(c: FieldCheck, field: string, value: unknown): void {
  for (const [i, raw] of (c.list(field, value) ?? []).entries()) {
    const f = indexOf(field, i);
    const port = c.record(f, raw, true)!;
    c.onlyKnown(f, port, ['port', 'protocol', 'endPort']);
    checkProtocol(c, fieldOf(f, 'protocol'), port.protocol);
    const p = checkIntOrPortName(c, fieldOf(f, 'port'), port.port);
    const end = c.int(fieldOf(f, 'endPort'), port.endPort, 1, 65535);
    if (end !== undefined) {
      if (typeof p !== 'number') c.fail(fieldOf(f, 'endPort'), 'may only be set when port is a number');
      if (end < p) c.fail(fieldOf(f, 'endPort'), `must be >= port (${p}), got ${end}`);
    }
  }
}

function checkRules(c: FieldCheck, spec: Record<string, unknown>, key: 'ingress' | 'egress'): void {
  const peersKey = key === 'ingress' ? 'from' : 'to';
  const field = fieldOf('spec', key);
  for (const [i, raw] of (c.list(field, spec[key]) ?? []).entries()) {
    const f = indexOf(field, i);
    const rule = c.record(f, raw, true)!;
    c.onlyKnown(f, rule, [peersKey, 'ports']);
    const peersField = fieldOf(f, peersKey);
    for (const [j, peer] of (c.list(peersField, rule[peersKey]) ?? []).entries())
      checkPeer(c, indexOf(peersField, j), peer);
    checkPorts(c, fieldOf(f, 'ports'), rule.ports);
  }
}

/** Checks a NetworkPolicy's `spec`, collecting warnings on `c`. */
export function checkNetworkPolicySpec(c: FieldCheck, object: Record<string, unknown>): V1NetworkPolicy {
  const spec = c.record('spec', object.spec, true)!;
  c.onlyKnown('spec', spec, ['podSelector', 'policyTypes', 'ingress', 'egress']);
  if (spec.podSelector === undefined || spec.podSelector === null)
    c.fail('spec.podSelector', 'required (use {} to select every pod)');
  checkLabelSelector(c, 'spec.podSelector', spec.podSelector);
  const types = c.list('spec.policyTypes', spec.policyTypes);
  const seen = new Set<string>();
  for (const [i, t] of (types ?? []).entries()) {
    const type = c.oneOf(indexOf('spec.policyTypes', i), t, POLICY_TYPES);
    if (type === undefined) c.fail(indexOf('spec.policyTypes', i), 'required');
    if (seen.has(type)) c.fail(indexOf('spec.policyTypes', i), `duplicate ${type}`);
    seen.add(type);
  }
  checkRules(c, spec, 'ingress');
  checkRules(c, spec, 'egress');
  return object as V1NetworkPolicy;
}

/** The policy types in force: as written, or Ingress plus Egress when egress rules exist. */
export function effectivePolicyTypes(policy: V1NetworkPolicy): ('Ingress' | 'Egress')[] {
  const written = policy.spec?.policyTypes;
  if (written && written.length > 0) return written as ('Ingress' | 'Egress')[];
  return policy.spec?.egress !== undefined ? ['Ingress', 'Egress'] : ['Ingress'];
}
