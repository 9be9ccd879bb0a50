/**
 * EndpointSlice (discovery.k8s.io/v1) and Endpoints (v1) as a user writes them for a Service
 * without a selector, checked as kube-apiserver checks them and reduced to what a proxy reads:
 * the Service they belong to, the ports by name, and each address with its readiness and node.
 */
import { type FieldCheck, fieldOf, indexOf } from './check.ts';
import { formatIpv4, parseIpv4 } from './ip.ts';
import { describeValue } from './manifest.ts';
import type { EndpointSourceState, Protocol } from './model.ts';

/** The label that ties an EndpointSlice to its Service. */
export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

const PROTOCOLS = ['TCP', 'UDP', 'SCTP'] as const;

function address(c: FieldCheck, field: string, value: unknown): string {
  const text = c.string(field, value, true)!;
  const n = parseIpv4(text);
  if (n === undefined) c.fail(field, `must be an IPv4 address, got ${describeValue(value)}`);
  return formatIpv4(n);
}

function ports(c: FieldCheck, field: string, value: unknown): EndpointSourceState['ports'] {
  const out: EndpointSourceState['ports'] = [];
  for (const [i, raw] of (c.list(field, value) ?? []).entries()) {
    const f = indexOf(field, i);
    const p = c.record(f, raw, true)!;
    c.onlyKnown(f, p, ['name', 'port', 'protocol', 'appProtocol']);
    const protocol = (c.string(fieldOf(f, 'protocol'), p.protocol) ?? 'TCP') as (typeof PROTOCOLS)[number];
    if (!PROTOCOLS.includes(protocol))
      c.fail(
        fieldOf(f, 'protocol'),
        `must be one of ${PROTOCOLS.join(', ')}, got ${describeValue(p.protocol)}`,
      );
    const port = c.int(fieldOf(f, 'port'), p.port, 1, 65535, true)!;
    if (protocol === 'SCTP') {
      c.warn(fieldOf(f, 'protocol'), 'SCTP is not carried by this dataplane; port ignored');
      continue;
    }
    out.push({ name: c.string(fieldOf(f, 'name'), p.name) ?? '', port, protocol: protocol as Protocol });
  }
  return out;
}

function podOf(c: FieldCheck, field: string, value: unknown): string | undefined {
  const ref = c.record(field, value);
  if (!ref) return undefined;
  return ref.kind === 'Pod' ? c.string(fieldOf(field, 'name'), ref.name) : undefined;
}

/** Checks an EndpointSlice's top-level fields. */
export function checkEndpointSlice(
  c: FieldCheck,
  object: Record<string, unknown>,
  namespace: string,
): EndpointSourceState | undefined {
  c.onlyKnown('', object, ['apiVersion', 'kind', 'metadata', 'addressType', 'endpoints', 'ports']);
  const labels = (object.metadata as { labels?: Record<string, string> } | undefined)?.labels ?? {};
  const serviceName = labels[SERVICE_NAME_LABEL];
  if (!serviceName)
    c.fail(`metadata.labels["${SERVICE_NAME_LABEL}"]`, 'required: it names the Service the slice belongs to');
  const addressType = c.string('addressType', object.addressType, true)!;
  if (!['IPv4', 'IPv6', 'FQDN'].includes(addressType))
    c.fail('addressType', `must be IPv4, IPv6 or FQDN, got ${describeValue(addressType)}`);
  if (addressType !== 'IPv4') {
    c.warn('addressType', `${addressType} slices are not used: this dataplane is IPv4-only`);
    return undefined;
  }
  const endpoints: EndpointSourceState['endpoints'] = [];
  for (const [i, raw] of (c.list('endpoints', object.endpoints) ?? []).entries()) {
    const f = indexOf('endpoints', i);
    const e = c.record(f, raw, true)!;
    c.onlyKnown(f, e, [
      'addresses',
      'conditions',
      'hostname',
      'nodeName',
      'zone',
      'targetRef',
      'hints',
      'deprecatedTopology',
    ]);
    const addresses = c.list(fieldOf(f, 'addresses'), e.addresses, true)!;
    if (addresses.length !== 1)
      c.fail(fieldOf(f, 'addresses'), `must hold exactly one address, got ${addresses.length}`);
    const conditions = c.record(fieldOf(f, 'conditions'), e.conditions) ?? {};
    // A missing condition is "unknown", which a proxy takes as ready.
    const ready = c.bool(fieldOf(fieldOf(f, 'conditions'), 'ready'), conditions.ready) !== false;
    const nodeName = c.string(fieldOf(f, 'nodeName'), e.nodeName);
    const podName = podOf(c, fieldOf(f, 'targetRef'), e.targetRef);
    endpoints.push({
      ip: address(c, indexOf(fieldOf(f, 'addresses'), 0), addresses[0]),
      ready,
      ...(nodeName ? { nodeName } : {}),
      ...(podName ? { podName } : {}),
    });
  }
  return { namespace, serviceName: serviceName!, ports: ports(c, 'ports', object.ports), endpoints };
}

/** Checks an Endpoints object: one source per subset, all under its own name. */
export function checkEndpoints(
  c: FieldCheck,
  object: Record<string, unknown>,
  namespace: string,
  name: string,
): EndpointSourceState[] {
  c.onlyKnown('', object, ['apiVersion', 'kind', 'metadata', 'subsets']);
  const out: EndpointSourceState[] = [];
  for (const [i, raw] of (c.list('subsets', object.subsets) ?? []).entries()) {
    const f = indexOf('subsets', i);
    const s = c.record(f, raw, true)!;
    c.onlyKnown(f, s, ['addresses', 'notReadyAddresses', 'ports']);
    const endpoints: EndpointSourceState['endpoints'] = [];
    for (const [key, ready] of [
      ['addresses', true],
      ['notReadyAddresses', false],
    ] as const) {
      for (const [j, a] of (c.list(fieldOf(f, key), s[key]) ?? []).entries()) {
        const af = indexOf(fieldOf(f, key), j);
        const rec = c.record(af, a, true)!;
        c.onlyKnown(af, rec, ['ip', 'hostname', 'nodeName', 'targetRef']);
        const nodeName = c.string(fieldOf(af, 'nodeName'), rec.nodeName);
        const podName = podOf(c, fieldOf(af, 'targetRef'), rec.targetRef);
        endpoints.push({
          ip: address(c, fieldOf(af, 'ip'), rec.ip),
          ready,
          ...(nodeName ? { nodeName } : {}),
          ...(podName ? { podName } : {}),
        });
      }
    }
    out.push({ namespace, serviceName: name, ports: ports(c, fieldOf(f, 'ports'), s.ports), endpoints });
  }
  return out;
}
