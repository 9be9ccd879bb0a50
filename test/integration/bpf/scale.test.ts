/**
 * Control plane at scale and at the limits: programming 10,000 services, re-syncing without
 * changes, and a NAT map too small for the model (whole services refused, reported by name).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type BpfDataplane, createBpfDataplane } from '../../../src/dataplane/bpf/index.ts';
import type { DataplaneContext } from '../../../src/dataplane/types.ts';
import { DEFAULT_FELIX_SETTINGS, type FelixSettings } from '../../../src/k8s/felix-settings.ts';
import type { ClusterModel, ServiceState } from '../../../src/k8s/model.ts';
import { type Lab, startLab } from '../lab.ts';

let lab: Lab;

function bigModel(count: number, endpointsPer = 2): ClusterModel {
  const services: ServiceState[] = [];
  const endpoints: ClusterModel['endpoints'] = [];
  for (let i = 0; i < count; i++) {
    const name = `svc-${String(i).padStart(5, '0')}`;
    services.push({
      namespace: 'scale',
      name,
      type: 'ClusterIP',
      clusterIP: `10.96.${i >> 8}.${i & 255}`,
      externalIPs: [],
      externalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
    });
    endpoints.push({
      namespace: 'scale',
      serviceName: name,
      ports: [
        {
          portName: '',
          protocol: 'TCP',
          port: 8080,
          endpoints: Array.from({ length: endpointsPer }, (_, k) => ({
            ip: `10.244.${k % 2}.${(i % 250) + 1}`,
            nodeName: lab.nodes[k % 2]!.name,
            podName: `${name}-${k}`,
            ready: true,
          })),
        },
      ],
    });
  }
  return {
    nodes: lab.nodes.map((n) => ({ name: n.name, index: n.index, ip: n.ip, podCidr: n.podCidr })),
    pods: [],
    services,
    endpoints,
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
}

let logged: string[] = [];

async function withDataplane<T>(
  settings: Partial<FelixSettings>,
  fn: (dp: BpfDataplane) => Promise<T>,
): Promise<T> {
  logged = [];
  const dp = createBpfDataplane();
  const ctx: DataplaneContext = {
    runId: lab.runId,
    nodes: lab.nodes,
    settings: { ...DEFAULT_FELIX_SETTINGS, bpfMapSizeConntrack: 4096, ...settings },
    log: (l) => logged.push(l),
  };
  await dp.install(ctx);
  try {
    return await fn(dp);
  } finally {
    await dp.uninstall();
  }
}

beforeAll(async () => {
  // Services only: the endpoints name pods on the nodes, none of which has to exist.
  lab = await startLab({ nodes: 2, pods: [] });
});

afterAll(async () => {
  await lab?.down();
});

describe('control plane at scale', () => {
  it('SCALE-001 programs 10,000 services (20,000 backends) on 2 nodes in seconds, then re-syncs as a no-op', async () => {
    await withDataplane({}, async (dp) => {
      const m = bigModel(10_000);
      const first = await dp.sync(m);
      console.log(`10,000 services, 2 nodes: first sync ${Math.round(first.durationMs)} ms`);
      expect(first.errors).toEqual([]);
      expect(first.services).toBe(10_000);
      expect(first.durationMs).toBeLessThan(30_000);
      const n0 = lab.nodes[0]!.name;
      expect((await dp.frontends(n0)).length).toBe(10_000);
      expect((await dp.backends(n0)).length).toBe(20_000);

      const again = await dp.sync(m);
      console.log(`no-change re-sync ${Math.round(again.durationMs)} ms`);
      expect(again.durationMs).toBeLessThan(first.durationMs);

      // Drop half the services: their entries go, the rest stay.
      const half = { ...m, services: m.services.slice(0, 5000), endpoints: m.endpoints.slice(0, 5000) };
      const shrink = await dp.sync(half);
      console.log(`removing 5,000 services ${Math.round(shrink.durationMs)} ms`);
      expect((await dp.frontends(n0)).length).toBe(5000);
      expect((await dp.backends(n0)).length).toBe(10_000);
    });
  });

  it('MAPFULL-001 a NAT frontend map too small: whole services are refused by name, the rest programmed whole', async () => {
    await withDataplane({ bpfMapSizeNATFrontend: 8, bpfMapSizeNATBackend: 64 }, async (dp) => {
      const m = bigModel(10);
      const r = await dp.sync(m);
      expect(r.services).toBe(8);
      // Two services refused, on each of the two nodes.
      expect(r.errors).toHaveLength(4);
      expect(r.errors[0]).toMatch(
        /^scale\/svc-00008: does not fit in cali_v4_nat_fe on node .* \(8 entries max\)/,
      );
      const n0 = lab.nodes[0]!.name;
      const fe = await dp.frontends(n0);
      const be = await dp.backends(n0);
      expect(fe).toHaveLength(8);
      for (const f of fe) {
        // Never half-programmed: every ordinal a frontend counts exists.
        const ords = be
          .filter((b) => b.key.svcId === f.value.svcId)
          .map((b) => b.key.ordinal)
          .sort();
        expect(ords).toEqual([...Array(f.value.count).keys()]);
      }
      expect(fe.some((f) => f.key.addr === '10.96.0.8' || f.key.addr === '10.96.0.9')).toBe(false);
      // Map usage above 80 % is reported, per node and map.
      expect(
        logged.filter((l) => /^bpf: cali_v4_nat_fe on node .* is 100% full \(8\/8\)$/.test(l)),
      ).toHaveLength(2);
      expect(logged.some((l) => l.includes('cali_v4_nat_be') && l.includes('% full'))).toBe(false);

      // A newcomer that sorts first never pushes out a programmed service.
      const newcomer = bigModel(11);
      const first = newcomer.services.at(-1)!;
      first.name = 'aaa-new';
      newcomer.endpoints.at(-1)!.serviceName = 'aaa-new';
      const before = dp.programmedServices(n0);
      const r2 = await dp.sync(newcomer);
      expect(r2.errors.some((e) => e.startsWith('scale/aaa-new: does not fit in cali_v4_nat_fe'))).toBe(true);
      expect(dp.programmedServices(n0)).toEqual(before);
    });
  });

  it('MAPFULL-002 a NAT backend map too small refuses the service that does not fit', async () => {
    await withDataplane({ bpfMapSizeNATBackend: 5 }, async (dp) => {
      const r = await dp.sync(bigModel(3));
      expect(r.services).toBe(2);
      expect(r.errors).toEqual([
        expect.stringMatching(
          /^scale\/svc-00002: does not fit in cali_v4_nat_be on node .* \(5 entries max\)/,
        ),
        expect.stringMatching(/^scale\/svc-00002: does not fit in cali_v4_nat_be on node/),
      ]);
    });
  });
});
