import { describe, expect, it } from 'vitest';
import {
  decodeBackendKey,
  decodeBackendValue,
  decodeFrontendKey,
  decodeFrontendValue,
  decodeRouteKey,
  decodeRouteValue,
} from '../../../src/dataplane/bpf/encoding.ts';
import { FE_FLAG } from '../../../src/dataplane/bpf/layout.ts';
import { type NodePlan, type PlanNode, planNode, ServiceIds } from '../../../src/dataplane/bpf/plan.ts';
import type { ClusterModel, Endpoint, ServiceState } from '../../../src/k8s/model.ts';

const N0: PlanNode = {
  name: 'n0',
  ip: '172.18.0.2',
  podCidr: '10.244.0.0/24',
  ifindexes: new Map([['cali00000000001', 7]]),
};
const N1: PlanNode = { name: 'n1', ip: '172.18.0.3', podCidr: '10.244.1.0/24', ifindexes: new Map() };
const BIG = { natFrontend: 1000, natBackend: 1000, route: 1000 };

function ep(ip: string, nodeName: string, ready = true): Endpoint {
  return { ip, nodeName, podName: `pod-${ip}`, ready };
}

function service(name: string, over: Partial<ServiceState> = {}): ServiceState {
  return {
    namespace: 'default',
    name,
    type: 'ClusterIP',
    clusterIP: '10.96.0.10',
    externalIPs: [],
    externalTrafficPolicy: 'Cluster',
    sessionAffinity: 'None',
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    ...over,
  };
}

function model(services: ServiceState[], eps: Record<string, Endpoint[]>): ClusterModel {
  return {
    nodes: [
      { name: 'n0', index: 0, ip: N0.ip, podCidr: N0.podCidr },
      { name: 'n1', index: 1, ip: N1.ip, podCidr: N1.podCidr },
    ],
    pods: [
      {
        namespace: 'default',
        name: 'a',
        labels: {},
        nodeName: 'n0',
        ip: '10.244.0.5',
        ports: [],
        hostIface: 'cali00000000001',
      },
      {
        namespace: 'default',
        name: 'b',
        labels: {},
        nodeName: 'n0',
        ip: '10.244.0.6',
        ports: [],
        hostIface: 'cali0000000000f',
      },
    ],
    services,
    endpoints: Object.entries(eps).map(([serviceName, endpoints]) => ({
      namespace: 'default',
      serviceName,
      ports: [{ portName: '', protocol: 'TCP' as const, port: 8080, endpoints }],
    })),
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
}

function frontends(plan: NodePlan) {
  return [...plan.frontends.values()].map((e) => ({
    ...decodeFrontendKey(e.key),
    ...decodeFrontendValue(e.value),
  }));
}

function backends(plan: NodePlan) {
  return [...plan.backends.values()].map((e) => ({
    ...decodeBackendKey(e.key),
    ...decodeBackendValue(e.value),
  }));
}

describe('planNode', () => {
  it('gives a ClusterIP service one frontend and its ready backends, sorted, with their node IPs', () => {
    const m = model([service('web')], {
      web: [ep('10.244.1.9', 'n1'), ep('10.244.0.5', 'n0'), ep('10.244.0.7', 'n0', false)],
    });
    const p = planNode(m, N0, new ServiceIds(), BIG);
    expect(frontends(p)).toEqual([
      { addr: '10.96.0.10', port: 80, proto: 'TCP', svcId: 1, count: 2, flags: 0, affinityS: 0 },
    ]);
    expect(backends(p)).toEqual([
      { svcId: 1, ordinal: 0, addr: '10.244.0.5', port: 8080, nodeIp: N0.ip },
      { svcId: 1, ordinal: 1, addr: '10.244.1.9', port: 8080, nodeIp: N1.ip },
    ]);
    expect(p.services).toEqual(['default/web']);
    expect(p.errors).toEqual([]);
  });

  it('gives every node the same ordinals for a Cluster service (the tunnel carries only the ordinal)', () => {
    const m = model(
      [
        service('web', {
          type: 'NodePort',
          ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
        }),
      ],
      {
        web: [ep('10.244.1.9', 'n1'), ep('10.244.0.5', 'n0')],
      },
    );
    const ids = new ServiceIds();
    expect(backends(planNode(m, N0, ids, BIG))).toEqual(backends(planNode(m, N1, ids, BIG)));
    expect(frontends(planNode(m, N0, ids, BIG))).toContainEqual(
      expect.objectContaining({ addr: '0.0.0.0', port: 30080, count: 2, flags: 0 }),
    );
  });

  it("eTP Local: external frontends count only this node's endpoints; the ClusterIP keeps all", () => {
    const svc = service('loc', {
      type: 'LoadBalancer',
      loadBalancerIP: '172.18.255.200',
      externalIPs: ['172.18.255.201'],
      externalTrafficPolicy: 'Local',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30081 }],
    });
    const m = model([svc], { loc: [ep('10.244.1.9', 'n1')] });
    const ids = new ServiceIds();
    const on0 = frontends(planNode(m, N0, ids, BIG));
    const on1 = frontends(planNode(m, N1, ids, BIG));
    const ext = (f: ReturnType<typeof frontends>) => f.filter((x) => x.addr !== '10.96.0.10');
    expect(ext(on0)).toHaveLength(3);
    for (const f of ext(on0)) expect(f).toMatchObject({ count: 0, flags: FE_FLAG.local });
    for (const f of ext(on1)) expect(f).toMatchObject({ count: 1, flags: FE_FLAG.local });
    expect(on0.find((x) => x.addr === '10.96.0.10')).toMatchObject({ count: 1, flags: 0 });
    expect(planNode(m, N0, ids, BIG).localCidrs).toEqual([
      '10.96.0.0/12',
      '172.18.255.200/32',
      '172.18.255.201/32',
    ]);
  });

  it('a service with no endpoints at all gets count 0 without the Local flag (refuse, not drop)', () => {
    const svc = service('none', {
      type: 'NodePort',
      externalTrafficPolicy: 'Local',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30082 }],
    });
    for (const f of frontends(planNode(model([svc], { none: [] }), N0, new ServiceIds(), BIG))) {
      expect(f).toMatchObject({ count: 0, flags: 0 });
    }
  });

  it('ClientIP affinity sets the affinity flag and the Service’s timeout; a ClusterIP service has no NodePort frontend', () => {
    const svc = service('aff', {
      sessionAffinity: 'ClientIP',
      sessionAffinityTimeoutSeconds: 7,
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30083 }],
    });
    const f = frontends(planNode(model([svc], { aff: [ep('10.244.0.5', 'n0')] }), N0, new ServiceIds(), BIG));
    expect(f).toEqual([
      expect.objectContaining({ addr: '10.96.0.10', flags: FE_FLAG.affinity, affinityS: 7 }),
    ]);
  });

  it('routes: local pods with their ifindex, other nodes and their pod CIDRs; pods without a veth yet are skipped', () => {
    const p = planNode(model([], {}), N0, new ServiceIds(), BIG);
    const routes = [...p.routes.values()].map((e) => ({
      ...decodeRouteKey(e.key),
      ...decodeRouteValue(e.value),
    }));
    expect(routes).toEqual(
      expect.arrayContaining([
        { cidr: '172.18.0.2/32', type: 'localHost', ifindex: 0, nodeIp: N0.ip },
        { cidr: '172.18.0.3/32', type: 'remoteHost', ifindex: 0, nodeIp: N1.ip },
        { cidr: '10.244.1.0/24', type: 'remoteWorkload', ifindex: 0, nodeIp: N1.ip },
        { cidr: '10.244.0.5/32', type: 'localWorkload', ifindex: 7, nodeIp: N0.ip },
      ]),
    );
    expect(routes).toHaveLength(4);
  });

  it('admits whole services only, and refuses by name the ones that do not fit', () => {
    const svcs = ['a', 'b', 'c'].map((n, i) => service(n, { clusterIP: `10.96.0.${i + 1}` }));
    const m = model(svcs, {
      a: [ep('10.244.0.5', 'n0')],
      b: [ep('10.244.0.5', 'n0'), ep('10.244.0.6', 'n0')],
      c: [ep('10.244.0.5', 'n0')],
    });
    const p = planNode(m, N0, new ServiceIds(), { natFrontend: 1000, natBackend: 2, route: 1000 });
    expect(p.services).toEqual(['default/a', 'default/c']);
    expect(p.errors).toEqual([
      'default/b: does not fit in cali_v4_nat_be on node n0 (2 entries max); service not programmed',
    ]);
    expect(backends(p)).toHaveLength(2);
    expect(frontends(p).map((f) => f.addr)).toEqual(['10.96.0.1', '10.96.0.3']);
  });

  it('keeps services already programmed ahead of newcomers when a map is full', () => {
    const svcs = ['b', 'a'].map((n, i) => service(n, { clusterIP: `10.96.0.${i + 1}` }));
    const m = model(svcs, { a: [], b: [] });
    const p = planNode(
      m,
      N0,
      new ServiceIds(),
      { natFrontend: 1, natBackend: 10, route: 10 },
      new Set(['default/b']),
    );
    expect(p.services).toEqual(['default/b']);
    expect(p.errors[0]).toMatch(/^default\/a: does not fit in cali_v4_nat_fe/);
  });

  it('refuses a service whose frontend another service already holds', () => {
    const m = model([service('a'), service('b')], { a: [], b: [] });
    const p = planNode(m, N0, new ServiceIds(), BIG);
    expect(p.services).toEqual(['default/a']);
    expect(p.errors).toEqual([
      'default/b: a frontend is already used by default/a; service not programmed on n0',
    ]);
  });
});

describe('ServiceIds', () => {
  it('keeps ids stable across plans and forgets sets that went away', () => {
    const ids = new ServiceIds();
    expect(ids.idFor('x')).toBe(1);
    expect(ids.idFor('y')).toBe(2);
    ids.sweep();
    expect(ids.idFor('y')).toBe(2);
    ids.sweep();
    expect(ids.size).toBe(1);
    expect(ids.idFor('x')).toBe(3);
  });

  it('adopts ids found programmed', () => {
    const ids = new ServiceIds();
    ids.adopt('z', 40);
    expect(ids.idFor('z')).toBe(40);
    expect(ids.idFor('new')).toBe(41);
  });
});
