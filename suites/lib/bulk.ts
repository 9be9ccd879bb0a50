/**
 * The bulk path the mtu and performance suites share: one backend pod, reached by an external
 * client through a NodePort and a LoadBalancer VIP for iperf3 and a NodePort for request/response
 * exchanges, all on a node other than its own, so that all of it crosses the tunnel in the eBPF
 * passes. The backend's Services have no selector and get their endpoint from an EndpointSlice,
 * so that no echo server holds their ports. The objects stay for the run's later passes (and for
 * the other suite, which applies the same objects again): deleting and re-creating a pod of the
 * same name at once would race the removal of its old veth.
 */
import type { Cluster, NodeInfo, PodInfo } from '../../src/cluster/types.ts';
import { describePackets, type Packet, withCaptures } from '../../src/observe/index.ts';
import { ConformanceFailure } from '../../src/report/evidence.ts';
import type { CpuClock } from './cpu.ts';
import { nodePortOf, service } from './harness.ts';
import { gbps, iperfAvailable, type Transfer, transfer } from './iperf.ts';

const APP = 'bulk-mtu';
/** The port iperf3 serves on in the backend pod, and the Services' port. */
export const PORT = 5201;
/** The port request/response exchanges are served on in the backend pod, and their Service's port. */
export const EXCHANGE_PORT = 5202;
/** A transfer's size when completeness, not rate, is the point. */
export const BYTES = 48 * 1024 * 1024;
/** Every IP fragment (first or later) on a wire. */
export const FRAGMENTS = 'ip[6:2] & 0x3fff != 0';

/** A test context that can skip. */
export type Ctx = { skip: (note: string) => never };

/** One Service as the client reaches it. */
export interface Frontend {
  label: string;
  host: string;
  port: number;
}

function bulkObjects(podIp: string, node: string): object[] {
  const exposed = (name: string, type: string, port: { name: string; port: number }) => {
    const ports = [{ ...port, protocol: 'TCP' }];
    return [
      { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type, ports } },
      {
        apiVersion: 'discovery.k8s.io/v1',
        kind: 'EndpointSlice',
        metadata: { name: `${name}-1`, labels: { 'kubernetes.io/service-name': name } },
        addressType: 'IPv4',
        ports,
        endpoints: [{ addresses: [podIp], nodeName: node, conditions: { ready: true } }],
      },
    ];
  };
  return [
    ...exposed('bulk-np', 'NodePort', { name: 'iperf', port: PORT }),
    ...exposed('bulk-lb', 'LoadBalancer', { name: 'iperf', port: PORT }),
    ...exposed('bulk-rr', 'NodePort', { name: 'rr', port: EXCHANGE_PORT }),
  ];
}

/** The bulk path of a cluster, once set up: its backend, the node traffic enters and the backend's node. */
export class BulkPath {
  readonly c: Cluster;
  /** Why there is no path here (no client, one node). */
  #noPath: string | undefined;
  /** Why there is no iperf3 here. */
  #noIperf: string | undefined;
  backend!: PodInfo;
  entry!: NodeInfo;
  home!: NodeInfo;

  private constructor(c: Cluster) {
    this.c = c;
  }

  /** Applies the backend and its Services (or notes why they cannot run here). */
  static async setUp(c: Cluster): Promise<BulkPath> {
    const b = new BulkPath(c);
    await b.#setUp();
    return b;
  }

  async #setUp(): Promise<void> {
    const c = this.c;
    const [client] = c.topology().clients;
    if (!client) {
      this.#noPath = 'needs an external client';
      return;
    }
    if (!(await iperfAvailable(c, client.name))) {
      this.#noIperf = 'iperf3 is not installed on this machine: run scripts/setup.sh (Debian package iperf3)';
    }
    await c.apply([
      {
        apiVersion: 'apps/v1',
        kind: 'Deployment',
        metadata: { name: APP },
        spec: {
          replicas: 1,
          selector: { matchLabels: { app: APP } },
          template: {
            metadata: { labels: { app: APP } },
            spec: { containers: [{ name: 'iperf', image: 'debian' }] },
          },
        },
      },
    ]);
    const pod = c.topology().pods.find((p) => p.labels.app === APP);
    if (!pod) throw new Error(`the ${APP} pod was not scheduled`);
    this.backend = pod;
    this.home = c.topology().nodes.find((n) => n.name === pod.nodeName)!;
    const other = c.topology().nodes.find((n) => n.name !== pod.nodeName);
    if (!other) {
      this.#noPath = 'needs two nodes: one the traffic enters, another the backend runs on';
      return;
    }
    this.entry = other;
    await c.apply(bulkObjects(pod.ip, pod.nodeName));
  }

  /** Skips the requirement when the path could not be set up here, or iperf3 is missing. */
  ready(ctx: Ctx): void {
    const why = this.#noPath ?? this.#noIperf;
    if (why) ctx.skip(why);
  }

  /** Skips the requirement when the path could not be set up here (for what needs no iperf3). */
  pathReady(ctx: Ctx): void {
    if (this.#noPath) ctx.skip(this.#noPath);
  }

  /** Where each Service is reached from the client: the entry node's NodePort, the VIP routed via it. */
  async frontends(): Promise<Frontend[]> {
    const { c, entry } = this;
    const np = service(c, 'bulk-np');
    const lb = service(c, 'bulk-lb');
    await c.routeVia(lb.loadBalancerIP!, [entry.name]);
    return [
      {
        label: `NodePort ${entry.ip}:${np.ports[0]!.nodePort}`,
        host: entry.ip,
        port: np.ports[0]!.nodePort!,
      },
      { label: `LoadBalancer ${lb.loadBalancerIP}:${PORT}`, host: lb.loadBalancerIP!, port: PORT },
    ];
  }

  /** Where the client reaches the request/response exchanges: the entry node's NodePort. */
  exchangeFrontend(): Frontend {
    const { entry } = this;
    const port = nodePortOf(service(this.c, 'bulk-rr'));
    return { label: `NodePort ${entry.ip}:${port}`, host: entry.ip, port };
  }

  /** One transfer each way through a frontend, with every IP fragment on both nodes' wires captured. */
  async both(
    fe: { host: string; port: number },
    bytes = BYTES,
    flush = true,
  ): Promise<{ transfers: Transfer[]; fragments: Packet[] }> {
    const { c, entry, home } = this;
    const run = await withCaptures(
      {
        entry: c.captureSpec(entry.name, 'eth0', FRAGMENTS),
        home: c.captureSpec(home.name, 'eth0', FRAGMENTS),
      },
      () => this.transfers(fe, bytes, flush),
    );
    return { transfers: run.result, fragments: [...run.packets.entry, ...run.packets.home] };
  }

  /**
   * One transfer each way through a frontend, nothing captured: for rates, which a capture would
   * slow (and which a path that fragments would flood).
   */
  async transfers(
    fe: { host: string; port: number },
    bytes = BYTES,
    flush = true,
    cpu?: CpuClock,
  ): Promise<Transfer[]> {
    const { c, backend } = this;
    const out: Transfer[] = [];
    for (const reverse of [false, true]) {
      out.push(
        await transfer(c, {
          client: c.topology().clients[0]!.name,
          pod: `${backend.namespace}/${backend.name}`,
          serverPort: PORT,
          host: fe.host,
          port: fe.port,
          bytes,
          reverse,
          flush,
          timeoutMs: 60_000,
          cpu,
        }),
      );
    }
    return out;
  }

  /** Requires whole transfers and no fragment on the wire. */
  expectWhole(label: string, r: { transfers: Transfer[]; fragments: Packet[] }, bytes = BYTES): void {
    this.expectComplete(label, r, bytes);
    this.expectNoFragments(label, r);
  }

  /** Requires every transfer to have moved all its bytes. */
  expectComplete(label: string, r: { transfers: Transfer[] }, bytes = BYTES): void {
    const { entry, home, backend } = this;
    const short = r.transfers.filter((t) => t.error || t.bytes < bytes);
    if (short.length > 0) {
      throw new ConformanceFailure(`a bulk transfer through the ${label} did not complete`, {
        expected: `${bytes / 1024 / 1024} MiB each way, with a backend on ${home.name}`,
        seen: r.transfers.map(describeTransfer).join('\n'),
        where: `client -> ${label} (entry ${entry.name}, backend ${backend.name} on ${home.name})`,
      });
    }
  }

  /** Requires that no IP fragment crossed either node's wire. */
  expectNoFragments(label: string, r: { fragments: Packet[] }): void {
    const { entry, home } = this;
    if (r.fragments.length > 0) {
      throw new ConformanceFailure(`IP fragments on the wire during transfers through the ${label}`, {
        expected: 'no fragment (the tunnel never carries what does not fit; senders learn the path MTU)',
        seen: describePackets(r.fragments, 10),
        where: `captures "${FRAGMENTS}" on ${entry.name} eth0 and ${home.name} eth0`,
      });
    }
  }
}

/** One transfer in a line: size, rate, retransmits, error. */
export function describeTransfer(t: Transfer): string {
  const mib = (t.bytes / 1024 / 1024).toFixed(1);
  return `${t.direction}: ${mib} MiB at ${gbps(t.bitsPerSecond)}, ${t.retransmits} retransmits${t.error ? `, error: ${t.error}` : ''}`;
}
