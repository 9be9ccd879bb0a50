import { describe, expect, it } from 'vitest';
import { reconcile } from '../../../src/k8s/controller.ts';
import { loadManifests, parseManifests } from '../../../src/k8s/manifest.ts';
import type { ClusterModel, PodState } from '../../../src/k8s/model.ts';
import { hostIfaceName, seededRandom } from '../../../src/k8s/naming.ts';
import { ObjectStore } from '../../../src/k8s/store.ts';
import { makeNodes } from './helpers.ts';

interface DeployOpts {
  replicas?: number;
  app?: string;
  image?: string;
  namespace?: string;
  ports?: string;
}

function deployment(name: string, o: DeployOpts = {}): string {
  const app = o.app ?? name;
  const ns = o.namespace ? `\n  namespace: ${o.namespace}` : '';
  const ports = o.ports ? `\n          ports: ${o.ports}` : '';
  return `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}${ns}
spec:
  replicas: ${o.replicas ?? 1}
  selector:
    matchLabels: {app: ${app}}
  template:
    metadata:
      labels: {app: ${app}}
    spec:
      containers:
        - name: main
          image: ${o.image ?? 'nginx'}${ports}
`;
}

function service(name: string, spec: string, namespace?: string): string {
  const ns = namespace ? `, namespace: ${namespace}` : '';
  return `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}${ns}}\nspec:\n${spec.replace(/^/gm, '  ')}\n`;
}

function apply(store: ObjectStore, ...docs: string[]): void {
  store.apply(parseManifests(docs.join('---\n'), 'b.yaml'));
}

function perNode(model: ClusterModel, owner?: string): number[] {
  return model.nodes.map(
    (n) => model.pods.filter((p) => p.nodeName === n.name && (!owner || p.owner === owner)).length,
  );
}

function brief(pods: readonly PodState[]): string[] {
  return pods.map((p) => `${p.name}@${p.nodeName}/${p.ip}`);
}

function svcOf(model: ClusterModel, name: string) {
  return model.services.find((s) => s.name === name);
}

const NODES = makeNodes(3);

describe('scheduling', () => {
  it('spreads 3 replicas over 3 nodes, one each, lowest address first', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    const { model, podsAdded, podsRemoved, errors } = reconcile(store, NODES, undefined);
    expect(errors).toEqual([]);
    expect(perNode(model)).toEqual([1, 1, 1]);
    expect(model.pods.map((p) => p.ip)).toEqual(['10.244.0.2', '10.244.1.2', '10.244.2.2']);
    expect(podsAdded).toEqual(model.pods);
    expect(podsRemoved).toEqual([]);
  });

  it('spreads 5 replicas over 3 nodes as 2/2/1', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 5 }));
    const { model } = reconcile(store, NODES, undefined);
    expect(perNode(model)).toEqual([2, 2, 1]);
    expect(model.pods.filter((p) => p.nodeName === 'dpc-control-plane').map((p) => p.ip)).toEqual([
      '10.244.0.2',
      '10.244.0.3',
    ]);
  });

  it('defaults replicas to 1 and places nothing for 0', () => {
    const store = new ObjectStore();
    apply(store, deployment('one').replace('  replicas: 1\n', ''), deployment('none', { replicas: 0 }));
    expect(reconcile(store, NODES, undefined).model.pods.map((p) => p.owner)).toEqual(['one']);
  });

  it('names pods <deployment>-<10 hex template hash>-<5 chars> with Calico-style veths', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    const { model } = reconcile(store, NODES, undefined);
    const hashes = new Set<string>();
    for (const pod of model.pods) {
      const m = /^echo-([0-9a-f]{10})-([bcdfghjklmnpqrstvwxz2456789]{5})$/.exec(pod.name);
      expect(m, pod.name).not.toBeNull();
      hashes.add(m![1]!);
      expect(pod.labels).toEqual({ app: 'echo', 'pod-template-hash': m![1] });
      expect(pod.hostIface).toBe(hostIfaceName('default', pod.name));
      expect(pod.owner).toBe('echo');
    }
    expect(hashes.size).toBe(1);
    expect(new Set(model.pods.map((p) => p.name)).size).toBe(3);
  });

  it('derives the veth name from sha1("namespace.pod")', () => {
    // printf 'default.echo-abc' | sha1sum -> d08d586e53e0f7a5...
    expect(hostIfaceName('default', 'echo-abc')).toBe('calid08d586e53e');
  });

  it('keeps existing pods when scaling up and adds only the difference', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, deployment('echo', { replicas: 5 }));
    const { model, podsAdded, podsRemoved } = reconcile(store, NODES, first);
    expect(model.pods.slice(0, 3)).toEqual(first.pods);
    expect(podsAdded).toHaveLength(2);
    expect(podsRemoved).toEqual([]);
    expect(perNode(model)).toEqual([2, 2, 1]);
  });

  it('keeps the rest when scaling down, removing from the fullest nodes', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 5 }));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, deployment('echo', { replicas: 2 }));
    const { model, podsAdded, podsRemoved } = reconcile(store, NODES, first);
    expect(podsAdded).toEqual([]);
    expect(podsRemoved).toHaveLength(3);
    for (const pod of model.pods) expect(first.pods).toContainEqual(pod);
    expect(perNode(model).filter((n) => n > 0)).toEqual([1, 1]);
  });

  it('keeps pods identical across reconciles with nothing changed', () => {
    const store = new ObjectStore();
    store.apply(loadManifests('fixtures/workloads'));
    const first = reconcile(store, NODES, undefined);
    const second = reconcile(store, NODES, first.model, seededRandom('another seed'));
    expect(second.model).toEqual(first.model);
    expect([second.podsAdded, second.podsRemoved]).toEqual([[], []]);
  });

  it('replaces every pod when the template changes, without reusing their addresses in the same round', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, deployment('echo', { replicas: 3, image: 'nginx:2' }));
    const { model, podsAdded, podsRemoved } = reconcile(store, NODES, first);
    expect(podsRemoved).toEqual(first.pods);
    expect(podsAdded).toEqual(model.pods);
    expect(model.pods.map((p) => p.ip)).toEqual(['10.244.0.3', '10.244.1.3', '10.244.2.3']);
    expect(model.pods[0]!.labels['pod-template-hash']).not.toBe(first.pods[0]!.labels['pod-template-hash']);
  });

  it('hands freed addresses out again in a later round, lowest first', () => {
    const store = new ObjectStore();
    apply(store, deployment('a', { replicas: 3 }), deployment('b', { replicas: 3 }));
    const first = reconcile(store, NODES, undefined).model;
    store.delete(parseManifests(deployment('a')));
    const second = reconcile(store, NODES, first).model;
    apply(store, deployment('c', { replicas: 3 }));
    const third = reconcile(store, NODES, second).model;
    const aIps = first.pods.filter((p) => p.owner === 'a').map((p) => p.ip);
    expect(third.pods.filter((p) => p.owner === 'c').map((p) => p.ip)).toEqual(aIps);
  });

  it('breaks ties by the busiest node: a second Deployment starts on the next node', () => {
    const store = new ObjectStore();
    apply(store, deployment('a'), deployment('b'));
    const { model } = reconcile(store, NODES, undefined);
    expect(model.pods.map((p) => `${p.owner}@${p.nodeName}`)).toEqual([
      'a@dpc-control-plane',
      'b@dpc-worker',
    ]);
  });

  it('spreads each Deployment over the nodes first, even when the nodes are unevenly loaded', () => {
    const store = new ObjectStore();
    apply(store, deployment('a', { replicas: 3 }));
    const first = reconcile(store, NODES.slice(0, 2), undefined).model;
    apply(store, deployment('b', { replicas: 3 }));
    const { model } = reconcile(store, NODES, first);
    expect(perNode(model, 'a')).toEqual([2, 1, 0]);
    expect(perNode(model, 'b')).toEqual([1, 1, 1]);
  });

  it('moves pods off a node that is gone', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    const first = reconcile(store, NODES, undefined).model;
    const { model, podsRemoved, podsAdded } = reconcile(store, NODES.slice(0, 2), first);
    expect(brief(podsRemoved)).toEqual(brief(first.pods.filter((p) => p.nodeName === 'dpc-worker2')));
    expect(podsAdded).toHaveLength(1);
    expect(perNode(model)).toEqual([2, 1]);
  });

  it('reports replicas it cannot place', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 2 }));
    const { model, errors } = reconcile(store, [], undefined);
    expect(model.pods).toEqual([]);
    expect(errors).toEqual([
      'b.yaml: Deployment default/echo: spec.replicas: 2 of 2 replicas not scheduled: there are no nodes',
    ]);
  });

  it('is reproducible, and the random source only changes name suffixes', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    expect(reconcile(store, NODES, undefined)).toEqual(reconcile(store, NODES, undefined));
    const other = reconcile(store, NODES, undefined, seededRandom('x')).model;
    const base = reconcile(store, NODES, undefined).model;
    expect(other.pods.map((p) => p.ip)).toEqual(base.pods.map((p) => p.ip));
    expect(other.pods.map((p) => p.name)).not.toEqual(base.pods.map((p) => p.name));
  });

  it('never gives two pods the same name, even with a stuck random source', () => {
    const store = new ObjectStore();
    apply(store, deployment('echo', { replicas: 3 }));
    let calls = 0;
    const stuck = () => (calls++ < 10 ? 0 : Math.min(0.999, (calls % 27) / 27));
    const { model } = reconcile(store, NODES, undefined, stuck);
    expect(new Set(model.pods.map((p) => p.name)).size).toBe(3);
  });
});

describe('service allocations', () => {
  it('hands ClusterIPs out from 10.96.0.2 and keeps them stable when Services come and go', () => {
    const store = new ObjectStore();
    apply(store, service('m', 'ports: [{port: 80}]'), service('n', 'ports: [{port: 80}]'));
    const first = reconcile(store, NODES, undefined).model;
    expect(first.services.map((s) => `${s.name}=${s.clusterIP}`)).toEqual(['m=10.96.0.2', 'n=10.96.0.3']);
    apply(store, service('a', 'ports: [{port: 80}]'));
    store.delete(parseManifests(service('m', 'ports: [{port: 80}]')));
    const second = reconcile(store, NODES, first).model;
    expect(second.services.map((s) => `${s.name}=${s.clusterIP}`)).toEqual(['a=10.96.0.2', 'n=10.96.0.3']);
  });

  it('skips the reserved addresses', () => {
    const store = new ObjectStore();
    apply(store, ...Array.from({ length: 9 }, (_, i) => service(`s${i}`, 'ports: [{port: 80}]')));
    const ips = reconcile(store, NODES, undefined).model.services.map((s) => s.clusterIP);
    expect(ips).not.toContain('10.96.0.10');
    expect(ips.at(-1)).toBe('10.96.0.11');
  });

  it('honours a requested ClusterIP and refuses a taken one, naming both Services', () => {
    const store = new ObjectStore();
    apply(
      store,
      service('a', 'clusterIP: 10.96.0.2\nports: [{port: 80}]'),
      service('b', 'ports: [{port: 80}]'),
    );
    const first = reconcile(store, NODES, undefined);
    expect(first.model.services.map((s) => `${s.name}=${s.clusterIP}`)).toEqual([
      'a=10.96.0.2',
      'b=10.96.0.3',
    ]);
    apply(store, service('c', 'clusterIP: 10.96.0.3\nports: [{port: 80}]'));
    const second = reconcile(store, NODES, first.model);
    expect(second.errors).toEqual([
      'b.yaml: Service default/c: spec.clusterIP: 10.96.0.3 is already allocated to Service default/b',
    ]);
    expect(svcOf(second.model, 'c')).toBeUndefined();
    expect(second.model.endpoints.map((e) => e.serviceName)).toEqual(['a', 'b']);
  });

  it('honours requested NodePorts and fills the rest from 30000', () => {
    const store = new ObjectStore();
    apply(
      store,
      service('a', 'type: NodePort\nports: [{name: x, port: 80, nodePort: 30000}, {name: y, port: 81}]'),
    );
    const { model } = reconcile(store, NODES, undefined);
    expect(svcOf(model, 'a')!.ports.map((p) => p.nodePort)).toEqual([30000, 30001]);
  });

  it('refuses a NodePort another Service holds, naming both, and the refused one holds nothing', () => {
    const store = new ObjectStore();
    apply(store, service('a', 'type: NodePort\nports: [{port: 80, nodePort: 30081}]'));
    const first = reconcile(store, NODES, undefined).model;
    apply(
      store,
      service('b', 'type: NodePort\nports: [{name: p, port: 80}, {name: q, port: 81, nodePort: 30081}]'),
      service('c', 'type: NodePort\nports: [{port: 80}]'),
    );
    const { model, errors } = reconcile(store, NODES, first);
    expect(errors).toEqual([
      'b.yaml: Service default/b: spec.ports[1].nodePort: 30081 is already allocated to Service default/a',
    ]);
    expect(model.services.map((s) => s.name)).toEqual(['a', 'c']);
    expect(svcOf(model, 'c')!.ports[0]!.nodePort).toBe(30000);
    expect(svcOf(model, 'c')!.clusterIP).toBe('10.96.0.3');
  });

  it('keeps dynamic NodePorts across reconciles even when an earlier-named Service arrives', () => {
    const store = new ObjectStore();
    apply(store, service('m', 'type: NodePort\nports: [{port: 80}]'));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, service('a', 'type: NodePort\nports: [{port: 80}]'));
    const { model } = reconcile(store, NODES, first);
    expect(model.services.map((s) => `${s.name}=${s.ports[0]!.nodePort}`)).toEqual(['a=30001', 'm=30000']);
  });

  it('gives LoadBalancers VIPs from the pool, honours loadBalancerIP, and leaves an impossible one pending', () => {
    const store = new ObjectStore();
    apply(
      store,
      service('a', 'type: LoadBalancer\nports: [{port: 80}]'),
      service('b', 'type: LoadBalancer\nloadBalancerIP: 172.18.255.200\nports: [{port: 80}]'),
      service('c', 'type: LoadBalancer\nloadBalancerIP: 10.1.1.1\nports: [{port: 80}]'),
    );
    const { model, errors } = reconcile(store, NODES, undefined);
    expect(model.services.map((s) => `${s.name}=${s.loadBalancerIP}`)).toEqual([
      'a=172.18.255.201',
      'b=172.18.255.200',
      'c=undefined',
    ]);
    expect(errors).toEqual([
      'b.yaml: Service default/c: spec.loadBalancerIP: 10.1.1.1 is not in the LoadBalancer pool ' +
        '172.18.255.200-172.18.255.250; the Service stays pending',
    ]);
    expect(svcOf(model, 'c')!.ports[0]!.nodePort).toBeDefined();
  });

  it('releases the VIP on LoadBalancer -> NodePort, keeping the NodePorts', () => {
    const store = new ObjectStore();
    apply(store, service('a', 'type: LoadBalancer\nports: [{port: 80}]'));
    const first = reconcile(store, NODES, undefined).model;
    apply(
      store,
      service('a', 'type: NodePort\nports: [{port: 80}]'),
      service('b', 'type: LoadBalancer\nports: [{port: 80}]'),
    );
    const { model } = reconcile(store, NODES, first);
    expect(svcOf(model, 'a')).toMatchObject({ type: 'NodePort', clusterIP: svcOf(first, 'a')!.clusterIP });
    expect(svcOf(model, 'a')!.loadBalancerIP).toBeUndefined();
    expect(svcOf(model, 'a')!.ports[0]!.nodePort).toBe(svcOf(first, 'a')!.ports[0]!.nodePort);
    expect(svcOf(model, 'b')!.loadBalancerIP).toBe(svcOf(first, 'a')!.loadBalancerIP);
  });

  it('releases NodePorts on NodePort -> ClusterIP', () => {
    const store = new ObjectStore();
    apply(store, service('a', 'type: NodePort\nports: [{port: 80}]'));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, service('a', 'ports: [{port: 80}]'), service('b', 'type: NodePort\nports: [{port: 80}]'));
    const { model } = reconcile(store, NODES, first);
    expect(svcOf(model, 'a')!.ports[0]!.nodePort).toBeUndefined();
    expect(svcOf(model, 'b')!.ports[0]!.nodePort).toBe(30000);
  });

  it('releases both on LoadBalancer -> ClusterIP and allocates afresh on the way back', () => {
    const store = new ObjectStore();
    apply(store, service('a', 'type: LoadBalancer\nports: [{port: 80}]'));
    const first = reconcile(store, NODES, undefined).model;
    apply(store, service('a', 'ports: [{port: 80}]'));
    const second = reconcile(store, NODES, first).model;
    expect(svcOf(second, 'a')).toMatchObject({
      type: 'ClusterIP',
      ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    });
    expect(svcOf(second, 'a')!.loadBalancerIP).toBeUndefined();
    apply(store, service('a', 'type: LoadBalancer\nports: [{port: 80}]'));
    const third = reconcile(store, NODES, second).model;
    expect(svcOf(third, 'a')).toMatchObject({
      loadBalancerIP: '172.18.255.200',
      ports: [{ nodePort: 30000 }],
    });
  });

  it('gives a LoadBalancer no NodePorts when allocateLoadBalancerNodePorts is false', () => {
    const store = new ObjectStore();
    apply(
      store,
      service('a', 'type: LoadBalancer\nallocateLoadBalancerNodePorts: false\nports: [{port: 80}]'),
    );
    const { model } = reconcile(store, NODES, undefined);
    expect(svcOf(model, 'a')!.ports[0]!.nodePort).toBeUndefined();
    expect(svcOf(model, 'a')!.loadBalancerIP).toBe('172.18.255.200');
  });

  it('carries traffic policy, affinity and its timeout', () => {
    const store = new ObjectStore();
    apply(
      store,
      service(
        'a',
        'type: NodePort\nexternalTrafficPolicy: Local\nsessionAffinity: ClientIP\nports: [{port: 80}]',
      ),
      service(
        'b',
        'sessionAffinity: ClientIP\nsessionAffinityConfig: {clientIP: {timeoutSeconds: 60}}\nexternalIPs: [172.18.0.100]\nports: [{port: 80}]',
      ),
    );
    const { model } = reconcile(store, NODES, undefined);
    expect(svcOf(model, 'a')).toMatchObject({
      externalTrafficPolicy: 'Local',
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 10800,
    });
    expect(svcOf(model, 'b')).toMatchObject({
      externalIPs: ['172.18.0.100'],
      sessionAffinityTimeoutSeconds: 60,
    });
  });
});

describe('endpoints', () => {
  it('resolves a named targetPort per pod, skipping pods without that port', () => {
    const store = new ObjectStore();
    apply(
      store,
      deployment('web', { app: 'web', replicas: 2, ports: '[{name: http, containerPort: 8080}]' }),
      deployment('legacy', { app: 'web', replicas: 1 }),
      service(
        'web',
        'selector: {app: web}\nports: [{name: http, port: 80, targetPort: http}, {name: raw, port: 81, targetPort: 9000}]',
      ),
    );
    const { model } = reconcile(store, NODES, undefined);
    const eps = model.endpoints.find((e) => e.serviceName === 'web')!;
    const http = eps.ports.filter((p) => p.portName === 'http');
    expect(http.map((p) => [p.port, p.endpoints.map((e) => e.podName.split('-')[0])])).toEqual([
      [8080, ['web', 'web']],
    ]);
    const raw = eps.ports.filter((p) => p.portName === 'raw');
    expect(raw.map((p) => [p.port, p.endpoints.length])).toEqual([[9000, 3]]);
  });

  it('splits a named port that resolves to different numbers on different pods', () => {
    const store = new ObjectStore();
    apply(
      store,
      deployment('v1', { app: 'web', ports: '[{name: http, containerPort: 8080}]' }),
      deployment('v2', { app: 'web', ports: '[{name: http, containerPort: 9090}]' }),
      service('web', 'selector: {app: web}\nports: [{port: 80, targetPort: http}]'),
    );
    const eps = reconcile(store, NODES, undefined).model.endpoints[0]!;
    expect(eps.ports.map((p) => [p.portName, p.port, p.endpoints.length])).toEqual([
      ['', 8080, 1],
      ['', 9090, 1],
    ]);
  });

  it('matches a named port on protocol too', () => {
    const store = new ObjectStore();
    apply(
      store,
      deployment('dns', {
        ports: '[{name: dns, containerPort: 5353, protocol: UDP}, {name: dns-tcp, containerPort: 5354}]',
      }),
      service(
        'dns',
        'selector: {app: dns}\nports: [{name: u, port: 53, protocol: UDP, targetPort: dns}, {name: t, port: 53, targetPort: dns}]',
      ),
    );
    const eps = reconcile(store, NODES, undefined).model.endpoints[0]!;
    expect(eps.ports.map((p) => [p.portName, p.protocol, p.port])).toEqual([['u', 'UDP', 5353]]);
  });

  it('defaults targetPort to port, and lists endpoints with node and pod, sorted by address', () => {
    const store = new ObjectStore();
    apply(
      store,
      deployment('web', { replicas: 3 }),
      service('web', 'selector: {app: web}\nports: [{port: 80}]'),
    );
    const { model } = reconcile(store, NODES, undefined);
    expect(model.endpoints[0]!.ports).toEqual([
      {
        portName: '',
        protocol: 'TCP',
        port: 80,
        endpoints: model.pods.map((p) => ({ ip: p.ip, nodeName: p.nodeName, podName: p.name, ready: true })),
      },
    ]);
  });

  it('gives no endpoints to a Service whose selector matches nothing, or that has none', () => {
    const store = new ObjectStore();
    store.apply(loadManifests('fixtures/workloads/no-endpoints.yaml'));
    apply(store, deployment('web'), service('bare', 'ports: [{port: 80}]'));
    const { model } = reconcile(store, NODES, undefined);
    expect(model.endpoints).toEqual([
      { namespace: 'default', serviceName: 'bare', ports: [] },
      { namespace: 'default', serviceName: 'no-endpoints', ports: [] },
    ]);
    expect(svcOf(model, 'no-endpoints')!.ports[0]!.nodePort).toBe(30099);
  });

  it("only selects pods of the Service's namespace", () => {
    const store = new ObjectStore();
    apply(
      store,
      'apiVersion: v1\nkind: Namespace\nmetadata: {name: other}\n',
      deployment('web', { namespace: 'other' }),
      service('web', 'selector: {app: web}\nports: [{port: 80}]'),
    );
    expect(reconcile(store, NODES, undefined).model.endpoints[0]!.ports).toEqual([]);
  });

  it('realises the echo fixtures as the suites expect', () => {
    const store = new ObjectStore();
    store.apply(loadManifests('fixtures/workloads/echo.yaml'));
    const { model, errors } = reconcile(store, NODES, undefined);
    expect(errors).toEqual([]);
    const summary = model.services.map((s) => {
      const eps = model.endpoints.find((e) => e.serviceName === s.name)!;
      return {
        name: s.name,
        type: s.type,
        etp: s.externalTrafficPolicy,
        ports: s.ports.map((p) => `${p.protocol}/${p.port}->${p.targetPort}:${p.nodePort ?? '-'}`),
        lb: s.loadBalancerIP ?? '-',
        endpoints: eps.ports.map((p) => `${p.portName}:${p.protocol}/${p.port}x${p.endpoints.length}`),
      };
    });
    expect(summary).toEqual([
      {
        name: 'echo-clusterip',
        type: 'ClusterIP',
        etp: 'Cluster',
        ports: ['TCP/80->http:-'],
        lb: '-',
        endpoints: ['http:TCP/8080x3'],
      },
      {
        name: 'echo-lb',
        type: 'LoadBalancer',
        etp: 'Cluster',
        ports: ['TCP/80->http:30000', 'TCP/8080->8080:30001'],
        lb: '172.18.255.200',
        endpoints: ['http:TCP/8080x3', 'alt:TCP/8080x3'],
      },
      {
        name: 'echo-local',
        type: 'NodePort',
        etp: 'Local',
        ports: ['TCP/80->http:30082'],
        lb: '-',
        endpoints: ['http:TCP/8080x3'],
      },
      {
        name: 'echo-nodeport',
        type: 'NodePort',
        etp: 'Cluster',
        ports: ['TCP/80->http:30081'],
        lb: '-',
        endpoints: ['http:TCP/8080x3'],
      },
      {
        name: 'echo-udp',
        type: 'NodePort',
        etp: 'Cluster',
        ports: ['UDP/8080->udp:30083'],
        lb: '-',
        endpoints: ['udp:UDP/8080x3'],
      },
    ]);
    expect(perNode(model)).toEqual([1, 1, 1]);
    expect(model.clusterCidr).toBe('10.244.0.0/16');
    expect(model.serviceCidr).toBe('10.96.0.0/12');
  });
});
