/**
 * Full-size traffic through the NodePort tunnel. An external client moves several MiB with
 * iperf3 (Debian's) to and from a pod behind a NodePort and a LoadBalancer VIP whose backend is
 * on another node than the one it enters through; tcpdump on both nodes proves that no packet
 * on the wire is an IP fragment, the tunnel's MTU leaves room for the encapsulation, and a
 * packet that would not fit is answered with "fragmentation needed". How fast the tunnel is
 * against the iptables dataplane is the performance suite's.
 */
import { beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { describePackets, withCaptures } from '../src/observe/index.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { BulkPath, describeTransfer, PORT } from './lib/bulk.ts';
import { passMode, suiteCluster } from './lib/harness.ts';
import { transfer } from './lib/iperf.ts';

let c: Cluster;
let bulk: BulkPath;

/** What the VXLAN encapsulation adds: outer IPv4, UDP, VXLAN, inner Ethernet. */
const VXLAN_OVERHEAD = 50;

beforeAll(async () => {
  c = await suiteCluster();
  bulk = await BulkPath.setUp(c);
});

describe('mtu', () => {
  it('MTU-001: the tunnel device leaves room for the encapsulation on every node', async (ctx) => {
    bulk.ready(ctx);
    if (passMode(c).dataplane !== 'bpf')
      ctx.skip('the NodePort tunnel is the eBPF dataplane’s; iptables has none');
    const lines: string[] = [];
    const wrong: string[] = [];
    for (const n of c.topology().nodes) {
      const links = await c
        .node(n.name)
        .execJson<{ ifname: string; mtu: number }[]>(['ip', '-j', 'link', 'show']);
      const eth = links.find((l) => l.ifname === n.iface)?.mtu;
      const vx = links.find((l) => l.ifname === 'vx')?.mtu;
      const cfg = await c.bpf()!.config(n.name);
      lines.push(`${n.name}: ${n.iface} mtu ${eth}, vx mtu ${vx}, programs' tunnel mtu ${cfg?.tunnelMtu}`);
      if (eth === undefined || vx !== eth - VXLAN_OVERHEAD || cfg?.tunnelMtu !== vx) wrong.push(n.name);
    }
    recordEvidence(ctx, { kind: 'text', label: 'interface MTUs', text: lines.join('\n') });
    if (wrong.length > 0) {
      throw new ConformanceFailure('the tunnel has no room for its own headers', {
        expected: `vx mtu = node interface mtu - ${VXLAN_OVERHEAD}, and the programs use it`,
        seen: lines.join('\n'),
        where: `ip link show, cali_cfg on ${wrong.join(', ')}`,
      });
    }
  });

  it('MTU-002: a full-size segment that would not fit the tunnel is answered with "fragmentation needed" from the entry node, and the sender uses the tunnel MTU', async (ctx) => {
    bulk.ready(ctx);
    if (passMode(c).dataplane !== 'bpf')
      ctx.skip('the NodePort tunnel is the eBPF dataplane’s; iptables has none');
    const [np] = await bulk.frontends();
    const client = c.topology().clients[0]!;
    const run = await withCaptures(
      { client: c.captureSpec(client.name, 'eth0', 'icmp[icmptype] == 3 and icmp[icmpcode] == 4') },
      () =>
        transfer(c, {
          client: client.name,
          pod: `${bulk.backend.namespace}/${bulk.backend.name}`,
          serverPort: PORT,
          host: np!.host,
          port: np!.port,
          bytes: 4 * 1024 * 1024,
          reverse: false,
          timeoutMs: 30_000,
        }),
    );
    const route = (await c.exec(client.name, ['ip', 'route', 'get', bulk.entry.ip])).stdout.trim();
    const icmp = run.packets.client;
    recordEvidence(ctx, {
      kind: 'packet',
      where: `${client.name} eth0`,
      filter: 'ICMP fragmentation needed',
      packets: describePackets(icmp, 5).split('\n'),
    });
    recordEvidence(ctx, {
      kind: 'text',
      label: `${client.name}: ip route get ${bulk.entry.ip}`,
      text: route,
    });
    const tunnelMtu = (await c.bpf()!.config(bulk.entry.name))?.tunnelMtu;
    const good = icmp.filter(
      (p) => p.src === bulk.entry.ip && p.icmp?.mtu === tunnelMtu && p.icmp?.original?.dst === bulk.entry.ip,
    );
    if (good.length === 0 || !route.includes(`mtu ${tunnelMtu}`) || run.result.error) {
      throw new ConformanceFailure('the sender was not told the tunnel MTU', {
        expected: `ICMP fragmentation needed, mtu ${tunnelMtu}, from ${bulk.entry.ip} quoting the client's segment to it; the client's route to ${bulk.entry.ip} then has mtu ${tunnelMtu}`,
        seen: `${icmp.length} ICMP fragmentation-needed packets (${describePackets(icmp, 3)}); route: ${route}; ${describeTransfer(run.result)}`,
        where: `capture on ${client.name} eth0; ${np!.label} with its backend on ${bulk.home.name}`,
      });
    }
  });

  it('MTU-003: multi-MiB transfers each way through a NodePort and a LoadBalancer VIP with a remote backend complete, with no IP fragment on either node’s wire', async (ctx) => {
    bulk.ready(ctx);
    for (const fe of await bulk.frontends()) {
      const r = await bulk.both(fe);
      recordEvidence(ctx, {
        kind: 'text',
        label: fe.label,
        text: r.transfers.map(describeTransfer).join('\n'),
      });
      bulk.expectWhole(fe.label, r);
    }
  });
});
