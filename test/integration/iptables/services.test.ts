/**
 * The iptables dataplane programming a real node namespace, checked with real traffic: an
 * external client reaches a pod through a NodePort and a ClusterIP, with kube-proxy's source
 * NAT where kube-proxy does it; a Service without endpoints is refused at once; uninstall
 * leaves nothing behind.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createIptablesDataplane,
  type IptablesDataplane,
  listKubeChains,
} from '../../../src/dataplane/iptables/index.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/dataplane/types.ts';
import type { ServiceState } from '../../../src/k8s/model.ts';
import { run } from '../../../src/sys/exec.ts';
import { createTinyCluster, fetchFrom, type TinyCluster } from './topology.ts';

function nodePortService(
  name: string,
  clusterIP: string,
  nodePort: number,
  etp: 'Cluster' | 'Local',
): ServiceState {
  return {
    namespace: 'default',
    name,
    type: 'NodePort',
    clusterIP,
    externalIPs: [],
    externalTrafficPolicy: etp,
    sessionAffinity: 'None',
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort }],
  };
}

const SERVICES = [
  nodePortService('web-cluster', '10.96.0.10', 30080, 'Cluster'),
  nodePortService('web-local', '10.96.0.11', 30081, 'Local'),
  nodePortService('empty', '10.96.0.12', 30082, 'Cluster'),
];

/** iptables-save without the lines that change by themselves (timestamps, counters). */
async function saved(netns: string): Promise<string> {
  const r = await run(['iptables-save'], { netns });
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]$/, ''))
    .join('\n');
}

describe('iptables dataplane on a node namespace', () => {
  let c: TinyCluster | undefined;
  let dp: IptablesDataplane | undefined;
  const logged: string[] = [];

  const cluster = (): TinyCluster => c as TinyCluster;
  const dataplane = (): IptablesDataplane => dp as IptablesDataplane;
  const fromClient = (host: string, port: number, timeoutS?: number) =>
    fetchFrom(cluster().client.netns, host, port, timeoutS);

  beforeAll(async () => {
    c = await createTinyCluster();
    dp = createIptablesDataplane();
    await dp.install({
      runId: c.prefix,
      nodes: [c.node],
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      bpffsDir: `/sys/fs/bpf/${c.prefix}`,
      cgroupDir: `/sys/fs/cgroup/unified/${c.prefix}`,
      log: (line) => logged.push(line),
    });
    const report = await dp.sync(c.model(SERVICES, ['web-cluster', 'web-local']));
    expect(report.errors).toEqual([]);
    expect(report.services).toBe(3);
  });

  afterAll(async () => {
    try {
      await dp?.uninstall();
    } finally {
      await c?.destroy();
    }
  });

  it('records which iptables backend the node uses', async () => {
    const version = (await run(['iptables', '--version'], { netns: cluster().node.netns })).stdout;
    const backend = dataplane().backends().get(cluster().node.name);
    expect(backend?.kind).toBe(version.includes('nf_tables') ? 'nf_tables' : 'legacy');
    expect(logged.some((l) => l.includes(cluster().node.name) && l.includes(backend?.kind ?? '?'))).toBe(
      true,
    );
  });

  it('NodePort, externalTrafficPolicy Cluster: reaches the pod, which sees the node address', async () => {
    const r = await fromClient(cluster().node.ip, 30080);
    expect(r.code, `curl to ${cluster().node.ip}:30080`).toBe(0);
    expect(r.body).toBe(cluster().node.ip);
  });

  it('NodePort, externalTrafficPolicy Local: the pod sees the client address', async () => {
    const r = await fromClient(cluster().node.ip, 30081);
    expect(r.code, `curl to ${cluster().node.ip}:30081`).toBe(0);
    expect(r.body).toBe(cluster().client.ip);
  });

  it('ClusterIP reached from outside the pod network is masqueraded', async () => {
    const r = await fromClient('10.96.0.11', 80);
    expect(r.code, 'curl to 10.96.0.11:80').toBe(0);
    expect(r.body).toBe(cluster().node.ip);
  });

  it('a Service without endpoints is refused at once, on its NodePort and its cluster IP', async () => {
    for (const [host, port] of [
      [cluster().node.ip, 30082],
      ['10.96.0.12', 80],
    ] as const) {
      const r = await fromClient(host, port, 5);
      expect(r.code, `curl to ${host}:${port} should be refused (7), body ${r.body}`).toBe(7);
      expect(r.ms).toBeLessThan(1500);
    }
    // The refusals came from the REJECT rules, not from a closed port on the node.
    const counted = (
      await run(['iptables-save', '-c', '-t', 'filter'], { netns: cluster().node.netns })
    ).stdout
      .split('\n')
      .filter((l) => l.includes('default/empty has no endpoints'));
    expect(counted).toHaveLength(2);
    for (const line of counted) expect(line, line).toMatch(/^\[[1-9]\d*:\d+\]/);
  });

  it('reads back the programmed frontends, refusing ones included', async () => {
    const fe = await dataplane().listFrontends();
    const keys = fe.map((f) => `${f.kind} ${f.ip ?? '*'}:${f.port}/${f.protocol}`).sort();
    expect(keys).toEqual(
      [
        'ip 10.96.0.10:80/TCP',
        'ip 10.96.0.11:80/TCP',
        'ip 10.96.0.12:80/TCP',
        'nodeport *:30080/TCP',
        'nodeport *:30081/TCP',
        'nodeport *:30082/TCP',
      ].sort(),
    );
    expect(new Set(fe.map((f) => f.node))).toEqual(new Set([cluster().node.name]));
  });

  it('a sync without changes leaves the rules exactly as they were', async () => {
    const before = await saved(cluster().node.netns);
    await dataplane().sync(cluster().model(SERVICES, ['web-cluster', 'web-local']));
    expect(await saved(cluster().node.netns)).toBe(before);
  });

  it('externalTrafficPolicy Local with the only endpoint elsewhere: dropped, not refused', async () => {
    await dataplane().sync(cluster().model(SERVICES, ['web-cluster', 'web-local'], 'some-other-node'));
    try {
      const r = await fromClient(cluster().node.ip, 30081, 2);
      expect(r.code, `curl to ${cluster().node.ip}:30081 should time out (28), body ${r.body}`).toBe(28);
    } finally {
      await dataplane().sync(cluster().model(SERVICES, ['web-cluster', 'web-local']));
    }
    expect((await fromClient(cluster().node.ip, 30081)).body).toBe(cluster().client.ip);
  });

  it('a Service removed from the model loses its chains and stops answering', async () => {
    const kept = SERVICES.filter((s) => s.name !== 'web-cluster');
    await dataplane().sync(cluster().model(kept, ['web-local']));
    try {
      const text = await saved(cluster().node.netns);
      expect(text).not.toContain('default/web-cluster');
      const r = await fromClient(cluster().node.ip, 30080, 2);
      expect(r.code).not.toBe(0);
    } finally {
      await dataplane().sync(cluster().model(SERVICES, ['web-cluster', 'web-local']));
    }
    expect((await fromClient(cluster().node.ip, 30080)).code).toBe(0);
  });

  it('uninstall removes every KUBE-* chain and every jump to one', async () => {
    expect((await listKubeChains(cluster().node.netns)).length).toBeGreaterThan(0);
    await dataplane().uninstall();
    expect(await listKubeChains(cluster().node.netns)).toEqual([]);
    expect(await saved(cluster().node.netns)).not.toContain('KUBE-');
    const r = await fromClient(cluster().node.ip, 30080, 2);
    expect(r.code).not.toBe(0);
  });
});
