import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../src/k8s/controller.ts';
import { parseManifests } from '../../../src/k8s/manifest.ts';
import type { NodeState } from '../../../src/k8s/model.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { validateManifest } from '../../../src/k8s/validate.ts';

const NODES: NodeState[] = [
  { name: 'n0', index: 0, ip: '172.18.0.2', podCidr: '10.244.0.0/24' },
  { name: 'n1', index: 1, ip: '172.18.0.3', podCidr: '10.244.1.0/24' },
];

function storeWith(yaml: string): ObjectStore {
  const store = new ObjectStore();
  store.apply(parseManifests(yaml, 't.yaml'));
  return store;
}

function errorOf(yaml: string): string {
  try {
    parseManifests(yaml, 't.yaml').map(validateManifest);
    return 'accepted';
  } catch (err) {
    return (err as Error).message;
  }
}

const SELECTORLESS = `apiVersion: v1
kind: Service
metadata: {name: ext}
spec:
  type: NodePort
  ports: [{name: web, port: 80, protocol: TCP}]
`;

const SLICE = `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: ext-1
  labels: {kubernetes.io/service-name: ext}
addressType: IPv4
ports: [{name: web, port: 8080, protocol: TCP}]
endpoints:
  - addresses: [10.244.1.9]
    conditions: {ready: true}
  - addresses: [10.244.0.7]
    nodeName: n0
    conditions: {ready: false}
`;

const ENDPOINTS = `apiVersion: v1
kind: Endpoints
metadata: {name: ext}
subsets:
  - addresses: [{ip: 10.244.0.4}]
    ports: [{name: web, port: 9090}]
`;

describe('endpoints written for a Service without a selector', () => {
  it('EPS-001 an EndpointSlice gives the Service its endpoints; a v1 Endpoints reader never sees it', () => {
    const m = reconcile(storeWith(`${SELECTORLESS}---\n${SLICE}`), NODES, undefined).model;
    const eps = m.endpoints.find((e) => e.serviceName === 'ext')!;
    expect(eps.ports).toEqual([
      {
        portName: 'web',
        protocol: 'TCP',
        port: 8080,
        endpoints: [
          { ip: '10.244.0.7', nodeName: 'n0', podName: '', ready: false },
          // No nodeName written: the node whose pod CIDR holds the address.
          { ip: '10.244.1.9', nodeName: 'n1', podName: '', ready: true },
        ],
      },
    ]);
    expect(m.legacyEndpoints?.find((e) => e.serviceName === 'ext')?.ports).toEqual([]);
  });

  it('EPS-002 an Endpoints object is mirrored into slices: both readers see it', () => {
    const m = reconcile(storeWith(`${SELECTORLESS}---\n${ENDPOINTS}`), NODES, undefined).model;
    for (const view of [m.endpoints, m.legacyEndpoints!]) {
      const eps = view.find((e) => e.serviceName === 'ext')!;
      expect(eps.ports.map((p) => [p.port, p.endpoints.map((e) => e.ip)])).toEqual([[9090, ['10.244.0.4']]]);
    }
  });

  it('EPS-003 slices and Endpoints are checked as the API server checks them', () => {
    expect(errorOf(SLICE.replace('labels: {kubernetes.io/service-name: ext}', 'labels: {}'))).toBe(
      't.yaml: EndpointSlice default/ext-1: metadata.labels["kubernetes.io/service-name"]: required: it names the Service the slice belongs to',
    );
    expect(errorOf(SLICE.replace('[10.244.1.9]', '[10.244.1.999]'))).toMatch(
      /endpoints\[0\]\.addresses\[0\]: must be an IPv4 address/,
    );
    expect(errorOf(SLICE.replace('addressType: IPv4', 'addressType: Foo'))).toMatch(
      /addressType: must be IPv4, IPv6 or FQDN/,
    );
    expect(errorOf(ENDPOINTS.replace('{ip: 10.244.0.4}', '{ipp: 10.244.0.4}'))).toMatch(
      /subsets\[0\]\.addresses\[0\]\.ipp: unknown field/,
    );
  });
});

const INSTALLATION = `apiVersion: operator.tigera.io/v1
kind: Installation
metadata:
  name: default
spec:
  calicoNetwork:
    bgp: Enabled
    ipPools:
    - blockSize: 26
      cidr: 10.244.0.0/16
      encapsulation: None
      natOutgoing: Enabled
      nodeSelector: all()
  flexVolumePath: /usr/libexec/kubernetes/kubelet-plugins/volume/exec/
  linuxDataplane: BPF
  nodeUpdateStrategy:
    rollingUpdate:
      maxUnavailable: 1
    type: RollingUpdate
`;

const MONITOR = `apiVersion: v1
kind: ServiceMonitor
metadata:
  name: calico-bpf-metrics
  namespace: kube-system
spec:
  selector:
    matchLabels:
      k8s-app: calico-node
  endpoints:
  - port: metrics-port
    interval: 30s
    path: /metrics
`;

describe("the guide's operator resources", () => {
  it("OPK-001 the guide's Installation is accepted as written; linuxDataplane is read, the rest named as not acted on", () => {
    const [r] = parseManifests(INSTALLATION, 't.yaml').map(validateManifest);
    expect(r).toMatchObject({ kind: 'Installation', installation: { linuxDataplane: 'BPF' } });
    expect(r!.warnings.join('\n')).toMatch(
      /not acted on .*spec\.flexVolumePath.*spec\.calicoNetwork\.ipPools/,
    );
    expect(errorOf(INSTALLATION.replace('linuxDataplane: BPF', 'linuxDataplane: Nftables'))).toMatch(
      /spec\.linuxDataplane: Nftables is not a dataplane this cluster runs/,
    );
    expect(errorOf(INSTALLATION.replace('name: default', 'name: other'))).toMatch(
      /only the Installation named default/,
    );
  });

  it("OPK-002 the guide's ServiceMonitor is accepted as written and says where and how often to scrape", () => {
    const [r] = parseManifests(MONITOR, 't.yaml').map(validateManifest);
    expect(r).toMatchObject({
      kind: 'ServiceMonitor',
      monitor: { port: 'metrics-port', path: '/metrics', intervalSeconds: 30, selectsCalicoNode: true },
    });
    expect(r!.warnings.join('\n')).toMatch(/monitoring\.coreos\.com\/v1; v1 accepted/);
    expect(errorOf(MONITOR.replace('port: metrics-port', 'port: http'))).toMatch(
      /spec\.endpoints\[0\]\.port: must be metrics-port .* or a number, got "http"/,
    );
    expect(errorOf(MONITOR.replace('interval: 30s', 'interval: soon'))).toMatch(
      /interval: must be a duration/,
    );
    const m = reconcile(storeWith(MONITOR), NODES, undefined).model;
    expect(m.monitors).toEqual([
      expect.objectContaining({ name: 'calico-bpf-metrics', intervalSeconds: 30 }),
    ]);
  });
});
