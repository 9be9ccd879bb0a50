/**
 * HostEndpoint and KubeControllersConfiguration (`projectcalico.org/v3`) checks. A host
 * endpoint names a node's interface and the labels policy selects it by; the controllers'
 * configuration turns automatic host endpoints (one per node) on or off.
 */

import { DEFAULT_ALLOW_PROFILE, type HostEndpointState } from './calico-model.ts';
import { type FieldCheck, fieldOf, indexOf, isRecord } from './check.ts';
import { formatIpv4, parseIpv4 } from './ip.ts';
import { describeValue } from './manifest.ts';

/** Checks a HostEndpoint's spec; labels come from the metadata. */
export function checkHostEndpointSpec(
  c: FieldCheck,
  object: Record<string, unknown>,
  name: string,
): HostEndpointState {
  const spec = c.record('spec', object.spec, true)!;
  c.onlyKnown('spec', spec, ['node', 'interfaceName', 'expectedIPs', 'profiles', 'ports']);
  const node = c.string('spec.node', spec.node, true)!;
  const iface = c.string('spec.interfaceName', spec.interfaceName);
  if (iface !== undefined && (iface.length > 15 || /[\s/]/.test(iface)) && iface !== '*')
    c.fail('spec.interfaceName', `must be an interface name or "*", got ${describeValue(iface)}`);
  const expectedIPs = (c.list('spec.expectedIPs', spec.expectedIPs) ?? []).map((ip, i) => {
    const f = indexOf('spec.expectedIPs', i);
    const text = c.string(f, ip, true)!;
    const n = parseIpv4(text);
    if (n === undefined) {
      if (text.includes(':'))
        c.fail(f, `IPv6 is not supported by this dataplane, got ${describeValue(text)}`);
      c.fail(f, `must be an IPv4 address, got ${describeValue(text)}`);
    }
    return formatIpv4(n);
  });
  if (iface === undefined && expectedIPs.length === 0)
    c.fail('spec', 'must set interfaceName or expectedIPs');
  const profiles = (c.list('spec.profiles', spec.profiles) ?? []).map((p, i) => {
    const f = indexOf('spec.profiles', i);
    const text = c.string(f, p, true)!;
    if (text !== DEFAULT_ALLOW_PROFILE)
      c.fail(
        f,
        `only the built-in profile ${DEFAULT_ALLOW_PROFILE} is supported, got ${describeValue(text)}`,
      );
    return text;
  });
  for (const [i, raw] of (c.list('spec.ports', spec.ports) ?? []).entries()) {
    const f = indexOf('spec.ports', i);
    const port = c.record(f, raw, true)!;
    c.onlyKnown(f, port, ['name', 'port', 'protocol']);
    c.string(fieldOf(f, 'name'), port.name, true);
    c.int(fieldOf(f, 'port'), port.port, 1, 65535, true);
    c.oneOf(fieldOf(f, 'protocol'), port.protocol, ['TCP', 'UDP', 'SCTP'] as const);
    c.warn(f, 'accepted, not used: rules here take port numbers, not names');
  }
  const meta = (object.metadata ?? {}) as Record<string, unknown>;
  const labels = isRecord(meta.labels) ? (meta.labels as Record<string, string>) : {};
  const out: HostEndpointState = { name, node, expectedIPs, labels: { ...labels }, profiles, auto: false };
  if (iface !== undefined) out.interfaceName = iface;
  return out;
}

/** What a KubeControllersConfiguration turns on here. */
export interface KubeControllersSettings {
  /** `controllers.node.hostEndpoint.autoCreate: Enabled`. */
  autoHostEndpoints: boolean;
}

const CONTROLLERS = ['node', 'policy', 'workloadEndpoint', 'serviceAccount', 'namespace', 'loadBalancer'];

/** Checks a KubeControllersConfiguration's spec; only automatic host endpoints take effect. */
export function checkKubeControllersSpec(
  c: FieldCheck,
  object: Record<string, unknown>,
  name: string,
): KubeControllersSettings {
  if (name !== 'default') c.fail('metadata.name', `must be "default", got ${describeValue(name)}`);
  const spec = c.record('spec', object.spec) ?? {};
  c.onlyKnown('spec', spec, [
    'logSeverityScreen',
    'healthChecks',
    'etcdV3CompactionPeriod',
    'prometheusMetricsPort',
    'controllers',
    'debugProfilePort',
  ]);
  for (const key of Object.keys(spec)) {
    if (key !== 'controllers') c.warn(fieldOf('spec', key), 'accepted, not implemented by this dataplane');
  }
  const controllers = c.record('spec.controllers', spec.controllers) ?? {};
  c.onlyKnown('spec.controllers', controllers, CONTROLLERS);
  for (const key of Object.keys(controllers)) {
    c.record(fieldOf('spec.controllers', key), controllers[key]);
    if (key !== 'node')
      c.warn(fieldOf('spec.controllers', key), 'accepted, not implemented by this dataplane');
  }
  const node = c.record('spec.controllers.node', controllers.node) ?? {};
  c.onlyKnown('spec.controllers.node', node, [
    'reconcilerPeriod',
    'syncLabels',
    'hostEndpoint',
    'leakGracePeriod',
  ]);
  const hep = c.record('spec.controllers.node.hostEndpoint', node.hostEndpoint) ?? {};
  c.onlyKnown('spec.controllers.node.hostEndpoint', hep, [
    'autoCreate',
    'createDefaultHostEndpoint',
    'templates',
  ]);
  if (hep.templates !== undefined)
    c.fail('spec.controllers.node.hostEndpoint.templates', 'not supported by this dataplane');
  c.oneOf('spec.controllers.node.hostEndpoint.createDefaultHostEndpoint', hep.createDefaultHostEndpoint, [
    'Enabled',
    'Disabled',
  ] as const);
  const auto = c.oneOf('spec.controllers.node.hostEndpoint.autoCreate', hep.autoCreate, [
    'Enabled',
    'Disabled',
  ] as const);
  return { autoHostEndpoints: auto === 'Enabled' };
}
