/**
 * The two operator resources of the guide: the Tigera operator's `Installation`, whose
 * `linuxDataplane` picks the dataplane (it is what the operator writes into FelixConfiguration
 * `bpfEnabled`), and the Prometheus operator's `ServiceMonitor`, which says where and how often
 * the nodes' metrics are scraped. Both are accepted as the guide writes them; their other fields
 * are checked for shape and named in a warning, since nothing here acts on them.
 */
import { type FieldCheck, fieldOf, indexOf } from './check.ts';
import { describeValue } from './manifest.ts';
import type { ServiceMonitorState } from './model.ts';

/** The dataplane an Installation asks for (`linuxDataplane`), as the operator spells it. */
export type LinuxDataplane = 'BPF' | 'Iptables';

/** What an Installation says that this cluster acts on. */
export interface InstallationState {
  linuxDataplane?: LinuxDataplane;
}

/** The named port of the calico-node metrics endpoint (Felix's Prometheus port). */
export const METRICS_PORT_NAME = 'metrics-port';

/** Operator `linuxDataplane` values, and what each means here. */
const DATAPLANES: Readonly<Record<string, LinuxDataplane | undefined>> = {
  BPF: 'BPF',
  Iptables: 'Iptables',
  Nftables: undefined,
  VPP: undefined,
  Windows: undefined,
};

/** Fields of the operator's InstallationSpec this cluster accepts and does not act on. */
const INSTALLATION_FIELDS = [
  'variant',
  'registry',
  'imagePath',
  'imagePrefix',
  'imagePullSecrets',
  'kubernetesProvider',
  'cni',
  'calicoNetwork',
  'controlPlaneNodeSelector',
  'controlPlaneTolerations',
  'controlPlaneReplicas',
  'nodeMetricsPort',
  'typhaMetricsPort',
  'flexVolumePath',
  'kubeletVolumePluginPath',
  'nodeUpdateStrategy',
  'componentResources',
  'certificateManagement',
  'nonPrivileged',
  'typhaAffinity',
  'calicoNodeDaemonSet',
  'csiNodeDriverDaemonSet',
  'calicoKubeControllersDeployment',
  'typhaDeployment',
  'calicoWindowsUpgradeDaemonSet',
  'fipsMode',
  'logging',
  'windowsNodes',
  'serviceCIDRs',
  'azure',
  'proxy',
  'linuxDataplane',
];

function dataplane(c: FieldCheck, field: string, value: unknown): LinuxDataplane | undefined {
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string' || !Object.hasOwn(DATAPLANES, value))
    c.fail(field, `must be one of ${Object.keys(DATAPLANES).join(', ')}, got ${describeValue(value)}`);
  const known = DATAPLANES[value as string];
  if (!known) c.fail(field, `${value} is not a dataplane this cluster runs (BPF or Iptables)`);
  return known;
}

/**
 * Checks an Installation. The operator reads `linuxDataplane` under `spec.calicoNetwork`; the
 * guide writes it under `spec`: both are taken (the operator's place wins when both are set).
 */
export function checkInstallation(
  c: FieldCheck,
  object: Record<string, unknown>,
  name: string,
): InstallationState {
  if (name !== 'default')
    c.fail(
      'metadata.name',
      `the operator reads only the Installation named default, got ${describeValue(name)}`,
    );
  const spec = c.record('spec', object.spec) ?? {};
  for (const key of Object.keys(spec)) {
    if (!INSTALLATION_FIELDS.includes(key))
      c.fail(fieldOf('spec', key), 'unknown field (not an InstallationSpec field)');
  }
  const network = c.record('spec.calicoNetwork', spec.calicoNetwork) ?? {};
  const fromNetwork = dataplane(c, 'spec.calicoNetwork.linuxDataplane', network.linuxDataplane);
  const fromSpec = dataplane(c, 'spec.linuxDataplane', spec.linuxDataplane);
  const ignored = [
    ...Object.keys(spec).filter((k) => k !== 'calicoNetwork' && k !== 'linuxDataplane'),
    ...Object.keys(network)
      .filter((k) => k !== 'linuxDataplane')
      .map((k) => `calicoNetwork.${k}`),
  ];
  for (const [i, pool] of (c.list('spec.calicoNetwork.ipPools', network.ipPools) ?? []).entries())
    c.record(indexOf('spec.calicoNetwork.ipPools', i), pool, true);
  if (ignored.length > 0)
    c.warn(
      '',
      `accepted, not acted on by this cluster (its network is fixed): ${ignored.map((k) => `spec.${k}`).join(', ')}`,
    );
  const linuxDataplane = fromNetwork ?? fromSpec;
  return linuxDataplane ? { linuxDataplane } : {};
}

/** `30s`, `1m`, `1m30s` (Prometheus durations, as a ServiceMonitor writes them) in seconds. */
function seconds(c: FieldCheck, field: string, value: unknown): number {
  if (value === undefined) return 30;
  const text = c.string(field, value)!;
  const m = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text);
  const total = m ? Number(m[1] ?? 0) * 3600 + Number(m[2] ?? 0) * 60 + Number(m[3] ?? 0) : 0;
  if (!m || total === 0) c.fail(field, `must be a duration such as 30s or 1m, got ${describeValue(value)}`);
  return total;
}

/**
 * Checks a ServiceMonitor; its first endpoint is the one `dpconform metrics` scrapes. A port is
 * a number or the calico-node endpoint's port name; a selector that does not pick calico-node
 * selects nothing here, and says so.
 */
export function checkServiceMonitor(
  c: FieldCheck,
  object: Record<string, unknown>,
  namespace: string,
  name: string,
): ServiceMonitorState {
  const spec = c.record('spec', object.spec, true)!;
  const selector = c.record('spec.selector', spec.selector, true)!;
  const labels = c.stringMap('spec.selector.matchLabels', selector.matchLabels) ?? {};
  const selectsCalicoNode = labels['k8s-app'] === 'calico-node';
  if (!selectsCalicoNode)
    c.warn(
      'spec.selector',
      'selects no calico-node metrics endpoint (matchLabels k8s-app: calico-node does)',
    );
  const endpoints = c.list('spec.endpoints', spec.endpoints, true)!;
  if (endpoints.length === 0) c.fail('spec.endpoints', 'must list at least one endpoint');
  const first = c.record('spec.endpoints[0]', endpoints[0], true)!;
  const port = first.port ?? first.targetPort;
  if (typeof port === 'number') c.int('spec.endpoints[0].port', port, 1, 65535);
  else if (port !== METRICS_PORT_NAME)
    c.fail(
      'spec.endpoints[0].port',
      `must be ${METRICS_PORT_NAME} (the calico-node metrics port) or a number, got ${describeValue(port)}`,
    );
  const path = c.string('spec.endpoints[0].path', first.path) ?? '/metrics';
  if (!path.startsWith('/'))
    c.fail('spec.endpoints[0].path', `must start with /, got ${describeValue(path)}`);
  if (endpoints.length > 1) c.warn('spec.endpoints', 'only the first endpoint is scraped');
  return {
    namespace,
    name,
    port: port as string | number,
    path,
    intervalSeconds: seconds(c, 'spec.endpoints[0].interval', first.interval),
    selectsCalicoNode,
  };
}
