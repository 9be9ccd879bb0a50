/**
 * 10,000 Services on one node namespace: the batch restore must finish in seconds, not the
 * minutes iptables-nft takes when it is driven rule by rule or left to its slow --noflush path.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { NodeInfo } from '../../../src/cluster/types.ts';
import { servicePortChains } from '../../../src/dataplane/iptables/chain-names.ts';
import {
  createIptablesDataplane,
  type IptablesDataplane,
  listKubeChains,
} from '../../../src/dataplane/iptables/index.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/dataplane/types.ts';
import type { ClusterModel } from '../../../src/k8s/model.ts';
import { run } from '../../../src/sys/exec.ts';

const SERVICES = 10_000;
// Seconds on an idle 2-core VM; the bound leaves room for a machine busy with other tests.
const BOUND_MS = 45_000;

function bigModel(node: string, endpointOffset = 0): ClusterModel {
  const m: ClusterModel = {
    nodes: [{ name: node, index: 0, ip: '172.18.0.2', podCidr: '10.244.0.0/24' }],
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
            { ip: `10.244.${lo}`, nodeName: node, podName: `a${i}`, ready: true },
            { ip: `10.245.${lo}`, nodeName: 'elsewhere', podName: `b${i}`, ready: true },
          ],
        },
      ],
    });
  }
  return m;
}

describe(`iptables dataplane with ${SERVICES} Services`, () => {
  const netns = `dpc-t${randomBytes(3).toString('hex')}-scale`;
  const node: NodeInfo = {
    name: `${netns}-node`,
    index: 0,
    ip: '172.18.0.2',
    podCidr: '10.244.0.0/24',
    netns,
    iface: 'eth0',
  };
  let dp: IptablesDataplane | undefined;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    await run(['ip', 'netns', 'add', netns]);
    dp = createIptablesDataplane();
    await dp.install({
      runId: netns,
      nodes: [node],
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      bpffsDir: `/sys/fs/bpf/${netns}`,
      cgroupDir: `/sys/fs/cgroup/unified/${netns}`,
      log: () => {},
    });
  });

  afterAll(async () => {
    console.log(`iptables scale timings (ms): ${JSON.stringify(timings)}`);
    try {
      await dp?.uninstall();
    } finally {
      if (existsSync(`/run/netns/${netns}`)) await run(['ip', 'netns', 'del', netns]);
    }
  });

  it('programs them in one batch within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const report = await (dp as IptablesDataplane).sync(bigModel(node.name));
    timings.first = Math.round(report.durationMs);
    expect(report.errors).toEqual([]);
    expect(report.services).toBe(SERVICES);
    expect(report.durationMs).toBeLessThan(BOUND_MS);
    const chains = await listKubeChains(netns);
    const nat = chains.filter((c) => c.table === 'nat').map((c) => c.chain);
    // 4 fixed chains, then per Service one SVC, one EXT and two SEP chains.
    expect(nat.length).toBe(4 + SERVICES * 4);
    expect(nat).toContain(servicePortChains('scale/s9999', 'TCP').external);
  });

  it('re-syncs a one-endpoint change within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const report = await (dp as IptablesDataplane).sync(bigModel(node.name, 1));
    timings.change = Math.round(report.durationMs);
    expect(report.durationMs).toBeLessThan(BOUND_MS);
    const save = (await run(['iptables-save', '-t', 'nat'], { netns })).stdout;
    expect(save).toContain('--to-destination 10.244.0.0:8081');
    expect(save).not.toContain('--to-destination 10.244.0.0:8080');
  });

  it('removes all of it within the bound', { timeout: 4 * BOUND_MS }, async () => {
    const started = performance.now();
    await (dp as IptablesDataplane).uninstall();
    timings.uninstall = Math.round(performance.now() - started);
    expect(timings.uninstall).toBeLessThan(BOUND_MS);
    expect(await listKubeChains(netns)).toEqual([]);
  });
});
