/**
 * GlobalNetworkPolicy and Calico NetworkPolicy (`projectcalico.org/v3`) checks, as Calico's
 * API validates them, plus what this dataplane refuses outright (IPv6, service accounts, HTTP
 * and ICMP matches, untracked policy). The spec comes out normalised for the policy compiler.
 */

import {
  CALICO_NETWORK_POLICY,
  type CalicoAction,
  type CalicoEntity,
  type CalicoPolicyState,
  type CalicoRule,
  defaultPolicyTypes,
  type PortRange,
} from './calico-model.ts';
import { parseCalicoSelector, SelectorError, usesGlobal } from './calico-selector.ts';
import { type FieldCheck, fieldOf, indexOf } from './check.ts';
import { formatCidr4, parseCidr4 } from './ip.ts';
import { describeValue } from './manifest.ts';

const ACTIONS: readonly CalicoAction[] = ['Allow', 'Deny', 'Log', 'Pass'];

/** Protocol names Calico accepts, with their IANA numbers. */
export const PROTOCOL_NUMBERS: Readonly<Record<string, number>> = {
  TCP: 6,
  UDP: 17,
  ICMP: 1,
  SCTP: 132,
  UDPLite: 136,
};

/** Protocols whose rules may name ports. */
const PORT_PROTOCOLS = new Set([6, 17, 132]);

const ENTITY_FIELDS = [
  'nets',
  'notNets',
  'selector',
  'notSelector',
  'namespaceSelector',
  'ports',
  'notPorts',
  'serviceAccounts',
  'services',
] as const;

const RULE_FIELDS = [
  'action',
  'protocol',
  'notProtocol',
  'ipVersion',
  'icmp',
  'notICMP',
  'source',
  'destination',
  'http',
  'metadata',
] as const;

/** Checks a selector expression; returns it as written. */
export function checkCalicoSelector(
  c: FieldCheck,
  field: string,
  value: unknown,
  allowGlobal = false,
): string | undefined {
  const text = c.string(field, value);
  if (text === undefined) return undefined;
  try {
    const sel = parseCalicoSelector(text);
    if (!allowGlobal && usesGlobal(sel)) c.fail(field, 'global() may only be used in a namespaceSelector');
  } catch (err) {
    if (!(err instanceof SelectorError)) throw err;
    c.fail(field, `not a valid selector (${err.message} at offset ${err.at}), got ${describeValue(text)}`);
  }
  return text;
}

function checkProtocolValue(c: FieldCheck, field: string, value: unknown): number | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number') {
    if (!Number.isInteger(value) || value < 1 || value > 255)
      c.fail(field, `must be a protocol name or a number 1-255, got ${describeValue(value)}`);
    return value;
  }
  if (typeof value === 'string') {
    if (value.toLowerCase() === 'icmpv6')
      c.fail(field, 'ICMPv6 is not supported: this dataplane is IPv4-only');
    const name = Object.keys(PROTOCOL_NUMBERS).find((n) => n.toLowerCase() === value.toLowerCase());
    if (name) return PROTOCOL_NUMBERS[name];
    if (/^[0-9]+$/.test(value)) return checkProtocolValue(c, field, Number(value));
  }
  return c.fail(
    field,
    `must be one of ${Object.keys(PROTOCOL_NUMBERS).join(', ')} or a number 1-255, got ${describeValue(value)}`,
  );
}

function checkNets(c: FieldCheck, field: string, value: unknown): string[] | undefined {
  const list = c.list(field, value);
  if (!list) return undefined;
  return list.map((item, i) => {
    const f = indexOf(field, i);
    const text = c.string(f, item, true)!;
    const cidr = parseCidr4(text.includes('/') ? text : `${text}/32`);
    if (!cidr) {
      if (text.includes(':'))
        c.fail(f, `IPv6 is not supported by this dataplane, got ${describeValue(text)}`);
      c.fail(f, `must be an IPv4 CIDR such as 10.0.0.0/8, got ${describeValue(text)}`);
    }
    if (cidr.hostBitsSet) c.warn(f, `host bits set in ${JSON.stringify(text)}, read as ${formatCidr4(cidr)}`);
    return formatCidr4(cidr);
  });
}

/** A port or `lo:hi` range; named ports are refused (this dataplane resolves none in rules). */
function checkPorts(c: FieldCheck, field: string, value: unknown): PortRange[] | undefined {
  const list = c.list(field, value);
  if (!list) return undefined;
  return list.map((item, i) => {
    const f = indexOf(field, i);
    if (typeof item === 'number') {
      c.int(f, item, 0, 65535);
      return { lo: item, hi: item };
    }
    if (typeof item === 'string') {
      const m = /^([0-9]{1,5})(?::([0-9]{1,5}))?$/.exec(item);
      if (m) {
        const lo = Number(m[1]);
        const hi = m[2] === undefined ? lo : Number(m[2]);
        if (hi > 65535 || lo > hi)
          c.fail(f, `must be a port 0-65535 or a range lo:hi, got ${describeValue(item)}`);
        return { lo, hi };
      }
      c.fail(
        f,
        `named ports are not supported by this dataplane; use a number or lo:hi, got ${describeValue(item)}`,
      );
    }
    return c.fail(f, `must be a port number or a range such as "30000:32767", got ${describeValue(item)}`);
  });
}

function checkEntity(
  c: FieldCheck,
  field: string,
  value: unknown,
  side: 'source' | 'destination',
  protocol: number | undefined,
): CalicoEntity {
  const raw = c.record(field, value);
  if (!raw) return {};
  c.onlyKnown(field, raw, ENTITY_FIELDS);
  for (const key of ['serviceAccounts', 'services'] as const) {
    if (raw[key] !== undefined) c.fail(fieldOf(field, key), 'not supported by this dataplane');
  }
  const out: CalicoEntity = {};
  const nets = checkNets(c, fieldOf(field, 'nets'), raw.nets);
  const notNets = checkNets(c, fieldOf(field, 'notNets'), raw.notNets);
  const selector = checkCalicoSelector(c, fieldOf(field, 'selector'), raw.selector);
  const notSelector = checkCalicoSelector(c, fieldOf(field, 'notSelector'), raw.notSelector);
  const ns = checkCalicoSelector(c, fieldOf(field, 'namespaceSelector'), raw.namespaceSelector, true);
  const ports = checkPorts(c, fieldOf(field, 'ports'), raw.ports);
  const notPorts = checkPorts(c, fieldOf(field, 'notPorts'), raw.notPorts);
  if ((ports || notPorts) && side === 'source') {
    c.fail(fieldOf(field, ports ? 'ports' : 'notPorts'), 'source ports are not supported by this dataplane');
  }
  if ((ports || notPorts) && (protocol === undefined || !PORT_PROTOCOLS.has(protocol))) {
    c.fail(
      fieldOf(field, ports ? 'ports' : 'notPorts'),
      'ports may only be used with protocol TCP, UDP or SCTP',
    );
  }
  if (nets) out.nets = nets;
  if (notNets) out.notNets = notNets;
  if (selector !== undefined) out.selector = selector;
  if (notSelector !== undefined) out.notSelector = notSelector;
  if (ns !== undefined) out.namespaceSelector = ns;
  if (ports) out.ports = ports;
  if (notPorts) out.notPorts = notPorts;
  return out;
}

function checkRule(c: FieldCheck, field: string, value: unknown): CalicoRule {
  const raw = c.record(field, value, true)!;
  c.onlyKnown(field, raw, RULE_FIELDS);
  const action = c.oneOf(fieldOf(field, 'action'), raw.action, ACTIONS);
  if (action === undefined) c.fail(fieldOf(field, 'action'), `required (one of ${ACTIONS.join(', ')})`);
  if (raw.ipVersion !== undefined && raw.ipVersion !== 4)
    c.fail(
      fieldOf(field, 'ipVersion'),
      `only 4 is supported (this dataplane is IPv4-only), got ${describeValue(raw.ipVersion)}`,
    );
  for (const key of ['icmp', 'notICMP', 'http'] as const) {
    if (raw[key] !== undefined) c.fail(fieldOf(field, key), 'not supported by this dataplane');
  }
  c.record(fieldOf(field, 'metadata'), raw.metadata);
  const protocol = checkProtocolValue(c, fieldOf(field, 'protocol'), raw.protocol);
  const notProtocol = checkProtocolValue(c, fieldOf(field, 'notProtocol'), raw.notProtocol);
  const rule: CalicoRule = {
    action,
    source: checkEntity(c, fieldOf(field, 'source'), raw.source, 'source', protocol),
    destination: checkEntity(c, fieldOf(field, 'destination'), raw.destination, 'destination', protocol),
  };
  if (protocol !== undefined) rule.protocol = protocol;
  if (notProtocol !== undefined) rule.notProtocol = notProtocol;
  return rule;
}

function checkRules(c: FieldCheck, field: string, value: unknown): CalicoRule[] {
  return (c.list(field, value) ?? []).map((r, i) => checkRule(c, indexOf(field, i), r));
}

const GLOBAL_SPEC_FIELDS = [
  'order',
  'selector',
  'namespaceSelector',
  'serviceAccountSelector',
  'types',
  'ingress',
  'egress',
  'applyOnForward',
  'preDNAT',
  'doNotTrack',
  'tier',
  'performanceHints',
] as const;

const NAMESPACED_SPEC_FIELDS = [
  'order',
  'selector',
  'serviceAccountSelector',
  'types',
  'ingress',
  'egress',
  'tier',
  'performanceHints',
] as const;

/**
 * Checks the spec of a GlobalNetworkPolicy (`namespace` undefined) or a namespaced Calico
 * NetworkPolicy, returning it normalised.
 */
export function checkCalicoPolicySpec(
  c: FieldCheck,
  object: Record<string, unknown>,
  name: string,
  namespace: string | undefined,
): CalicoPolicyState {
  const global = namespace === undefined;
  const spec = c.record('spec', object.spec) ?? {};
  c.onlyKnown('spec', spec, global ? GLOBAL_SPEC_FIELDS : NAMESPACED_SPEC_FIELDS);
  if (spec.serviceAccountSelector !== undefined)
    c.fail('spec.serviceAccountSelector', 'not supported by this dataplane');
  const tier = c.string('spec.tier', spec.tier);
  if (tier !== undefined && tier !== 'default')
    c.fail(
      'spec.tier',
      `only the default tier is supported (Tier objects are not), got ${describeValue(tier)}`,
    );
  c.list('spec.performanceHints', spec.performanceHints);
  let order: number | undefined;
  if (spec.order !== undefined && spec.order !== null) {
    if (typeof spec.order !== 'number' || !Number.isFinite(spec.order))
      c.fail('spec.order', `must be a number, got ${describeValue(spec.order)}`);
    order = spec.order;
  }
  const selector = checkCalicoSelector(c, 'spec.selector', spec.selector) ?? 'all()';
  const namespaceSelector = global
    ? checkCalicoSelector(c, 'spec.namespaceSelector', spec.namespaceSelector)
    : undefined;
  const ingress = checkRules(c, 'spec.ingress', spec.ingress);
  const egress = checkRules(c, 'spec.egress', spec.egress);
  const seen = new Set<string>();
  const written = (c.list('spec.types', spec.types) ?? []).map((t, i) => {
    const type = c.oneOf(indexOf('spec.types', i), t, ['Ingress', 'Egress'] as const);
    if (type === undefined) c.fail(indexOf('spec.types', i), 'required');
    if (seen.has(type)) c.fail(indexOf('spec.types', i), `duplicate ${type}`);
    seen.add(type);
    return type;
  });
  const types = written.length > 0 ? written : defaultPolicyTypes(ingress.length, egress.length);
  if (!types.includes('Ingress') && ingress.length > 0)
    c.fail('spec.ingress', 'ingress rules need Ingress in spec.types');
  if (!types.includes('Egress') && egress.length > 0)
    c.fail('spec.egress', 'egress rules need Egress in spec.types');
  const applyOnForward = c.bool('spec.applyOnForward', spec.applyOnForward) ?? false;
  const preDNAT = c.bool('spec.preDNAT', spec.preDNAT) ?? false;
  if (c.bool('spec.doNotTrack', spec.doNotTrack))
    c.fail('spec.doNotTrack', 'untracked policy is not supported by this dataplane');
  if (preDNAT) {
    if (!applyOnForward) c.fail('spec.applyOnForward', 'must be true when preDNAT is true');
    if (types.includes('Egress')) c.fail('spec.types', 'preDNAT policy may only have type Ingress');
  }
  const out: CalicoPolicyState = {
    kind: global ? 'GlobalNetworkPolicy' : CALICO_NETWORK_POLICY,
    name,
    selector,
    types,
    ingress,
    egress,
    applyOnForward,
    preDNAT,
  };
  if (namespace !== undefined) out.namespace = namespace;
  if (order !== undefined) out.order = order;
  if (namespaceSelector !== undefined) out.namespaceSelector = namespaceSelector;
  return out;
}
