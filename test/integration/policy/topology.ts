/**
 * One node namespace with a few pods behind Calico-style `cali` veths (a /32 route, proxy ARP,
 * the pods' default route via 169.254.1.1), each pod running a small echo server: HTTP on 8080
 * answering with the caller's address, and a UDP socket on 9000. Everything is named
 * `dpc-t<random>-*` and removed by {@link PolicyLab.destroy}, whatever state it got to.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { NodeInfo } from '../../../src/cluster/types.ts';
import type { ClusterModel, NamespaceState, NetworkPolicyState, PodState } from '../../../src/k8s/model.ts';
import { run, type Started, start } from '../../../src/sys/exec.ts';

/** A pod of the lab, as the model and the test see it. */
export interface LabPod extends PodState {
  netns: string;
}

/** The node and its pods. */
export interface PolicyLab {
  prefix: string;
  node: NodeInfo;
  pods: LabPod[];
  /** The model of the lab with these policies. */
  model(policies: NetworkPolicyState[]): ClusterModel;
  destroy(): Promise<void>;
}

const HTTP_PORT = 8080;
const UDP_PORT = 9000;

const ECHO = `
const http = require('node:http');
const dgram = require('node:dgram');
const server = http.createServer((req, res) => {
  res.end(String(req.socket.remoteAddress).replace(/^::ffff:/, ''));
});
const udp = dgram.createSocket('udp4');
udp.bind(${UDP_PORT}, '0.0.0.0');
server.listen(${HTTP_PORT}, '0.0.0.0', () => console.log('listening'));
`;

async function ip(netns: string, args: string[]): Promise<void> {
  await run(['ip', ...args], { netns, timeoutMs: 10_000 });
}

async function sysctl(netns: string, key: string, value: string): Promise<void> {
  await run(['sysctl', '-qw', `${key}=${value}`], { netns, timeoutMs: 10_000 });
}

async function waitFor(cond: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Pods to create: namespace, name and labels; addresses are given in order from 10.244.0.10. */
export interface LabPodSpec {
  namespace: string;
  name: string;
  labels: Record<string, string>;
}

/** Builds the node, the pods and their servers. */
export async function createPolicyLab(
  specs: readonly LabPodSpec[],
  namespaces: readonly NamespaceState[],
): Promise<PolicyLab> {
  const prefix = `dpc-t${randomBytes(3).toString('hex')}`;
  const nodeNs = `${prefix}-node`;
  const created: string[] = [];
  const servers: Started[] = [];
  const lab: PolicyLab = {
    prefix,
    node: {
      name: nodeNs,
      index: 0,
      ip: '172.18.0.2',
      podCidr: '10.244.0.0/24',
      netns: nodeNs,
      iface: 'eth0',
    },
    pods: specs.map((s, i) => ({
      ...s,
      nodeName: nodeNs,
      ip: `10.244.0.${10 + i}`,
      ports: [
        { name: 'http', containerPort: HTTP_PORT, protocol: 'TCP' },
        { name: 'udp', containerPort: UDP_PORT, protocol: 'UDP' },
      ],
      hostIface: `cali${randomBytes(6).toString('hex').slice(0, 11)}`,
      netns: `${prefix}-p${i}`,
    })),
    model(policies) {
      return {
        nodes: [{ name: nodeNs, index: 0, ip: lab.node.ip, podCidr: lab.node.podCidr }],
        pods: lab.pods.map(({ netns: _netns, ...pod }) => pod),
        services: [],
        endpoints: [],
        clusterCidr: '10.244.0.0/16',
        serviceCidr: '10.96.0.0/12',
        namespaces: [...namespaces],
        policies,
      };
    },
    async destroy() {
      // The servers pin the pod namespaces; stop them before the namespaces go.
      await Promise.all(servers.map((s) => s.stop('SIGTERM', 2000).catch(() => {})));
      for (const ns of created.reverse()) {
        if (existsSync(`/run/netns/${ns}`))
          await run(['ip', 'netns', 'del', ns], { reject: false, timeoutMs: 10_000 });
      }
    },
  };
  try {
    await run(['ip', 'netns', 'add', nodeNs], { timeoutMs: 10_000 });
    created.push(nodeNs);
    await ip(nodeNs, ['link', 'set', 'lo', 'up']);
    // An uplink going nowhere (a veth whose peer stays in the node) with a default route: proxy
    // ARP answers for 169.254.1.1 only when it is routable.
    await ip(nodeNs, ['link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'uplink']);
    await ip(nodeNs, ['link', 'set', 'uplink', 'up']);
    await ip(nodeNs, ['addr', 'add', `${lab.node.ip}/16`, 'dev', 'eth0']);
    await ip(nodeNs, ['link', 'set', 'eth0', 'up']);
    await ip(nodeNs, ['route', 'add', 'default', 'via', '172.18.0.1', 'dev', 'eth0']);
    await sysctl(nodeNs, 'net.ipv4.ip_forward', '1');
    for (const pod of lab.pods) {
      await run(['ip', 'netns', 'add', pod.netns], { timeoutMs: 10_000 });
      created.push(pod.netns);
      await ip(pod.netns, ['link', 'set', 'lo', 'up']);
      await ip(nodeNs, [
        'link',
        'add',
        pod.hostIface,
        'type',
        'veth',
        'peer',
        'name',
        'eth0',
        'netns',
        pod.netns,
      ]);
      await sysctl(nodeNs, `net.ipv4.conf.${pod.hostIface}.proxy_arp`, '1');
      await sysctl(nodeNs, `net.ipv4.neigh.${pod.hostIface}.proxy_delay`, '0');
      await ip(nodeNs, ['link', 'set', pod.hostIface, 'up']);
      await ip(nodeNs, ['route', 'add', `${pod.ip}/32`, 'dev', pod.hostIface]);
      await ip(pod.netns, ['addr', 'add', `${pod.ip}/32`, 'dev', 'eth0']);
      await ip(pod.netns, ['link', 'set', 'eth0', 'up']);
      await ip(pod.netns, ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink']);
      const server = start([process.execPath, '-e', ECHO], { netns: pod.netns });
      servers.push(server);
      await waitFor(() => server.output().includes('listening'), `the echo server in ${pod.name}`);
    }
    return lab;
  } catch (err) {
    await lab.destroy();
    throw err;
  }
}

/** The outcome of one HTTP request. */
export interface Fetched {
  /** curl's exit code: 0 ok, 7 refused, 28 timed out. */
  code: number;
  body: string;
  ms: number;
}

/** One HTTP request from a pod to another pod's echo server. */
export async function httpFrom(from: LabPod, to: LabPod, timeoutS = 2): Promise<Fetched> {
  const started = performance.now();
  const r = await run(['curl', '-sS', '--max-time', String(timeoutS), `http://${to.ip}:${HTTP_PORT}/`], {
    netns: from.netns,
    reject: false,
    timeoutMs: (timeoutS + 5) * 1000,
  });
  return { code: r.exitCode, body: r.stdout.trim(), ms: performance.now() - started };
}

/** Sends `count` UDP datagrams from one pod to another's UDP port, one socket, no replies expected. */
export async function sendUdp(from: LabPod, to: LabPod, count: number): Promise<void> {
  const script = `
const s = require('node:dgram').createSocket('udp4');
let left = ${count};
const next = () => {
  if (left-- === 0) return s.close();
  s.send('x', ${UDP_PORT}, ${JSON.stringify(to.ip)}, next);
};
next();
`;
  await run([process.execPath, '-e', script], { netns: from.netns, timeoutMs: 10_000 });
}
