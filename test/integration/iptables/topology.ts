/**
 * A one-node cluster in namespaces for the iptables tests: an external client and a node joined
 * by a veth on 172.18.0.0/16, and a pod behind a Calico-style `cali` veth in the node (a /32
 * route, proxy ARP, the pod's default route via 169.254.1.1) and a default route in the node. Everything is named
 * `dpc-t<random>-*` and removed by {@link TinyCluster.destroy}, whatever state it got to.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { NodeInfo } from '../../../src/cluster/types.ts';
import type { ClusterModel, ServiceState } from '../../../src/k8s/model.ts';
import { run, type Started, start } from '../../../src/sys/exec.ts';

/** Where each part of the tiny cluster lives. */
export interface TinyCluster {
  prefix: string;
  node: NodeInfo;
  client: { netns: string; ip: string };
  pod: { netns: string; ip: string; hostIface: string; port: number };
  /** The model of this cluster with the given Services, the pod as the endpoint of those that select it. */
  model(services: ServiceState[], withEndpoints: string[], endpointNode?: string): ClusterModel;
  destroy(): Promise<void>;
}

// Answers every request with the address the connection came from, as the pod sees it.
const ECHO_PEER = `
const http = require('node:http');
const server = http.createServer((req, res) => {
  res.end(String(req.socket.remoteAddress).replace(/^::ffff:/, ''));
});
server.listen(Number(process.argv[1]), '0.0.0.0', () => console.log('listening'));
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

/** Builds the namespaces, links, routes and the pod's echo server. */
export async function createTinyCluster(): Promise<TinyCluster> {
  const prefix = `dpc-t${randomBytes(3).toString('hex')}`;
  const names = { node: `${prefix}-node`, client: `${prefix}-client`, pod: `${prefix}-pod` };
  const created: string[] = [];
  let server: Started | undefined;
  const hostIface = `cali${randomBytes(6).toString('hex').slice(0, 11)}`;
  const cluster: TinyCluster = {
    prefix,
    node: {
      name: `${prefix}-node`,
      index: 0,
      ip: '172.18.0.2',
      podCidr: '10.244.0.0/24',
      netns: names.node,
      iface: 'eth0',
    },
    client: { netns: names.client, ip: '172.18.0.100' },
    pod: { netns: names.pod, ip: '10.244.0.2', hostIface, port: 8080 },
    model(services, withEndpoints, endpointNode = cluster.node.name) {
      return {
        nodes: [{ name: cluster.node.name, index: 0, ip: cluster.node.ip, podCidr: cluster.node.podCidr }],
        pods: [],
        services,
        endpoints: withEndpoints.map((name) => ({
          namespace: 'default',
          serviceName: name,
          ports: [
            {
              portName: '',
              protocol: 'TCP' as const,
              port: cluster.pod.port,
              endpoints: [{ ip: cluster.pod.ip, nodeName: endpointNode, podName: 'echo-0', ready: true }],
            },
          ],
        })),
        clusterCidr: '10.244.0.0/16',
        serviceCidr: '10.96.0.0/12',
      };
    },
    async destroy() {
      // The server pins the pod namespace; stop it before the namespaces go.
      await server?.stop('SIGTERM', 2000).catch(() => {});
      for (const ns of created.reverse()) {
        if (existsSync(`/run/netns/${ns}`))
          await run(['ip', 'netns', 'del', ns], { reject: false, timeoutMs: 10_000 });
      }
    },
  };
  try {
    for (const ns of [names.node, names.client, names.pod]) {
      await run(['ip', 'netns', 'add', ns], { timeoutMs: 10_000 });
      created.push(ns);
      await ip(ns, ['link', 'set', 'lo', 'up']);
    }
    // Fabric: both ends are created inside the node namespace, one is moved to the client.
    await ip(names.node, [
      'link',
      'add',
      'eth0',
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      names.client,
    ]);
    await ip(names.node, ['addr', 'add', `${cluster.node.ip}/16`, 'dev', 'eth0']);
    await ip(names.node, ['link', 'set', 'eth0', 'up']);
    // Like a kind node, the node has a default route; proxy ARP for the pods' gateway needs one.
    await ip(names.node, ['route', 'add', 'default', 'via', '172.18.0.1', 'dev', 'eth0']);
    await ip(names.client, ['addr', 'add', `${cluster.client.ip}/16`, 'dev', 'eth0']);
    await ip(names.client, ['link', 'set', 'eth0', 'up']);
    // The service range is routed to the node, as a real network would to reach ClusterIPs from outside.
    await ip(names.client, ['route', 'add', '10.96.0.0/12', 'via', cluster.node.ip]);
    // Pod: Calico-style point-to-point veth, the node answers ARP for the pod's gateway.
    await ip(names.node, [
      'link',
      'add',
      hostIface,
      'type',
      'veth',
      'peer',
      'name',
      'eth0',
      'netns',
      names.pod,
    ]);
    await sysctl(names.node, `net.ipv4.conf.${hostIface}.proxy_arp`, '1');
    await sysctl(names.node, `net.ipv4.neigh.${hostIface}.proxy_delay`, '0');
    await sysctl(names.node, 'net.ipv4.ip_forward', '1');
    await ip(names.node, ['link', 'set', hostIface, 'up']);
    await ip(names.node, ['route', 'add', `${cluster.pod.ip}/32`, 'dev', hostIface]);
    await ip(names.pod, ['addr', 'add', `${cluster.pod.ip}/32`, 'dev', 'eth0']);
    await ip(names.pod, ['link', 'set', 'eth0', 'up']);
    await ip(names.pod, ['route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink']);
    const started = start([process.execPath, '-e', ECHO_PEER, String(cluster.pod.port)], {
      netns: names.pod,
    });
    server = started;
    await waitFor(() => started.output().includes('listening'), 'the echo server in the pod');
    return cluster;
  } catch (err) {
    await cluster.destroy();
    throw err;
  }
}

/** The outcome of one HTTP request from the client namespace. */
export interface Fetched {
  /** curl's exit code: 0 ok, 7 refused, 28 timed out. */
  code: number;
  body: string;
  ms: number;
}

/** Makes one HTTP request from a namespace with curl, giving up after `timeoutS` seconds. */
export async function fetchFrom(netns: string, host: string, port: number, timeoutS = 3): Promise<Fetched> {
  const started = performance.now();
  const r = await run(['curl', '-sS', '--max-time', String(timeoutS), `http://${host}:${port}/`], {
    netns,
    reject: false,
    timeoutMs: (timeoutS + 5) * 1000,
  });
  return { code: r.exitCode, body: r.stdout.trim(), ms: performance.now() - started };
}
