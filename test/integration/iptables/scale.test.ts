/**
 * 10,000 Services on one node: the batch restore must finish in seconds, not the
 * minutes iptables-nft takes when it is driven rule by rule or left to its slow --noflush path.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { servicePortChains } from '../../../src/dataplane/iptables/chain-names.ts';
import {
  createIptablesDataplane,
  type IptablesDataplane,
  listKubeChains,
} from '../../../src/dataplane/iptables/index.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import type { ClusterModel } from '../../../src/k8s/model.ts';
import type { NodePlace } from '../../../src/node/place.ts';
import { type Lab, startLab } from '../lab.ts';

const SERVICES = 10_000;
// Seconds on an idle 2-core VM; the bound leaves room for a machine busy with other tests.
const BOUND_MS = 45_000;

function bigModel(node: NodePlace, endpointOffset = 0): ClusterModel {
  const m: ClusterModel = {
    nodes: [{ name: node.name, index: node.index, ip: node.ip, podCidr: node.podCidr }],
    pods: [],
    services: [],
    endpoints: [],
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
  for (let i = 0; i < SERVICES; i++) {
    const lo = `${(i >> 8) & 255}.${i & 255}`;
    m.services.push({
      namespace: 'scale',
      name: `s${i}`,
      type: 'NodePort',
      clusterIP: `10.96.${lo}`,
      externalIPs: [],
      externalTrafficPolicy: 'Cluster',
      sessionAffinity: 'None',
      ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30000 + (i % 2700) }],
    });
    m.endpoints.push({
      namespace: 'scale',
      serviceName: `s${i}`,
      ports: [
        {
          portName: '',
          protocol: 'TCP',
          port: 8080 + (i === 0 ? endpointOffset : 0),
          endpoints: [
            { ip: `10.244.${lo}`, nodeName: node.name, podName: `a${i}`, ready: true },
            { ip: `10.245.${lo}`, nodeName: 'elsewhere', podName: `b${i}`, ready: true },
          ],
        },
      ],
    });
  }
  return m;
}

describe(`iptables dataplane with ${SERVICES} Services`, () => {
  let lab: Lab | undefined;
  let dp: IptablesDataplane | undefined;
  const timings: Record<string, number> = {};
  const node = (): NodePlace => (lab as Lab).nodes[0]!;

  beforeAll(async () => {
    lab = await startLab({ nodes: 1, clients: 1, pods: [] });
    dp = createIptablesDataplane();
    await dp.install({
      runId: lab.runId,
      nodes: lab.nodes,
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      log: () => {},
    });
  });

  afterAll(async () => {
    console.log(`iptables scale timings (ms): ${JSON.stringify(timings)}`);
    try {
      await dp?.uninstall();
    } finally {
      await lab?.down();
    }
  });

  it('programs them in one batch within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const report = await (dp as IptablesDataplane).sync(bigModel(node()));
    timings.first = Math.round(report.durationMs);
    expect(report.errors).toEqual([]);
    expect(report.services).toBe(SERVICES);
    expect(report.durationMs).toBeLessThan(BOUND_MS);
    const chains = await listKubeChains(node());
    const nat = chains.filter((c) => c.table === 'nat').map((c) => c.chain);
    // 4 fixed chains, then per Service one SVC, one EXT and two SEP chains.
    expect(nat.length).toBe(4 + SERVICES * 4);
    expect(nat).toContain(servicePortChains('scale/s9999', 'TCP').external);
  });

  it('re-syncs a one-endpoint change within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const report = await (dp as IptablesDataplane).sync(bigModel(node(), 1));
    timings.change = Math.round(report.durationMs);
    expect(report.durationMs).toBeLessThan(BOUND_MS);
    const save = (await node().exec(['iptables-save', '-t', 'nat'])).stdout;
    expect(save).toContain('--to-destination 10.244.0.0:8081');
    expect(save).not.toContain('--to-destination 10.244.0.0:8080');
  });

  it('removes all of it within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const started = performance.now();
    await (dp as IptablesDataplane).uninstall();
    timings.uninstall = Math.round(performance.now() - started);
    expect(timings.uninstall).toBeLessThan(BOUND_MS);
    expect(await listKubeChains(node())).toEqual([]);
  });
});
