/**
 * The iptables dataplane programming a real node, checked with real traffic: an
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
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';
import type { ClusterModel, ServiceState } from '../../../src/k8s/model.ts';
import type { Place } from '../../../src/node/place.ts';
import type { AgentClient } from '../../../src/workload/agent-client.ts';
import type { ProbeResult } from '../../../src/workload/types.ts';
import { type Lab, startLab } from '../lab.ts';

const POD_PORT = 8080;

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
async function saved(node: Place): Promise<string> {
  const r = await node.exec(['iptables-save']);
  return r.stdout
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => l.replace(/\[\d+:\d+\]$/, ''))
    .join('\n');
}

/** The address the echo server saw the request come from (`/clientip` answers `ip:port`). */
function peerIp(r: ProbeResult): string | undefined {
  return r.body?.replace(/:\d+$/, '');
}

describe('iptables dataplane on a node namespace', () => {
  let lab: Lab | undefined;
  let client: AgentClient | undefined;
  let dp: IptablesDataplane | undefined;
  const logged: string[] = [];

  const theLab = (): Lab => lab as Lab;
  const node = () => theLab().nodes[0]!;
  const clientIp = () => theLab().topology.clients[0]!.ip;
  const pod = () => theLab().pods[0]!.info;
  const dataplane = (): IptablesDataplane => dp as IptablesDataplane;
  const fromClient = (host: string, port: number, timeoutS = 3): Promise<ProbeResult> =>
    (client as AgentClient).probe({
      kind: 'http',
      host,
      port,
      path: '/clientip',
      timeoutMs: timeoutS * 1000,
    });

  /** The model of the lab with the given Services, the pod as the endpoint of those named. */
  function model(
    services: ServiceState[],
    withEndpoints: string[],
    endpointNode = node().name,
  ): ClusterModel {
    return {
      nodes: [{ name: node().name, index: node().index, ip: node().ip, podCidr: node().podCidr }],
      pods: [],
      services,
      endpoints: withEndpoints.map((name) => ({
        namespace: 'default',
        serviceName: name,
        ports: [
          {
            portName: '',
            protocol: 'TCP' as const,
            port: POD_PORT,
            endpoints: [{ ip: pod().ip, nodeName: endpointNode, podName: pod().name, ready: true }],
          },
        ],
      })),
      clusterCidr: theLab().topology.clusterCidr,
      serviceCidr: theLab().topology.serviceCidr,
    };
  }

  beforeAll(async () => {
    lab = await startLab({ nodes: 1, clients: 1, pods: [{ node: 0, name: 'echo-0' }] });
    // The service range is routed to the node, as a real network would to reach ClusterIPs from outside.
    await lab.clients[0]!.exec(['ip', 'route', 'add', lab.topology.serviceCidr, 'via', node().ip]);
    await lab.agent(lab.pods[0]!.place, [POD_PORT]);
    client = await lab.agent(lab.clients[0]!, []);
    dp = createIptablesDataplane();
    await dp.install({
      runId: lab.runId,
      nodes: lab.nodes,
      settings: { ...DEFAULT_FELIX_SETTINGS, bpfEnabled: false },
      log: (line) => logged.push(line),
    });
    const report = await dp.sync(model(SERVICES, ['web-cluster', 'web-local']));
    expect(report.errors).toEqual([]);
    expect(report.services).toBe(3);
  });

  afterAll(async () => {
    try {
      await dp?.uninstall();
    } finally {
      await lab?.down();
    }
  });

  it('records which iptables backend the node uses', async () => {
    const version = (await node().exec(['iptables', '--version'])).stdout;
    const backend = dataplane().backends().get(node().name);
    expect(backend?.kind).toBe(version.includes('nf_tables') ? 'nf_tables' : 'legacy');
    expect(logged.some((l) => l.includes(node().name) && l.includes(backend?.kind ?? '?'))).toBe(true);
  });

  it('NodePort, externalTrafficPolicy Cluster: reaches the pod, which sees the node address', async () => {
    const r = await fromClient(node().ip, 30080);
    expect(r.ok, `probe to ${node().ip}:30080: ${r.error} ${r.errorMessage}`).toBe(true);
    expect(peerIp(r)).toBe(node().ip);
  });

  it('NodePort, externalTrafficPolicy Local: the pod sees the client address', async () => {
    const r = await fromClient(node().ip, 30081);
    expect(r.ok, `probe to ${node().ip}:30081: ${r.error} ${r.errorMessage}`).toBe(true);
    expect(peerIp(r)).toBe(clientIp());
  });

  it('ClusterIP reached from outside the pod network is masqueraded', async () => {
    const r = await fromClient('10.96.0.11', 80);
    expect(r.ok, `probe to 10.96.0.11:80: ${r.error} ${r.errorMessage}`).toBe(true);
    expect(peerIp(r)).toBe(node().ip);
  });

  it('a Service without endpoints is refused at once, on its NodePort and its cluster IP', async () => {
    for (const [host, port] of [
      [node().ip, 30082],
      ['10.96.0.12', 80],
    ] as const) {
      const r = await fromClient(host, port, 5);
      expect(
        r.error,
        `probe to ${host}:${port} should be refused, got ${r.error ?? 'an answer'} ${r.body}`,
      ).toBe('refused');
      expect(r.totalMs).toBeLessThan(1500);
    }
    // The refusals came from the REJECT rules, not from a closed port on the node.
    const counted = (await node().exec(['iptables-save', '-c', '-t', 'filter'])).stdout
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
    expect(new Set(fe.map((f) => f.node))).toEqual(new Set([node().name]));
  });

  it('a sync without changes leaves the rules exactly as they were', async () => {
    const before = await saved(node());
    await dataplane().sync(model(SERVICES, ['web-cluster', 'web-local']));
    expect(await saved(node())).toBe(before);
  });

  it('externalTrafficPolicy Local with the only endpoint elsewhere: dropped, not refused', async () => {
    await dataplane().sync(model(SERVICES, ['web-cluster', 'web-local'], 'some-other-node'));
    try {
      const r = await fromClient(node().ip, 30081, 2);
      expect(
        r.error,
        `probe to ${node().ip}:30081 should time out, got ${r.error ?? 'an answer'} ${r.body}`,
      ).toBe('timeout');
    } finally {
      await dataplane().sync(model(SERVICES, ['web-cluster', 'web-local']));
    }
    expect(peerIp(await fromClient(node().ip, 30081))).toBe(clientIp());
  });

  it('a Service removed from the model loses its chains and stops answering', async () => {
    const kept = SERVICES.filter((s) => s.name !== 'web-cluster');
    await dataplane().sync(model(kept, ['web-local']));
    try {
      const text = await saved(node());
      expect(text).not.toContain('default/web-cluster');
      const r = await fromClient(node().ip, 30080, 2);
      expect(r.ok).toBe(false);
    } finally {
      await dataplane().sync(model(SERVICES, ['web-cluster', 'web-local']));
    }
    expect((await fromClient(node().ip, 30080)).ok).toBe(true);
  });

  it('uninstall removes every KUBE-* chain and every jump to one', async () => {
    expect((await listKubeChains(node())).length).toBeGreaterThan(0);
    await dataplane().uninstall();
    expect(await listKubeChains(node())).toEqual([]);
    expect(await saved(node())).not.toContain('KUBE-');
    const r = await fromClient(node().ip, 30080, 2);
    expect(r.ok).toBe(false);
  });
});
