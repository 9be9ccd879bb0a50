/**
 * FelixConfiguration `spec` checking. Fields this dataplane implements (those of
 * {@link FelixSettings}) are type-checked and normalised; every other field of Calico's
 * FelixConfigurationSpec is accepted with a warning; anything else is rejected.
 */
import { isIPv6 } from 'node:net';
import { FieldCheck, fieldOf, indexOf } from './check.ts';
import { DEFAULT_FELIX_SETTINGS, type FelixSettings, type ProtoPort } from './felix-settings.ts';
import { formatCidr4, parseCidr4 } from './ip.ts';
import { describeValue } from './manifest.ts';
import { compileRe2 } from './validate-re2.ts';

/** How a known-but-not-implemented field is type-checked before it is accepted. */
type FieldShape =
  | 'bool'
  | 'string'
  | 'duration'
  | 'regex'
  | 'cidrs'
  | 'strings'
  | 'mapping'
  | 'list'
  | 'port-range'
  | 'port-ranges'
  | { int: readonly [number, number?] }
  | { enum: readonly string[] };

const U32: readonly [number, number] = [0, 4294967295];
const PORT: readonly [number, number] = [0, 65535];
const ROUTE_PRIORITY: readonly [number, number] = [1, 2147483646];
const ENABLED_DISABLED = { enum: ['Enabled', 'Disabled'] } as const;
const ACCEPT_RETURN = { enum: ['Accept', 'Return'] } as const;
const DROP_REJECT = { enum: ['Drop', 'Reject'] } as const;
const LOG_LEVELS = { enum: ['Trace', 'Debug', 'Info', 'Warning', 'Error', 'Fatal'] } as const;

/**
 * Calico's FelixConfigurationSpec fields that this dataplane does not implement, with the shape
 * Calico's API gives them.
 */
const NOT_IMPLEMENTED: Readonly<Record<string, FieldShape>> = {
  // Process, datastore and reporting.
  useInternalDataplaneDriver: 'bool',
  dataplaneDriver: 'string',
  dataplaneWatchdogTimeout: 'duration',
  ipv6Support: 'bool',
  featureDetectOverride: 'string',
  featureGates: 'string',
  reportingInterval: 'duration',
  reportingTTL: 'duration',
  endpointReportingEnabled: 'bool',
  endpointReportingDelay: 'duration',
  endpointStatusPathPrefix: 'string',
  usageReportingEnabled: 'bool',
  usageReportingInitialDelay: 'duration',
  usageReportingInterval: 'duration',
  policySyncPathPrefix: 'string',
  openstackRegion: 'string',
  metadataAddr: 'string',
  metadataPort: { int: PORT },
  healthEnabled: 'bool',
  healthHost: 'string',
  healthPort: { int: PORT },
  healthTimeoutOverrides: 'list',
  requireMTUFile: 'bool',
  cgroupV2Path: 'string',
  goGCThreshold: { int: [-1] },
  goMemoryLimitMB: { int: [-1] },
  goMaxProcs: { int: [-1] },
  // Logging.
  logPrefix: 'string',
  logFilePath: 'string',
  logSeverityFile: LOG_LEVELS,
  logSeverityScreen: LOG_LEVELS,
  logSeveritySys: { enum: [...LOG_LEVELS.enum, 'None'] },
  logDebugFilenameRegex: 'regex',
  // Metrics (this dataplane serves its own metrics endpoint).
  prometheusMetricsEnabled: 'bool',
  prometheusMetricsHost: 'string',
  prometheusMetricsPort: { int: PORT },
  prometheusGoMetricsEnabled: 'bool',
  prometheusProcessMetricsEnabled: 'bool',
  prometheusWireGuardMetricsEnabled: 'bool',
  // Interfaces, routes and refresh loops.
  interfacePrefix: 'string',
  interfaceExclude: 'string',
  interfaceRefreshInterval: 'duration',
  routeRefreshInterval: 'duration',
  routeSource: { enum: ['WorkloadIPs', 'CalicoIPAM'] },
  routeTableRange: 'mapping',
  routeTableRanges: 'list',
  routeSyncDisabled: 'bool',
  removeExternalRoutes: 'bool',
  programClusterRoutes: ENABLED_DISABLED,
  deviceRouteSourceAddress: 'string',
  deviceRouteSourceAddressIPv6: 'string',
  deviceRouteProtocol: { int: [0, 255] },
  ipv4NormalRoutePriority: { int: ROUTE_PRIORITY },
  ipv4ElevatedRoutePriority: { int: ROUTE_PRIORITY },
  ipv6NormalRoutePriority: { int: ROUTE_PRIORITY },
  ipv6ElevatedRoutePriority: { int: ROUTE_PRIORITY },
  ipForwarding: ENABLED_DISABLED,
  mtuIfacePattern: 'regex',
  netlinkTimeout: 'duration',
  externalNodesList: 'cidrs',
  floatingIPs: ENABLED_DISABLED,
  awsSrcDstCheck: { enum: ['DoNothing', 'Enable', 'Disable'] },
  serviceLoopPrevention: { enum: ['Drop', 'Reject', 'Disabled'] },
  workloadSourceSpoofing: { enum: ['Disabled', 'Any'] },
  windowsManageFirewallRules: ENABLED_DISABLED,
  sidecarAccelerationEnabled: 'bool',
  // iptables / nftables (the iptables mode here is kube-proxy's, not Felix's).
  iptablesRefreshInterval: 'duration',
  iptablesPostWriteCheckInterval: 'duration',
  iptablesLockFilePath: 'string',
  iptablesLockTimeout: 'duration',
  iptablesLockProbeInterval: 'duration',
  iptablesBackend: { enum: ['Auto', 'Legacy', 'NFT'] },
  iptablesMarkMask: { int: U32 },
  iptablesFilterAllowAction: ACCEPT_RETURN,
  iptablesMangleAllowAction: ACCEPT_RETURN,
  iptablesFilterDenyAction: DROP_REJECT,
  iptablesNATOutgoingInterfaceFilter: 'string',
  ipsetsRefreshInterval: 'duration',
  maxIpsetSize: { int: [1] },
  chainInsertMode: { enum: ['Insert', 'Append'] },
  defaultEndpointToHostAction: { enum: ['Drop', 'Accept', 'Return'] },
  disableConntrackInvalidCheck: 'bool',
  kubeNodePortRanges: 'port-ranges',
  natPortRange: 'port-range',
  natOutgoingAddress: 'string',
  natOutgoingExclusions: { enum: ['IPPoolsOnly', 'IPPoolsAndHostIPs'] },
  nftablesMode: { enum: ['Disabled', 'Enabled', 'Auto'] },
  nftablesRefreshInterval: 'duration',
  nftablesFilterAllowAction: ACCEPT_RETURN,
  nftablesMangleAllowAction: ACCEPT_RETURN,
  nftablesFilterDenyAction: DROP_REJECT,
  nftablesMarkMask: { int: U32 },
  // Overlays and encryption.
  ipipEnabled: 'bool',
  ipipMTU: { int: [0] },
  vxlanEnabled: 'bool',
  vxlanMTU: { int: [0] },
  vxlanMTUV6: { int: [0] },
  vxlanPort: { int: PORT },
  vxlanVNI: { int: [0, 16777215] },
  allowVXLANPacketsFromWorkloads: 'bool',
  allowIPIPPacketsFromWorkloads: 'bool',
  wireguardEnabled: 'bool',
  wireguardEnabledV6: 'bool',
  wireguardThreadingEnabled: 'bool',
  wireguardListeningPort: { int: [1, 65535] },
  wireguardListeningPortV6: { int: [1, 65535] },
  wireguardRoutingRulePriority: { int: [1, 32765] },
  wireguardInterfaceName: 'string',
  wireguardInterfaceNameV6: 'string',
  wireguardMTU: { int: [0] },
  wireguardMTUV6: { int: [0] },
  wireguardHostEncryptionEnabled: 'bool',
  wireguardKeepAlive: 'duration',
  // XDP.
  xdpEnabled: 'bool',
  xdpRefreshInterval: 'duration',
  genericXDPEnabled: 'bool',
  // Flow logs.
  flowLogsFlushInterval: 'duration',
  flowLogsCollectorDebugTrace: 'bool',
  flowLogsGoldmaneServer: 'string',
  flowLogsLocalReporter: ENABLED_DISABLED,
  flowLogsPolicyEvaluationMode: { enum: ['None', 'Continuous'] },
  // Debugging.
  debugMemoryProfilePath: 'string',
  debugDisableLogDropping: 'bool',
  debugSimulateCalcGraphHangAfter: 'duration',
  debugSimulateDataplaneHangAfter: 'duration',
  debugSimulateDataplaneApplyDelay: 'duration',
  debugHost: 'string',
  debugPort: { int: PORT },
  // BPF settings beyond what this dataplane implements.
  bpfDisableUnprivileged: 'bool',
  bpfConntrackLogLevel: { enum: ['Off', 'Debug'] },
  bpfConntrackMode: { enum: ['Auto', 'Userspace', 'BPFProgram'] },
  bpfConntrackTimeouts: 'mapping',
  bpfLogFilters: 'mapping',
  bpfCTLBLogFilter: 'string',
  bpfL3IfacePattern: 'regex',
  bpfConnectTimeLoadBalancing: { enum: ['TCP', 'Enabled', 'Disabled'] },
  bpfExtToServiceConnmark: { int: U32 },
  bpfKubeProxyMinSyncPeriod: 'duration',
  bpfKubeProxyHealthzPort: { int: PORT },
  bpfMapSizeConntrackScaling: { enum: ['Disabled', 'DoubleIfFull'] },
  bpfMapSizeConntrackCleanupQueue: { int: [1] },
  bpfMapSizePerCpuConntrack: { int: [0] },
  bpfMapSizeIPSets: { int: [1] },
  bpfMapSizeIfState: { int: [1] },
  bpfHostConntrackBypass: 'bool',
  bpfEnforceRPF: { enum: ['Disabled', 'Strict', 'Loose'] },
  bpfPolicyDebugEnabled: 'bool',
  bpfForceTrackPacketsFromIfaces: 'strings',
  bpfDisableGROForIfaces: 'regex',
  bpfExcludeCIDRsFromNAT: 'cidrs',
  bpfExportBufferSizeMB: { int: [1] },
  bpfRedirectToPeer: { enum: ['Enabled', 'Disabled', 'L2Only'] },
  bpfProfiling: ENABLED_DISABLED,
  bpfAttachType: { enum: ['TC', 'TCX'] },
  bpfMaglevMaxEndpointsPerService: { int: [1, 3000] },
  bpfMaglevMaxServices: { int: [1, 3000] },
};

/** The FelixConfiguration fields this dataplane implements. */
export const IMPLEMENTED_FELIX_FIELDS = Object.keys(DEFAULT_FELIX_SETTINGS) as (keyof FelixSettings)[];

/** Every FelixConfigurationSpec field the checker knows (implemented or not). */
export const KNOWN_FELIX_FIELDS: readonly string[] = [
  ...IMPLEMENTED_FELIX_FIELDS,
  ...Object.keys(NOT_IMPLEMENTED),
];

/** What a checked spec amounts to. */
export interface FelixSpecResult {
  /** The settings with every default filled in. */
  settings: FelixSettings;
  /** Only the implemented fields the spec sets, normalised (for layering `node.<name>` over `default`). */
  explicit: Partial<FelixSettings>;
  /** One line per accepted-but-ignored field or normalised value. */
  warnings: string[];
}

/** Go duration as Kubernetes writes them: `90s`, `1m30s`, `250ms`, `0`. */
const DURATION = /^(0|([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+)$/;

/** Map sizes end up as a BPF map's max_entries, a 32-bit count. */
const MAP_SIZE_MAX = 4294967295;

/**
 * Compiles an interface pattern the way Felix reads it (Go RE2 syntax) into a RegExp that
 * matches the same names; throws with a reason when it cannot (see validate-re2.ts).
 */
export const compileIfacePattern: (pattern: string) => RegExp = compileRe2;

/** Checks a CIDR list; IPv4 entries are normalised, IPv6 ones are dropped with a warning. */
function checkCidrList(
  c: FieldCheck,
  field: string,
  value: unknown,
  keepIpv6: boolean,
): string[] | undefined {
  const list = c.list(field, value);
  if (!list) return undefined;
  const out: string[] = [];
  for (const [i, item] of list.entries()) {
    const f = indexOf(field, i);
    const text = c.string(f, item, true)!;
    const v4 = parseCidr4(text);
    if (v4) {
      const normal = formatCidr4(v4);
      if (v4.hostBitsSet) c.warn(f, `host bits set in ${JSON.stringify(text)}, using ${normal}`);
      out.push(normal);
      continue;
    }
    const m = /^([^/]+)\/([0-9]{1,3})$/.exec(text);
    if (m && isIPv6(m[1]!) && Number(m[2]) <= 128) {
      if (keepIpv6) out.push(text);
      else c.warn(f, `IPv6 CIDR ${text} ignored: this dataplane is IPv4-only`);
      continue;
    }
    c.fail(f, `must be a CIDR such as 10.0.0.0/8, got ${describeValue(item)}`);
  }
  return out;
}

/** Checks a regex field; returns the pattern as written. */
function checkRegex(c: FieldCheck, field: string, value: unknown): string | undefined {
  const pattern = c.string(field, value);
  if (pattern === undefined) return undefined;
  try {
    compileIfacePattern(pattern);
  } catch (err) {
    c.fail(
      field,
      `not a valid regular expression (${(err as Error).message}), got ${describeValue(pattern)}`,
    );
  }
  return pattern;
}

/** `a-b`, `a:b` or a single port -> `a-b` (inclusive, 1-65535, a <= b). */
function checkPortRange(c: FieldCheck, field: string, value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  const bad = (): never =>
    c.fail(field, `must be a port range such as 20000-29999 or 20000:29999, got ${describeValue(value)}`);
  let lo: number;
  let hi: number;
  if (typeof value === 'number') {
    if (!Number.isInteger(value)) bad();
    lo = value;
    hi = value;
  } else if (typeof value === 'string') {
    const m = /^([0-9]{1,5})(?:[-:]([0-9]{1,5}))?$/.exec(value);
    if (!m) return bad();
    lo = Number(m[1]);
    hi = m[2] === undefined ? lo : Number(m[2]);
  } else {
    return bad();
  }
  if (lo < 1 || hi > 65535 || lo > hi) bad();
  return `${lo}-${hi}`;
}

/** Case-insensitive enum match returning the canonical spelling, as Felix's `(?i)` patterns allow. */
function checkEnumFolded<T extends string>(
  c: FieldCheck,
  field: string,
  value: unknown,
  allowed: readonly T[],
): T | undefined {
  if (value === undefined || value === null) return undefined;
  const hit =
    typeof value === 'string' ? allowed.find((a) => a.toLowerCase() === value.toLowerCase()) : undefined;
  if (hit === undefined) c.fail(field, `must be one of ${allowed.join(', ')}, got ${describeValue(value)}`);
  return hit;
}

function mapSize(c: FieldCheck, field: string, value: unknown): number | undefined {
  const size = c.int(field, value, 1);
  if (size !== undefined && size > MAP_SIZE_MAX)
    c.fail(field, `must be at most ${MAP_SIZE_MAX} (a BPF map's max_entries), got ${size}`);
  return size;
}

/** Type-checks a field this dataplane does not implement. */
function checkShape(c: FieldCheck, field: string, value: unknown, shape: FieldShape): void {
  if (value === undefined || value === null) return;
  if (typeof shape === 'object') {
    if ('int' in shape) c.int(field, value, shape.int[0], shape.int[1]);
    else checkEnumFolded(c, field, value, shape.enum);
    return;
  }
  switch (shape) {
    case 'bool':
      c.bool(field, value);
      return;
    case 'string':
      c.string(field, value);
      return;
    case 'duration':
      if (typeof value !== 'string' || !DURATION.test(value)) {
        c.fail(field, `must be a duration such as 90s or 1m30s, got ${describeValue(value)}`);
      }
      return;
    case 'regex':
      checkRegex(c, field, value);
      return;
    case 'cidrs':
      checkCidrList(c, field, value, true);
      return;
    case 'strings':
      for (const [i, v] of (c.list(field, value) ?? []).entries()) c.string(indexOf(field, i), v, true);
      return;
    case 'mapping':
      c.record(field, value);
      return;
    case 'list':
      c.list(field, value);
      return;
    case 'port-range':
      checkPortRange(c, field, value);
      return;
    case 'port-ranges':
      for (const [i, v] of (c.list(field, value) ?? []).entries()) checkPortRange(c, indexOf(field, i), v);
      return;
  }
}

/** A failsafe port list: `[{protocol: TCP, port: 22, net: 10.0.0.0/8}]`; `[]` turns failsafe off. */
function checkProtoPorts(c: FieldCheck, field: string, value: unknown): ProtoPort[] | undefined {
  const list = c.list(field, value);
  if (!list) return undefined;
  return list.map((raw, i) => {
    const f = indexOf(field, i);
    const item = c.record(f, raw, true)!;
    c.onlyKnown(f, item, ['protocol', 'port', 'net']);
    const protocols = ['TCP', 'UDP', 'SCTP'] as const;
    const protocol = checkEnumFolded(c, fieldOf(f, 'protocol'), item.protocol ?? 'TCP', protocols)!;
    const port = c.int(fieldOf(f, 'port'), item.port, 0, 65535, true)!;
    const out: ProtoPort = { protocol, port };
    const net = c.string(fieldOf(f, 'net'), item.net);
    if (net) {
      const cidr = parseCidr4(net.includes('/') ? net : `${net}/32`);
      if (!cidr) c.fail(fieldOf(f, 'net'), `must be an IPv4 CIDR, got ${describeValue(net)}`);
      out.net = formatCidr4(cidr);
    }
    return out;
  });
}

/** Checks the implemented fields, returning those the spec sets. */
function checkImplemented(c: FieldCheck, spec: Record<string, unknown>, at: string): Partial<FelixSettings> {
  const f = (name: keyof FelixSettings) => fieldOf(at, name);
  const out: Partial<FelixSettings> = {};
  const set = <K extends keyof FelixSettings>(key: K, value: FelixSettings[K] | undefined) => {
    if (value !== undefined) out[key] = value;
  };
  set('bpfEnabled', c.bool(f('bpfEnabled'), spec.bpfEnabled));
  set(
    'bpfExternalServiceMode',
    checkEnumFolded(c, f('bpfExternalServiceMode'), spec.bpfExternalServiceMode, ['Tunnel', 'DSR'] as const),
  );
  set('bpfDSROptoutCIDRs', checkCidrList(c, f('bpfDSROptoutCIDRs'), spec.bpfDSROptoutCIDRs, false));
  set('bpfDataIfacePattern', checkRegex(c, f('bpfDataIfacePattern'), spec.bpfDataIfacePattern));
  set(
    'bpfLogLevel',
    checkEnumFolded(c, f('bpfLogLevel'), spec.bpfLogLevel, ['Off', 'Info', 'Debug'] as const),
  );
  set(
    'bpfConnectTimeLoadBalancingEnabled',
    c.bool(f('bpfConnectTimeLoadBalancingEnabled'), spec.bpfConnectTimeLoadBalancingEnabled),
  );
  set(
    'bpfHostNetworkedNATWithoutCTLB',
    c.oneOf(f('bpfHostNetworkedNATWithoutCTLB'), spec.bpfHostNetworkedNATWithoutCTLB, [
      'Enabled',
      'Disabled',
    ] as const),
  );
  set('bpfPSNATPorts', checkPortRange(c, f('bpfPSNATPorts'), spec.bpfPSNATPorts));
  set('bpfMapSizeNATFrontend', mapSize(c, f('bpfMapSizeNATFrontend'), spec.bpfMapSizeNATFrontend));
  set('bpfMapSizeNATBackend', mapSize(c, f('bpfMapSizeNATBackend'), spec.bpfMapSizeNATBackend));
  set('bpfMapSizeNATAffinity', mapSize(c, f('bpfMapSizeNATAffinity'), spec.bpfMapSizeNATAffinity));
  set('bpfMapSizeRoute', mapSize(c, f('bpfMapSizeRoute'), spec.bpfMapSizeRoute));
  set('bpfMapSizeConntrack', mapSize(c, f('bpfMapSizeConntrack'), spec.bpfMapSizeConntrack));
  set(
    'bpfKubeProxyIptablesCleanupEnabled',
    c.bool(f('bpfKubeProxyIptablesCleanupEnabled'), spec.bpfKubeProxyIptablesCleanupEnabled),
  );
  for (const key of ['failsafeInboundHostPorts', 'failsafeOutboundHostPorts'] as const)
    set(key, checkProtoPorts(c, f(key), spec[key]));
  set(
    'bpfKubeProxyEndpointSlicesEnabled',
    c.bool(f('bpfKubeProxyEndpointSlicesEnabled'), spec.bpfKubeProxyEndpointSlicesEnabled),
  );
  return out;
}

/** Layers explicit settings over the defaults, later layers winning field by field. */
export function mergeFelixSettings(...layers: readonly Partial<FelixSettings>[]): FelixSettings {
  const merged: FelixSettings = {
    ...DEFAULT_FELIX_SETTINGS,
    bpfDSROptoutCIDRs: [...DEFAULT_FELIX_SETTINGS.bpfDSROptoutCIDRs],
    failsafeInboundHostPorts: structuredClone(DEFAULT_FELIX_SETTINGS.failsafeInboundHostPorts),
    failsafeOutboundHostPorts: structuredClone(DEFAULT_FELIX_SETTINGS.failsafeOutboundHostPorts),
  };
  for (const layer of layers) Object.assign(merged, structuredClone(layer));
  return merged;
}

/**
 * Checks a FelixConfiguration `spec` (absent means empty). `c` names the file and object for
 * errors and collects warnings; `at` is the spec's field path.
 */
export function checkFelixSpec(c: FieldCheck, spec: unknown, at = 'spec'): FelixSpecResult {
  const map = c.record(at, spec) ?? {};
  const implemented = new Set<string>(IMPLEMENTED_FELIX_FIELDS);
  const before = c.warnings.length;
  for (const key of Object.keys(map)) {
    if (implemented.has(key)) continue;
    const shape = NOT_IMPLEMENTED[key];
    if (shape === undefined) {
      const near = KNOWN_FELIX_FIELDS.find((k) => k.toLowerCase() === key.toLowerCase());
      c.fail(
        fieldOf(at, key),
        near
          ? `unknown field (did you mean ${near}?)`
          : 'unknown field (not a FelixConfiguration spec field)',
      );
    }
    checkShape(c, fieldOf(at, key), map[key], shape);
    c.warn('', `accepted, not implemented by this dataplane: ${fieldOf(at, key)}`);
  }
  const explicit = checkImplemented(c, map, at);
  return { settings: mergeFelixSettings(explicit), explicit, warnings: c.warnings.slice(before) };
}

/** Checks a spec outside any manifest (e.g. settings given on the command line). */
export function parseFelixSpec(
  spec: unknown,
  file = '<felix>',
  object = 'FelixConfiguration default',
): FelixSpecResult {
  return checkFelixSpec(new FieldCheck(file, object), spec);
}
