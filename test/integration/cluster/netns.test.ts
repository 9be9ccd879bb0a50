import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachCluster, startCluster } from '../../../src/cluster/providers.ts';
import type { Cluster, PodInfo } from '../../../src/cluster/types.ts';
import { leftoversOf } from './leftovers.ts';

const ECHO = new URL('../../../fixtures/workloads/echo.yaml', import.meta.url).pathname;

const PAIR = `
apiVersion: apps/v1
kind: Deployment
metadata: {name: pair}
spec:
  replicas: 3
  selector: {matchLabels: {app: pair}}
  template:
    metadata: {labels: {app: pair}}
    spec: {containers: [{name: c, image: nginx:1.21}]}
`;

let c: Cluster;

beforeAll(async () => {
  c = await startCluster('netns', { nodes: 3, dataplane: 'iptables' });
  await c.apply(ECHO);
  await c.apply(PAIR);
});

afterAll(async () => {
  const runId = c?.runId;
  await c?.down();
  if (runId) expect(await leftoversOf(runId)).toEqual([]);
});

function podOn(app: string, node: string): PodInfo {
  const p = c.topology().pods.find((x) => x.labels.app === app && x.nodeName === node);
  if (!p) throw new Error(`no ${app} pod on ${node}`);
  return p;
}

async function clientIpSeen(from: string, host: string, port = 8080): Promise<string> {
  const r = await c.probe(from, { kind: 'http', host, port, path: '/clientip' });
  if (!r.ok) throw new Error(`${from} -> ${host}:${port}: ${r.error} ${r.errorMessage}`);
  return r.body!.replace(/:\d+$/, '');
}

describe('netns cluster', () => {
  it('spreads replicas over the nodes and wires each pod into its node', () => {
    const nodes = c.topology().nodes.map((n) => n.name);
    for (const app of ['echo', 'pair']) {
      expect(
        new Set(
          c
            .topology()
            .pods.filter((p) => p.labels.app === app)
            .map((p) => p.nodeName),
        ),
      ).toEqual(new Set(nodes));
    }
  });

  it('pod to pod on the same node: the peer sees the pod address', async () => {
    const a = podOn('echo', 'dpc-worker');
    const b = podOn('pair', 'dpc-worker');
    expect(await clientIpSeen(`${a.namespace}/${a.name}`, b.ip)).toBe(a.ip);
  });

  it('pod to pod across nodes, natively routed: the peer sees the pod address', async () => {
    const a = podOn('echo', 'dpc-control-plane');
    const b = podOn('echo', 'dpc-worker2');
    expect(await clientIpSeen(`${a.namespace}/${a.name}`, b.ip)).toBe(a.ip);
  });

  it('node to pod on another node', async () => {
    const b = podOn('echo', 'dpc-control-plane');
    expect(await clientIpSeen('dpc-worker', b.ip)).toBe('172.18.0.3');
  });

  it('external client to a NodePort and to a LoadBalancer VIP (iptables)', async () => {
    const r = await c.probe('client', { kind: 'http', host: '172.18.0.4', port: 30081, path: '/hostname' });
    expect(r.ok, r.errorMessage).toBe(true);
    const vip = c.model().services.find((s) => s.name === 'echo-lb')!.loadBalancerIP!;
    expect(vip).toMatch(/^172\.18\.255\.2\d\d$/);
    const v = await c.probe('client', { kind: 'http', host: vip, port: 80, path: '/hostname' });
    expect(v.ok, v.errorMessage).toBe(true);
    expect(v.body).toMatch(/^echo-/);
  });

  it('external clients cannot reach pods directly: nothing routes the pod network outside the cluster', async () => {
    const b = podOn('echo', 'dpc-worker');
    const r = await c.probe('client', { kind: 'tcp', host: b.ip, port: 8080, timeoutMs: 500 });
    expect(r.ok).toBe(false);
  });

  it('scales a Deployment down and up, keeping the pods that stay', async () => {
    const before = c
      .topology()
      .pods.filter((p) => p.labels.app === 'pair')
      .map((p) => p.name);
    await c.apply(PAIR.replace('replicas: 3', 'replicas: 1'));
    const one = c
      .topology()
      .pods.filter((p) => p.labels.app === 'pair')
      .map((p) => p.name);
    expect(one).toHaveLength(1);
    expect(before).toContain(one[0]);
    await c.apply(PAIR);
    const three = c.topology().pods.filter((p) => p.labels.app === 'pair');
    expect(three.map((p) => p.name)).toContain(one[0]);
    expect(new Set(three.map((p) => p.nodeName)).size).toBe(3);
  });

  it('refuses a malformed batch in one line and applies none of it', async () => {
    const services = c.model().services.length;
    const bad = `apiVersion: v1
kind: Service
metadata: {name: fine}
spec: {type: NodePort, selector: {app: echo}, ports: [{port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: broken}
spec: {ports: [{port: eighty}]}
`;
    await expect(c.apply(bad)).rejects.toThrow(
      '<text>: Service default/broken: spec.ports[0].port: must be an integer 1-65535, got "eighty"',
    );
    expect(c.model().services).toHaveLength(services);
  });

  it('refuses a Service whose nodePort is taken, naming both, and applies nothing', async () => {
    const services = c.model().services.length;
    const clash = `apiVersion: v1
kind: Service
metadata: {name: clash}
spec: {type: NodePort, selector: {app: echo}, ports: [{port: 80, nodePort: 30081}]}
`;
    await expect(c.apply(clash)).rejects.toThrow(
      /clash.*30081 is already allocated to Service default\/echo-nodeport/,
    );
    expect(c.model().services).toHaveLength(services);
    expect(c.model().services.some((s) => s.name === 'clash')).toBe(false);
  });

  it('two handles on one run take turns: each sees what the other applied', async () => {
    const other = await attachCluster(c.runId);
    await other.apply(PAIR.replace('replicas: 3', 'replicas: 2').replace(/pair/g, 'other'));
    await c.apply(PAIR.replace('replicas: 3', 'replicas: 1').replace(/pair/g, 'third'));
    const apps = c.topology().pods.map((p) => p.labels.app);
    expect(apps.filter((a) => a === 'other')).toHaveLength(2);
    expect(apps.filter((a) => a === 'third')).toHaveLength(1);
    await other.delete(PAIR.replace(/pair/g, 'other'));
    await c.delete(PAIR.replace(/pair/g, 'third'));
    expect(c.topology().pods.some((p) => p.labels.app === 'other' || p.labels.app === 'third')).toBe(false);
  });

  it('a second process attaches to the same run and sees the same cluster', async () => {
    const other = await attachCluster(c.runId);
    expect(other.topology().pods.length).toBe(c.topology().pods.length);
    const r = await other.probe('client', {
      kind: 'http',
      host: '172.18.0.2',
      port: 30081,
      path: '/hostname',
    });
    expect(r.ok).toBe(true);
  });
});
