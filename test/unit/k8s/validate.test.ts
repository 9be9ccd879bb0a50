import { describe, expect, it } from 'vitest';
import { loadManifests, parseManifests } from '../../../src/k8s/manifest.ts';
import { validateManifest, validateManifests } from '../../../src/k8s/validate.ts';
import { messageOf, yaml } from './helpers.ts';

function check(text: string) {
  return validateManifest(parseManifests(text, 't.yaml')[0]!);
}

function errorOf(text: string): string {
  return messageOf(() => check(text));
}

/** A Service with the given spec lines (indented by two under `spec:`). */
function service(spec: string, name = 'web'): string {
  return `apiVersion: v1\nkind: Service\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

/** A Deployment with the given spec lines. */
function deployment(spec: string, name = 'web'): string {
  return `apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: ${name}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

const TEMPLATE = yaml`
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: nginx
`;

describe('kinds and apiVersions', () => {
  it('rejects an unknown kind, listing the supported ones', () => {
    expect(errorOf('apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cfg}\n')).toBe(
      't.yaml: ConfigMap cfg: kind: ConfigMap is not a kind dpconform applies; it applies Namespace (v1), ' +
        'FelixConfiguration (projectcalico.org/v3, crd.projectcalico.org/v1), Installation (operator.tigera.io/v1), ' +
        'Deployment (apps/v1), Service (v1), EndpointSlice (discovery.k8s.io/v1), Endpoints (v1), ' +
        'ServiceMonitor (monitoring.coreos.com/v1, v1), NetworkPolicy (networking.k8s.io/v1), ' +
        'KubeControllersConfiguration (projectcalico.org/v3, crd.projectcalico.org/v1), ' +
        'HostEndpoint (projectcalico.org/v3, crd.projectcalico.org/v1), ' +
        'GlobalNetworkPolicy (projectcalico.org/v3, crd.projectcalico.org/v1), ' +
        'NetworkPolicy.projectcalico.org (projectcalico.org/v3, crd.projectcalico.org/v1)',
    );
  });

  it('rejects a known kind under the wrong apiVersion', () => {
    expect(
      errorOf('apiVersion: extensions/v1beta1\nkind: Deployment\nmetadata: {name: web}\nspec: {}\n'),
    ).toBe(
      't.yaml: Deployment default/web: apiVersion: Deployment is not served by "extensions/v1beta1"; use apps/v1',
    );
  });

  it('accepts FelixConfiguration under both Calico apiVersions', () => {
    for (const v of ['projectcalico.org/v3', 'crd.projectcalico.org/v1']) {
      expect(
        check(`apiVersion: ${v}\nkind: FelixConfiguration\nmetadata: {name: default}\nspec: {}\n`).kind,
      ).toBe('FelixConfiguration');
    }
  });
});

describe('metadata', () => {
  it('checks names per kind', () => {
    expect(errorOf(service('ports: [{port: 80}]', '1web'))).toBe(
      't.yaml: Service default/1web: metadata.name: must be a DNS-1035 label (starts with a letter; ' +
        'lower-case alphanumerics and \'-\', at most 63), got "1web"',
    );
    expect(errorOf('apiVersion: v1\nkind: Namespace\nmetadata: {name: Team_A}\n')).toBe(
      't.yaml: Namespace Team_A: metadata.name: must be a DNS label (lower-case alphanumerics and \'-\', at most 63), got "Team_A"',
    );
  });

  it('rejects a label value that is not a string', () => {
    expect(errorOf('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {tier: 1}}\n')).toBe(
      't.yaml: Namespace a: metadata.labels.tier: must be a string, got 1',
    );
  });

  it('rejects an invalid label key and value', () => {
    expect(errorOf('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {"-x": y}}\n')).toBe(
      't.yaml: Namespace a: metadata.labels["-x"]: not a valid label key',
    );
    expect(errorOf('apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {x: "a b"}}\n')).toBe(
      "t.yaml: Namespace a: metadata.labels.x: not a valid label value (63 alphanumerics, '-', '_' or '.'), got \"a b\"",
    );
  });

  it('fills in the namespace and drops status in the stored object', () => {
    const r = check(`${service('ports: [{port: 80}]')}status: {loadBalancer: {}}\n`);
    expect(r.object.metadata?.namespace).toBe('default');
    expect((r.object as { status?: unknown }).status).toBeUndefined();
  });
});

describe('Service', () => {
  it('rejects a port that is not an integer (the example from the design)', () => {
    expect(messageOf(() => validateManifests(loadManifests('test/unit/k8s/fixtures/bad-port.yaml')))).toBe(
      'test/unit/k8s/fixtures/bad-port.yaml: Service default/web: spec.ports[0].port: must be an integer 1-65535, got "eighty"',
    );
  });

  it('rejects a quoted number where Kubernetes wants an integer', () => {
    expect(errorOf(service('ports: [{port: "80"}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].port: must be an integer 1-65535, got "80"',
    );
  });

  it('requires at least one port', () => {
    expect(errorOf(service('selector: {app: web}'))).toBe(
      't.yaml: Service default/web: spec.ports: required (at least one port)',
    );
  });

  it('rejects an unknown type and ExternalName', () => {
    expect(errorOf(service('type: Magic\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.type: must be one of ClusterIP, NodePort, LoadBalancer, got "Magic"',
    );
    expect(errorOf(service('type: ExternalName\nexternalName: example.com'))).toBe(
      't.yaml: Service default/web: spec.type: ExternalName Services are not supported by the embedded control plane',
    );
  });

  it('checks targetPort: number or IANA name', () => {
    expect(check(service('ports: [{port: 80, targetPort: http}]')).kind).toBe('Service');
    expect(errorOf(service('ports: [{port: 80, targetPort: "8080"}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].targetPort: must be an integer 1-65535 or a port name (IANA service name), got "8080"',
    );
    expect(errorOf(service('ports: [{port: 80, targetPort: 70000}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].targetPort: must be an integer 1-65535 or a port name (IANA service name), got 70000',
    );
  });

  it('checks nodePort range and type', () => {
    expect(errorOf(service('type: NodePort\nports: [{port: 80, nodePort: 80}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].nodePort: must be an integer 30000-32767, got 80',
    );
    expect(errorOf(service('ports: [{port: 80, nodePort: 30080}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].nodePort: may not be used when type is ClusterIP',
    );
  });

  it('checks protocols, naming SCTP as unsupported', () => {
    expect(errorOf(service('ports: [{port: 80, protocol: SCTP}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].protocol: SCTP is not supported by this dataplane (TCP, UDP)',
    );
    expect(errorOf(service('ports: [{port: 80, protocol: tcp}]'))).toBe(
      't.yaml: Service default/web: spec.ports[0].protocol: must be one of TCP, UDP, got "tcp"',
    );
  });

  it('requires unique port names when there is more than one port', () => {
    expect(errorOf(service('ports: [{port: 80, name: a}, {port: 81}]'))).toBe(
      't.yaml: Service default/web: spec.ports[1].name: required when the Service has more than one port',
    );
    expect(errorOf(service('ports: [{port: 80, name: a}, {port: 81, name: a}]'))).toBe(
      't.yaml: Service default/web: spec.ports[1].name: duplicate of spec.ports[0].name "a"',
    );
  });

  it('rejects the same port and protocol twice, but allows TCP and UDP on one port', () => {
    expect(errorOf(service('ports: [{port: 80, name: a}, {port: 80, name: b}]'))).toBe(
      't.yaml: Service default/web: spec.ports[1].port: duplicate of spec.ports[0] (80/TCP)',
    );
    expect(check(service('ports: [{port: 53, name: a}, {port: 53, name: b, protocol: UDP}]')).kind).toBe(
      'Service',
    );
  });

  it('refuses headless Services clearly', () => {
    expect(errorOf(service('clusterIP: None\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.clusterIP: headless Services (clusterIP: None) are not supported by the embedded control plane',
    );
  });

  it('checks a requested clusterIP against the Service CIDR and reserved addresses', () => {
    expect(errorOf(service('clusterIP: 10.0.0.5\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.clusterIP: must be an IPv4 address in 10.96.0.0/12, got "10.0.0.5"',
    );
    expect(errorOf(service('clusterIP: 10.96.0.10\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.clusterIP: 10.96.0.10 is reserved (network address, kubernetes or kube-dns)',
    );
    expect(check(service('clusterIP: 10.100.3.4\nports: [{port: 80}]')).kind).toBe('Service');
  });

  it('allows externalTrafficPolicy only where it means something', () => {
    expect(errorOf(service('externalTrafficPolicy: Local\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.externalTrafficPolicy: may only be set when type is NodePort or LoadBalancer (or with externalIPs)',
    );
    expect(errorOf(service('type: NodePort\nexternalTrafficPolicy: local\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.externalTrafficPolicy: must be one of Cluster, Local, got "local"',
    );
    expect(
      check(service('externalTrafficPolicy: Local\nexternalIPs: [172.18.0.100]\nports: [{port: 80}]')).kind,
    ).toBe('Service');
  });

  it('checks externalIPs, loadBalancerIP and session affinity', () => {
    expect(errorOf(service('externalIPs: [not-an-ip]\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.externalIPs[0]: must be an IPv4 address, got "not-an-ip"',
    );
    expect(errorOf(service('type: LoadBalancer\nloadBalancerIP: 300.1.1.1\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.loadBalancerIP: must be an IPv4 address, got "300.1.1.1"',
    );
    expect(errorOf(service('sessionAffinity: Sticky\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.sessionAffinity: must be one of None, ClientIP, got "Sticky"',
    );
    expect(
      errorOf(
        service(
          'sessionAffinity: ClientIP\nsessionAffinityConfig: {clientIP: {timeoutSeconds: 0}}\nports: [{port: 80}]',
        ),
      ),
    ).toBe(
      't.yaml: Service default/web: spec.sessionAffinityConfig.clientIP.timeoutSeconds: must be an integer 1-86400, got 0',
    );
  });

  it('rejects unknown spec fields and warns about unimplemented ones', () => {
    expect(errorOf(service('ports: [{port: 80}]\nselektor: {app: web}'))).toBe(
      't.yaml: Service default/web: spec.selektor: unknown field',
    );
    const r = check(
      service('type: LoadBalancer\nloadBalancerSourceRanges: [10.0.0.0/8]\nports: [{port: 80}]'),
    );
    expect(r.warnings).toEqual([
      't.yaml: Service default/web: spec.loadBalancerSourceRanges: accepted, not implemented by this dataplane',
    ]);
  });

  it('rejects dual-stack and IPv6 families', () => {
    expect(errorOf(service('ipFamilies: [IPv6]\nports: [{port: 80}]'))).toBe(
      't.yaml: Service default/web: spec.ipFamilies[0]: IPv6 Services are not supported (IPv4 only)',
    );
  });
});

describe('Deployment', () => {
  it('accepts a minimal Deployment and keeps it as written', () => {
    const r = check(deployment(TEMPLATE));
    expect(r.kind).toBe('Deployment');
    expect(r.kind === 'Deployment' && r.object.spec?.replicas).toBeUndefined();
  });

  it('rejects negative replicas', () => {
    expect(errorOf(deployment(`replicas: -1\n${TEMPLATE}`))).toBe(
      't.yaml: Deployment default/web: spec.replicas: must be an integer 0-2147483647, got -1',
    );
  });

  it('rejects a selector that does not match the template labels', () => {
    expect(errorOf(deployment(TEMPLATE.replace('matchLabels: {app: web}', 'matchLabels: {app: api}')))).toBe(
      't.yaml: Deployment default/web: spec.template.metadata.labels: selector does not match template labels ' +
        '(selector app=api, labels app=web)',
    );
  });

  it('understands matchExpressions', () => {
    const sel = 'matchExpressions: [{key: app, operator: In, values: [web, api]}]';
    expect(check(deployment(TEMPLATE.replace('matchLabels: {app: web}', sel))).kind).toBe('Deployment');
    const bad = 'matchExpressions: [{key: app, operator: NotIn, values: [web]}]';
    expect(errorOf(deployment(TEMPLATE.replace('matchLabels: {app: web}', bad)))).toBe(
      't.yaml: Deployment default/web: spec.template.metadata.labels: selector does not match template labels ' +
        '(selector app notin (web), labels app=web)',
    );
    const empty = 'matchExpressions: [{key: app, operator: In, values: []}]';
    expect(errorOf(deployment(TEMPLATE.replace('matchLabels: {app: web}', empty)))).toBe(
      't.yaml: Deployment default/web: spec.selector.matchExpressions[0].values: must be non-empty when operator is In',
    );
  });

  it('requires a selector and rejects an empty one', () => {
    expect(errorOf(deployment(TEMPLATE.replace(/selector:\n.*\n/, '')))).toBe(
      't.yaml: Deployment default/web: spec.selector: required',
    );
    expect(errorOf(deployment(TEMPLATE.replace('matchLabels: {app: web}', 'matchLabels: {}')))).toBe(
      't.yaml: Deployment default/web: spec.selector: empty selector is invalid for a Deployment',
    );
  });

  it('requires container names and images', () => {
    expect(errorOf(deployment(TEMPLATE.replace('        image: nginx\n', '')))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].image: required',
    );
    expect(errorOf(deployment(TEMPLATE.replace('- name: web', '- name: Web')))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].name: must be a DNS label (lower-case alphanumerics and \'-\'), got "Web"',
    );
  });

  it('checks container ports', () => {
    const withPorts = (ports: string) => deployment(`${TEMPLATE}        ports: ${ports}\n`);
    expect(
      check(withPorts('[{containerPort: 8080, name: http}, {containerPort: 8080, protocol: UDP, name: udp}]'))
        .kind,
    ).toBe('Deployment');
    expect(errorOf(withPorts('[{containerPort: 0}]'))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].ports[0].containerPort: must be an integer 1-65535, got 0',
    );
    expect(errorOf(withPorts('[{containerPort: 80, protocol: ICMP}]'))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].ports[0].protocol: must be one of TCP, UDP, got "ICMP"',
    );
    expect(errorOf(withPorts('[{containerPort: 80, name: HTTP}]'))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].ports[0].name: must be an IANA service name ' +
        '(at most 15 lower-case alphanumerics and \'-\', with a letter), got "HTTP"',
    );
    expect(errorOf(withPorts('[{containerPort: 80, name: http}, {containerPort: 81, name: http}]'))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.containers[0].ports[1].name: duplicate port name "http" ' +
        '(also spec.template.spec.containers[0].ports[0])',
    );
  });

  it('refuses host-networked pods', () => {
    expect(errorOf(deployment(TEMPLATE.replace('  spec:\n', '  spec:\n    hostNetwork: true\n')))).toBe(
      't.yaml: Deployment default/web: spec.template.spec.hostNetwork: host-networked pods are not supported by the embedded control plane',
    );
  });
});

describe('NetworkPolicy', () => {
  const policy = (spec: string) =>
    `apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: np\nspec:\n${spec.replace(/^/gm, '  ')}\n`;

  it('accepts a full policy', () => {
    const r = check(
      policy(yaml`
        podSelector: {matchLabels: {app: echo}}
        policyTypes: [Ingress, Egress]
        ingress:
          - from:
              - podSelector: {matchLabels: {role: client}}
                namespaceSelector: {matchLabels: {team: a}}
              - ipBlock: {cidr: 172.18.0.0/16, except: [172.18.1.0/24]}
            ports:
              - {port: http}
              - {port: 30000, endPort: 32767, protocol: TCP}
        egress:
          - to: [{podSelector: {}}]
      `),
    );
    expect(r.kind).toBe('NetworkPolicy');
  });

  it('requires podSelector', () => {
    expect(errorOf(policy('policyTypes: [Ingress]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.podSelector: required (use {} to select every pod)',
    );
  });

  it('rejects bad policy types', () => {
    expect(errorOf(policy('podSelector: {}\npolicyTypes: [Ingres]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.policyTypes[0]: must be one of Ingress, Egress, got "Ingres"',
    );
  });

  it('rejects ipBlock combined with selectors and excepts outside the block', () => {
    expect(
      errorOf(policy('podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8}, podSelector: {}}]}]')),
    ).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].from[0].ipBlock: may not be combined with podSelector or namespaceSelector',
    );
    expect(
      errorOf(
        policy(
          'podSelector: {}\ningress: [{from: [{ipBlock: {cidr: 10.0.0.0/8, except: [192.168.0.0/16]}}]}]',
        ),
      ),
    ).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].from[0].ipBlock.except[0]: must be strictly within 10.0.0.0/8, got "192.168.0.0/16"',
    );
    expect(errorOf(policy('podSelector: {}\negress: [{to: [{ipBlock: {cidr: 10.0.0.0/33}}]}]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.egress[0].to[0].ipBlock.cidr: must be an IPv4 CIDR such as 10.0.0.0/8, got "10.0.0.0/33"',
    );
  });

  it('checks ports and endPort', () => {
    expect(errorOf(policy('podSelector: {}\ningress: [{ports: [{port: http, endPort: 90}]}]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].ports[0].endPort: may only be set when port is a number',
    );
    expect(errorOf(policy('podSelector: {}\ningress: [{ports: [{port: 100, endPort: 90}]}]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].ports[0].endPort: must be >= port (100), got 90',
    );
  });

  it('rejects unknown fields and empty peers', () => {
    expect(errorOf(policy('podSelector: {}\ningress: [{from: [{}]}]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].from[0]: must set podSelector, namespaceSelector or ipBlock',
    );
    expect(errorOf(policy('podSelector: {}\ningress: [{form: []}]'))).toBe(
      't.yaml: NetworkPolicy default/np: spec.ingress[0].form: unknown field',
    );
  });
});
