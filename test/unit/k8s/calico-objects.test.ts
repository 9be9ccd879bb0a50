import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../src/k8s/controller.ts';
import { loadManifests, parseManifests } from '../../../src/k8s/manifest.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { validateManifest } from '../../../src/k8s/validate.ts';
import { makeNodes, messageOf, yaml } from './helpers.ts';

const FIXTURES = fileURLToPath(new URL('../../../fixtures/host-protection/', import.meta.url));

function check(text: string) {
  return validateManifest(parseManifests(text, 'p.yaml')[0]!);
}

function errorOf(text: string): string {
  return messageOf(() => check(text));
}

const gnp = (spec: string, name = 'p') =>
  `apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;

describe('Calico objects', () => {
  it('accepts every host-protection fixture as written', () => {
    for (const f of readdirSync(FIXTURES)) {
      for (const m of loadManifests(`${FIXTURES}${f}`)) expect(() => validateManifest(m), f).not.toThrow();
    }
  });

  it('keeps Calico NetworkPolicy apart from the Kubernetes kind of the same name', () => {
    const r = check(yaml`
      apiVersion: projectcalico.org/v3
      kind: NetworkPolicy
      metadata: {name: allow, namespace: team}
      spec:
        selector: app == 'web'
        ingress: [{action: Allow, protocol: TCP, destination: {ports: [80, "8000:8080"]}}]
    `);
    expect(r.kind).toBe('NetworkPolicy.projectcalico.org');
    expect(r.namespace).toBe('team');
    if (r.kind !== 'NetworkPolicy.projectcalico.org') throw new Error('kind');
    expect(r.policy.ingress[0]).toEqual({
      action: 'Allow',
      protocol: 6,
      source: {},
      destination: {
        ports: [
          { lo: 80, hi: 80 },
          { lo: 8000, hi: 8080 },
        ],
      },
    });
    expect(r.policy.types).toEqual(['Ingress']);
  });

  it('normalises a GlobalNetworkPolicy: default selector, types from the rules, flags', () => {
    const r = check(gnp('egress: [{action: Deny, destination: {nets: [10.0.0.1]}}]'));
    if (r.kind !== 'GlobalNetworkPolicy') throw new Error('kind');
    expect(r.policy).toMatchObject({
      selector: 'all()',
      types: ['Egress'],
      applyOnForward: false,
      preDNAT: false,
      egress: [{ action: 'Deny', destination: { nets: ['10.0.0.1/32'] } }],
    });
  });

  it.each([
    ['unknown field', 'selector: all()\nfoo: 1', 'p.yaml: GlobalNetworkPolicy p: spec.foo: unknown field'],
    [
      'bad selector',
      "selector: app = 'x'",
      'p.yaml: GlobalNetworkPolicy p: spec.selector: not a valid selector (unexpected character "=" at offset 4), got "app = \'x\'"',
    ],
    [
      'bad action',
      'ingress: [{action: Reject}]',
      'p.yaml: GlobalNetworkPolicy p: spec.ingress[0].action: must be one of Allow, Deny, Log, Pass, got "Reject"',
    ],
    [
      'ports without a protocol',
      'ingress: [{action: Allow, destination: {ports: [22]}}]',
      'p.yaml: GlobalNetworkPolicy p: spec.ingress[0].destination.ports: ports may only be used with protocol TCP, UDP or SCTP',
    ],
    [
      'preDNAT without applyOnForward',
      'preDNAT: true\ningress: [{action: Deny}]',
      'p.yaml: GlobalNetworkPolicy p: spec.applyOnForward: must be true when preDNAT is true',
    ],
    [
      'preDNAT egress',
      'preDNAT: true\napplyOnForward: true\negress: [{action: Deny}]',
      'p.yaml: GlobalNetworkPolicy p: spec.types: preDNAT policy may only have type Ingress',
    ],
    [
      'doNotTrack',
      'doNotTrack: true\napplyOnForward: true',
      'p.yaml: GlobalNetworkPolicy p: spec.doNotTrack: untracked policy is not supported by this dataplane',
    ],
    [
      'IPv6 nets',
      'ingress: [{action: Allow, source: {nets: ["fd00::/8"]}}]',
      'p.yaml: GlobalNetworkPolicy p: spec.ingress[0].source.nets[0]: IPv6 is not supported by this dataplane, got "fd00::/8"',
    ],
    [
      'named ports',
      'ingress: [{action: Allow, protocol: TCP, destination: {ports: [http]}}]',
      'p.yaml: GlobalNetworkPolicy p: spec.ingress[0].destination.ports[0]: named ports are not supported by this dataplane; use a number or lo:hi, got "http"',
    ],
    [
      'a tier of its own',
      'tier: security',
      'p.yaml: GlobalNetworkPolicy p: spec.tier: only the default tier is supported (Tier objects are not), got "security"',
    ],
    [
      'global() outside a namespaceSelector',
      'selector: global()',
      'p.yaml: GlobalNetworkPolicy p: spec.selector: global() may only be used in a namespaceSelector',
    ],
  ])('rejects %s in one line naming file, object and field', (_what, spec, message) => {
    expect(errorOf(gnp(spec))).toBe(message);
  });

  it('checks HostEndpoints: interface or addresses, IPv4, the built-in profile only', () => {
    const hep = (spec: string) =>
      `apiVersion: projectcalico.org/v3\nkind: HostEndpoint\nmetadata:\n  name: h\n  labels: {role: edge}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
    const r = check(hep('node: n1\ninterfaceName: eth0\nprofiles: [projectcalico-default-allow]'));
    if (r.kind !== 'HostEndpoint') throw new Error('kind');
    expect(r.hostEndpoint).toEqual({
      name: 'h',
      node: 'n1',
      interfaceName: 'eth0',
      expectedIPs: [],
      labels: { role: 'edge' },
      profiles: ['projectcalico-default-allow'],
      auto: false,
    });
    expect(errorOf(hep('node: n1'))).toBe(
      'p.yaml: HostEndpoint h: spec: must set interfaceName or expectedIPs',
    );
    expect(errorOf(hep('interfaceName: eth0'))).toBe('p.yaml: HostEndpoint h: spec.node: required');
    expect(errorOf(hep('node: n1\nexpectedIPs: [10.0.0.256]'))).toBe(
      'p.yaml: HostEndpoint h: spec.expectedIPs[0]: must be an IPv4 address, got "10.0.0.256"',
    );
    expect(errorOf(hep('node: n1\ninterfaceName: eth0\nprofiles: [mine]'))).toBe(
      'p.yaml: HostEndpoint h: spec.profiles[0]: only the built-in profile projectcalico-default-allow is supported, got "mine"',
    );
  });

  it('checks KubeControllersConfiguration: only default, autoCreate Enabled or Disabled', () => {
    const kcc = (name: string, auto: string) =>
      `apiVersion: projectcalico.org/v3\nkind: KubeControllersConfiguration\nmetadata: {name: ${name}}\nspec: {controllers: {node: {hostEndpoint: {autoCreate: ${auto}}}}}\n`;
    expect(errorOf(kcc('other', 'Enabled'))).toBe(
      'p.yaml: KubeControllersConfiguration other: metadata.name: must be "default", got "other"',
    );
    expect(errorOf(kcc('default', 'Yes'))).toBe(
      'p.yaml: KubeControllersConfiguration default: spec.controllers.node.hostEndpoint.autoCreate: must be one of Enabled, Disabled, got "Yes"',
    );
  });

  it('refuses a batch whole when one object is bad, leaving the store as it was', () => {
    const store = new ObjectStore();
    const good = gnp('ingress: [{action: Allow}]', 'good');
    const bad = gnp('ingress: [{action: Allow, bogus: 1}]', 'bad');
    expect(messageOf(() => store.apply(parseManifests(`${good}---\n${bad}`, 'p.yaml')))).toBe(
      'p.yaml: GlobalNetworkPolicy bad: spec.ingress[0].bogus: unknown field',
    );
    expect(store.ofKind('GlobalNetworkPolicy')).toEqual([]);
  });

  it('realises automatic host endpoints per node, labelled with the node labels, only when enabled', () => {
    const store = new ObjectStore();
    const nodes = makeNodes(2);
    expect(reconcile(store, nodes, undefined).model.hostEndpoints).toEqual([]);
    store.apply(loadManifests(`${FIXTURES}auto-host-endpoints.yaml`));
    const heps = reconcile(store, nodes, undefined).model.hostEndpoints ?? [];
    expect(heps.map((h) => [h.name, h.interfaceName, h.expectedIPs, h.profiles])).toEqual([
      ['dpc-control-plane-auto-hep', '*', ['172.18.0.2'], ['projectcalico-default-allow']],
      ['dpc-worker-auto-hep', '*', ['172.18.0.3'], ['projectcalico-default-allow']],
    ]);
    expect(heps[1]?.labels).toMatchObject({
      'kubernetes.io/hostname': 'dpc-worker',
      'kubernetes.io/os': 'linux',
    });
    expect(heps[0]?.labels).toHaveProperty('node-role.kubernetes.io/control-plane', '');
  });

  it('takes failsafe ports from FelixConfiguration, with Calico defaults and [] turning them off', () => {
    const store = new ObjectStore();
    const nodes = makeNodes(1);
    expect(reconcile(store, nodes, undefined).model.failsafe?.inbound).toContainEqual({
      protocol: 'TCP',
      port: 22,
    });
    store.apply(
      parseManifests(yaml`
        apiVersion: projectcalico.org/v3
        kind: FelixConfiguration
        metadata: {name: default}
        spec:
          failsafeInboundHostPorts: []
          failsafeOutboundHostPorts: [{protocol: udp, port: 53, net: 10.0.0.0/8}]
      `),
    );
    expect(reconcile(store, nodes, undefined).model.failsafe).toEqual({
      inbound: [],
      outbound: [{ protocol: 'UDP', port: 53, net: '10.0.0.0/8' }],
    });
  });
});
