/**
 * A deliberately small netns cluster for the eBPF end-to-end test (the real provider lives in
 * src/cluster/netns): a fabric bridge, nodes with eth0 on it, one pod per node behind a cali veth,
 * one external client. Plus a Node echo server for pods and a one-shot probe.
 */
import { randomBytes } from 'node:crypto';
import type { NodeInfo } from '../../../src/cluster/types.ts';
import { run, type Started, start } from '../../../src/sys/exec.ts';
import { addNetns, delNetns } from './helpers.ts';

/** One pod of the small topology. */
export interface MiniPod {
  name: string;
  netns: string;
  ip: string;
  nodeName: string;
  hostIface: string;
}

/** The small topology. */
export interface MiniTopology {
  tag: string;
  fabric: string;
  nodes: NodeInfo[];
  pods: MiniPod[];
  client: { netns: string; ip: string };
}

async function ns(netns: string, ...argv: string[]): Promise<void> {
  await run(argv, { netns });
}

/** Builds fabric, `nodeCount` nodes with one pod each, and one client. Names start with `tag`. */
export async function buildTopology(tag: string, nodeCount = 2): Promise<MiniTopology> {
  const fabric = `${tag}-fab`;
  const topo: MiniTopology = {
    tag,
    fabric,
    nodes: [],
    pods: [],
    client: { netns: `${tag}-cli`, ip: '172.18.1.10' },
  };
  await addNetns(fabric);
  await ns(fabric, 'ip', 'link', 'add', 'br0', 'type', 'bridge');
  await ns(fabric, 'ip', 'link', 'set', 'br0', 'up');

  const plug = async (netns: string, fabricSide: string, addr: string) => {
    await ns(fabric, 'ip', 'link', 'add', fabricSide, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', netns);
    await ns(fabric, 'ip', 'link', 'set', fabricSide, 'master', 'br0', 'up');
    await ns(netns, 'ip', 'addr', 'add', addr, 'dev', 'eth0');
    await ns(netns, 'ip', 'link', 'set', 'eth0', 'up');
  };

  for (let i = 0; i < nodeCount; i++) {
    const name = `${tag}-n${i}`;
    const ip = `172.18.0.${2 + i}`;
    await addNetns(name);
    await plug(name, `n${i}`, `${ip}/16`);
    for (const k of [
      'net.ipv4.ip_forward=1',
      'net.ipv4.conf.all.rp_filter=0',
      'net.ipv4.conf.default.rp_filter=0',
    ]) {
      await ns(name, 'sysctl', '-qw', k);
    }
    topo.nodes.push({ name, index: i, ip, podCidr: `10.244.${i}.0/24`, netns: name, iface: 'eth0' });
  }
  for (const n of topo.nodes) {
    for (const m of topo.nodes) {
      if (m !== n) await ns(n.netns, 'ip', 'route', 'add', m.podCidr, 'via', m.ip);
    }
    const pod: MiniPod = {
      name: `${n.name}-pod`,
      netns: `${n.name}-pod`,
      ip: `10.244.${n.index}.10`,
      nodeName: n.name,
      hostIface: `cali${randomBytes(6).toString('hex').slice(0, 11)}`,
    };
    await addNetns(pod.netns);
    await ns(
      n.netns,
      'ip',
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
    );
    await ns(n.netns, 'sysctl', '-qw', `net.ipv4.conf.${pod.hostIface}.proxy_arp=1`);
    await ns(n.netns, 'ip', 'link', 'set', pod.hostIface, 'up');
    await ns(n.netns, 'ip', 'route', 'add', `${pod.ip}/32`, 'dev', pod.hostIface);
    await ns(pod.netns, 'ip', 'addr', 'add', `${pod.ip}/32`, 'dev', 'eth0');
    await ns(pod.netns, 'ip', 'link', 'set', 'eth0', 'up');
    await ns(pod.netns, 'ip', 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link');
    await ns(pod.netns, 'ip', 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0', 'onlink');
    // The node has no default route, so proxy ARP would not answer for the gateway: pin it.
    const mac = JSON.parse(
      (await run(['ip', '-j', 'link', 'show', pod.hostIface], { netns: n.netns })).stdout,
    ) as {
      address: string;
    }[];
    await ns(pod.netns, 'ip', 'neigh', 'replace', '169.254.1.1', 'lladdr', mac[0]!.address, 'dev', 'eth0');
    topo.pods.push(pod);
  }
  await addNetns(topo.client.netns);
  await plug(topo.client.netns, 'c0', `${topo.client.ip}/16`);
  return topo;
}

/** Routes a LoadBalancer VIP from the client to a node (as BGP would). */
export async function routeVip(topo: MiniTopology, vip: string, nodeIp: string): Promise<void> {
  await ns(topo.client.netns, 'ip', 'route', 'replace', `${vip}/32`, 'via', nodeIp);
}

/** Deletes every namespace of the topology. */
export async function destroyTopology(topo: MiniTopology): Promise<void> {
  for (const p of topo.pods) await delNetns(p.netns);
  for (const n of topo.nodes) await delNetns(n.netns);
  await delNetns(topo.client.netns);
  await delNetns(topo.fabric);
}

const SERVER = `
const http = require('node:http'), dgram = require('node:dgram');
const name = process.argv[1];
http.createServer((q, s) => s.end(JSON.stringify({ server: name, client: q.socket.remoteAddress, port: q.socket.remotePort })))
  .listen(8080, '0.0.0.0', () => {
    const u = dgram.createSocket('udp4');
    u.on('message', (m, r) => u.send(JSON.stringify({ server: name, client: r.address, port: r.port }), r.port, r.address));
    u.bind(5353, '0.0.0.0', () => console.log('ready'));
  });
`;

/** Starts the echo server (HTTP :8080, UDP :5353) in a pod; resolves once it listens. */
export async function startServer(pod: MiniPod): Promise<Started> {
  const s = start([process.execPath, '-e', SERVER, pod.name], { netns: pod.netns });
  for (let i = 0; i < 100 && !s.output().includes('ready'); i++) await new Promise((r) => setTimeout(r, 50));
  if (!s.output().includes('ready')) {
    await s.stop();
    throw new Error(`echo server in ${pod.netns} did not start`);
  }
  return s;
}

const PROBE = `
const [kind, host, port, timeout] = process.argv.slice(1);
const t0 = Date.now();
const done = (r) => { console.log(JSON.stringify({ ...r, ms: Date.now() - t0 })); process.exit(0); };
setTimeout(() => done({ ok: false, error: 'timeout' }), Number(timeout));
if (kind === 'http') {
  require('node:http').get({ host, port: Number(port), path: '/', agent: false }, (res) => {
    let body = ''; res.on('data', (c) => (body += c)); res.on('end', () => done({ ok: true, body }));
  }).on('error', (e) => done({ ok: false, error: e.code || e.message }));
} else {
  const u = require('node:dgram').createSocket('udp4');
  u.on('error', (e) => done({ ok: false, error: e.code || e.message }));
  u.on('message', (m, r) => done({ ok: true, body: String(m), from: r.address + ':' + r.port }));
  u.connect(Number(port), host, () => u.send('ping'));
}
`;

/** The result of one probe. */
export interface ProbeOutcome {
  ok: boolean;
  body?: string;
  error?: string;
  from?: string;
  ms: number;
}

/** One HTTP GET or UDP exchange from a namespace; `cgroup` puts the prober in that cgroup first. */
export async function probe(
  netns: string,
  kind: 'http' | 'udp',
  host: string,
  port: number,
  opts: { timeoutMs?: number; cgroup?: string } = {},
): Promise<ProbeOutcome> {
  const args = [process.execPath, '-e', PROBE, kind, host, String(port), String(opts.timeoutMs ?? 2000)];
  const inNs = ['nsenter', `--net=/run/netns/${netns}`, '--', ...args];
  // Join the cgroup before exec, so that the prober's connect() meets the cgroup's programs.
  const argv = opts.cgroup
    ? ['sh', '-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', opts.cgroup, ...inNs]
    : inNs;
  const r = await run(argv, { timeoutMs: (opts.timeoutMs ?? 2000) + 10_000 });
  return JSON.parse(r.stdout.trim().split('\n').pop() ?? '{}') as ProbeOutcome;
}
