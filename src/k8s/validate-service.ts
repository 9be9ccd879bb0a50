/**
 * v1 Service checks: the fields this suite realises are checked as kube-apiserver would;
 * fields it does not realise are accepted with a warning; headless and ExternalName Services
 * are refused.
 */
import type { V1Service } from '@kubernetes/client-node';
import { type FieldCheck, fieldOf, indexOf, isDnsLabel, isIanaServiceName } from './check.ts';
import { cidrContains, cidrLast, formatIpv4, mustCidr4, parseCidr4, parseIpv4 } from './ip.ts';
import { describeValue } from './manifest.ts';
import { NODE_PORT_MAX, NODE_PORT_MIN, RESERVED_SERVICE_IPS, SERVICE_CIDR } from './ranges.ts';

const SPEC_FIELDS = [
  'type',
  'ports',
  'selector',
  'clusterIP',
  'clusterIPs',
  'externalIPs',
  'loadBalancerIP',
  'externalTrafficPolicy',
  'sessionAffinity',
  'sessionAffinityConfig',
  'externalName',
  'healthCheckNodePort',
  'internalTrafficPolicy',
  'ipFamilies',
  'ipFamilyPolicy',
  'loadBalancerClass',
  'loadBalancerSourceRanges',
  'publishNotReadyAddresses',
  'allocateLoadBalancerNodePorts',
  'trafficDistribution',
];

const PORT_FIELDS = ['name', 'protocol', 'port', 'targetPort', 'nodePort', 'appProtocol'];

const TYPES = ['ClusterIP', 'NodePort', 'LoadBalancer'] as const;

/** Why a clusterIP a Service asks for can never be given, or undefined when it can. */
export function clusterIpProblem(ip: string): string | undefined {
  const value = parseIpv4(ip);
  const cidr = mustCidr4(SERVICE_CIDR);
  if (value === undefined || !cidrContains(cidr, value)) {
    return `must be an IPv4 address in ${SERVICE_CIDR}, got ${describeValue(ip)}`;
  }
  if (RESERVED_SERVICE_IPS.includes(ip)) return `${ip} is reserved (network address, kubernetes or kube-dns)`;
  if (value === cidrLast(cidr)) return `${formatIpv4(value)} is the broadcast address of ${SERVICE_CIDR}`;
  return undefined;
}

/** Checks a protocol: TCP or UDP (SCTP exists in Kubernetes but not in this dataplane). */
export function checkProtocol(c: FieldCheck, field: string, value: unknown): 'TCP' | 'UDP' {
  if (value === 'SCTP') c.fail(field, 'SCTP is not supported by this dataplane (TCP, UDP)');
  return c.oneOf(field, value, ['TCP', 'UDP'] as const) ?? 'TCP';
}

/** Checks a port that may be a number or a name (targetPort, NetworkPolicy ports). */
export function checkIntOrPortName(
  c: FieldCheck,
  field: string,
  value: unknown,
): number | string | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1 && value <= 65535) return value;
  if (typeof value === 'string' && isIanaServiceName(value)) return value;
  return c.fail(
    field,
    `must be an integer 1-65535 or a port name (IANA service name), got ${describeValue(value)}`,
  );
}

function checkPorts(c: FieldCheck, spec: Record<string, unknown>, type: (typeof TYPES)[number]): void {
  const ports = c.list('spec.ports', spec.ports);
  if (!ports || ports.length === 0) c.fail('spec.ports', 'required (at least one port)');
  const names = new Map<string, number>();
  const portProtos = new Map<string, number>();
  const nodePorts = new Map<string, number>();
  for (const [i, raw] of ports.entries()) {
    const f = indexOf('spec.ports', i);
    const port = c.record(f, raw, true)!;
    c.onlyKnown(f, port, PORT_FIELDS);
    const number = c.int(fieldOf(f, 'port'), port.port, 1, 65535, true)!;
    checkIntOrPortName(c, fieldOf(f, 'targetPort'), port.targetPort);
    const protocol = checkProtocol(c, fieldOf(f, 'protocol'), port.protocol);
    const nodePort = c.int(fieldOf(f, 'nodePort'), port.nodePort, NODE_PORT_MIN, NODE_PORT_MAX);
    if (nodePort !== undefined && type === 'ClusterIP')
      c.fail(fieldOf(f, 'nodePort'), 'may not be used when type is ClusterIP');
    const name = c.string(fieldOf(f, 'name'), port.name);
    if (name !== undefined && name !== '' && !isDnsLabel(name)) {
      c.fail(
        fieldOf(f, 'name'),
        `must be a DNS label (lower-case alphanumerics and '-'), got ${describeValue(name)}`,
      );
    }
    if (ports.length > 1 && !name)
      c.fail(fieldOf(f, 'name'), 'required when the Service has more than one port');
    c.string(fieldOf(f, 'appProtocol'), port.appProtocol);
    if (name) {
      const first = names.get(name);
      if (first !== undefined)
        c.fail(fieldOf(f, 'name'), `duplicate of spec.ports[${first}].name ${JSON.stringify(name)}`);
      names.set(name, i);
    }
    const pp = `${number}/${protocol}`;
    const samePort = portProtos.get(pp);
    if (samePort !== undefined) c.fail(fieldOf(f, 'port'), `duplicate of spec.ports[${samePort}] (${pp})`);
    portProtos.set(pp, i);
    if (nodePort !== undefined) {
      const np = `${nodePort}/${protocol}`;
      const sameNodePort = nodePorts.get(np);
      if (sameNodePort !== undefined)
        c.fail(fieldOf(f, 'nodePort'), `duplicate of spec.ports[${sameNodePort}].nodePort (${np})`);
      nodePorts.set(np, i);
    }
  }
}

function checkClusterIp(c: FieldCheck, spec: Record<string, unknown>): void {
  const clusterIP = c.string('spec.clusterIP', spec.clusterIP);
  if (clusterIP === 'None') {
    c.fail(
      'spec.clusterIP',
      'headless Services (clusterIP: None) are not supported by the embedded control plane',
    );
  }
  if (clusterIP) {
    const problem = clusterIpProblem(clusterIP);
    if (problem) c.fail('spec.clusterIP', problem);
  }
  const ips = c.list('spec.clusterIPs', spec.clusterIPs);
  if (ips && ips.length > 0) {
    if (ips.length > 1) c.fail('spec.clusterIPs', 'dual-stack Services are not supported (IPv4 only)');
    const first = c.string('spec.clusterIPs[0]', ips[0], true);
    if (first === 'None')
      c.fail('spec.clusterIPs[0]', 'headless Services are not supported by the embedded control plane');
    if (clusterIP && first !== clusterIP)
      c.fail('spec.clusterIPs[0]', `must equal spec.clusterIP (${clusterIP}), got ${describeValue(first)}`);
    const problem = clusterIpProblem(first!);
    if (problem) c.fail('spec.clusterIPs[0]', problem);
  }
}

function checkIpv4List(c: FieldCheck, field: string, value: unknown): void {
  for (const [i, item] of (c.list(field, value) ?? []).entries()) {
    const ip = c.string(indexOf(field, i), item, true)!;
    if (parseIpv4(ip) === undefined)
      c.fail(indexOf(field, i), `must be an IPv4 address, got ${describeValue(ip)}`);
  }
}

/** Checks a Service's `spec`, collecting warnings on `c`. */
export function checkServiceSpec(c: FieldCheck, object: Record<string, unknown>): V1Service {
  const spec = c.record('spec', object.spec, true)!;
  c.onlyKnown('spec', spec, SPEC_FIELDS);
  if (spec.type === 'ExternalName')
    c.fail('spec.type', 'ExternalName Services are not supported by the embedded control plane');
  const type = c.oneOf('spec.type', spec.type, TYPES) ?? 'ClusterIP';
  checkPorts(c, spec, type);
  c.labels('spec.selector', spec.selector);
  checkClusterIp(c, spec);
  checkIpv4List(c, 'spec.externalIPs', spec.externalIPs);
  const externalIPs = (spec.externalIPs as unknown[] | undefined) ?? [];

  const lbIp = c.string('spec.loadBalancerIP', spec.loadBalancerIP);
  if (lbIp) {
    if (parseIpv4(lbIp) === undefined)
      c.fail('spec.loadBalancerIP', `must be an IPv4 address, got ${describeValue(lbIp)}`);
    if (type !== 'LoadBalancer') c.warn('spec.loadBalancerIP', 'ignored unless type is LoadBalancer');
  }

  const etp = c.oneOf('spec.externalTrafficPolicy', spec.externalTrafficPolicy, [
    'Cluster',
    'Local',
  ] as const);
  if (etp !== undefined && type === 'ClusterIP' && externalIPs.length === 0) {
    c.fail(
      'spec.externalTrafficPolicy',
      'may only be set when type is NodePort or LoadBalancer (or with externalIPs)',
    );
  }

  const affinity =
    c.oneOf('spec.sessionAffinity', spec.sessionAffinity, ['None', 'ClientIP'] as const) ?? 'None';
  const affinityConfig = c.record('spec.sessionAffinityConfig', spec.sessionAffinityConfig);
  if (affinityConfig) {
    c.onlyKnown('spec.sessionAffinityConfig', affinityConfig, ['clientIP']);
    const clientIP = c.record('spec.sessionAffinityConfig.clientIP', affinityConfig.clientIP);
    if (clientIP) {
      c.onlyKnown('spec.sessionAffinityConfig.clientIP', clientIP, ['timeoutSeconds']);
      c.int('spec.sessionAffinityConfig.clientIP.timeoutSeconds', clientIP.timeoutSeconds, 1, 86400);
    }
    if (affinity !== 'ClientIP')
      c.fail('spec.sessionAffinityConfig', 'may only be set when sessionAffinity is ClientIP');
  }

  const alloc = c.bool('spec.allocateLoadBalancerNodePorts', spec.allocateLoadBalancerNodePorts);
  if (alloc !== undefined && type !== 'LoadBalancer') {
    c.fail('spec.allocateLoadBalancerNodePorts', 'may only be set when type is LoadBalancer');
  }

  const itp = c.oneOf('spec.internalTrafficPolicy', spec.internalTrafficPolicy, [
    'Cluster',
    'Local',
  ] as const);
  if (itp === 'Local')
    c.warn(
      'spec.internalTrafficPolicy',
      'Local is accepted, not implemented by this dataplane (treated as Cluster)',
    );

  const hcnp = c.int('spec.healthCheckNodePort', spec.healthCheckNodePort, NODE_PORT_MIN, NODE_PORT_MAX);
  if (hcnp !== undefined) {
    if (type !== 'LoadBalancer' || etp !== 'Local') {
      c.fail(
        'spec.healthCheckNodePort',
        'may only be set when type is LoadBalancer and externalTrafficPolicy is Local',
      );
    }
    c.warn('spec.healthCheckNodePort', 'accepted, not implemented by this dataplane');
  }

  const families = c.list('spec.ipFamilies', spec.ipFamilies);
  for (const [i, fam] of (families ?? []).entries()) {
    if (fam === 'IPv6') c.fail(indexOf('spec.ipFamilies', i), 'IPv6 Services are not supported (IPv4 only)');
    c.oneOf(indexOf('spec.ipFamilies', i), fam, ['IPv4'] as const);
  }
  const policy = c.oneOf('spec.ipFamilyPolicy', spec.ipFamilyPolicy, [
    'SingleStack',
    'PreferDualStack',
    'RequireDualStack',
  ] as const);
  if (policy === 'RequireDualStack')
    c.fail('spec.ipFamilyPolicy', 'RequireDualStack is not supported (IPv4 only)');

  for (const [i, item] of (
    c.list('spec.loadBalancerSourceRanges', spec.loadBalancerSourceRanges) ?? []
  ).entries()) {
    const f = indexOf('spec.loadBalancerSourceRanges', i);
    if (!parseCidr4(c.string(f, item, true)!)) c.fail(f, `must be an IPv4 CIDR, got ${describeValue(item)}`);
  }
  for (const field of ['loadBalancerSourceRanges', 'loadBalancerClass', 'trafficDistribution'] as const) {
    if (spec[field] !== undefined && spec[field] !== null) {
      if (field !== 'loadBalancerSourceRanges') c.string(fieldOf('spec', field), spec[field]);
      c.warn(fieldOf('spec', field), 'accepted, not implemented by this dataplane');
    }
  }
  if (c.bool('spec.publishNotReadyAddresses', spec.publishNotReadyAddresses) !== undefined) {
    c.warn(
      'spec.publishNotReadyAddresses',
      'accepted, no effect (pods of the embedded control plane are always ready)',
    );
  }
  if (spec.externalName !== undefined)
    c.fail('spec.externalName', 'may only be set when type is ExternalName');
  return object as V1Service;
}
