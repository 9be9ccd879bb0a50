/**
 * The kernel path where the eBPF programs stand in for the kernel, and the guide's own commands.
 * A hop the programs forward decrements the TTL as a router does; an ICMP error about a NATed
 * flow reaches the client translated; IP fragments of a NATed datagram are NATed alike or
 * dropped and counted, never passed on un-NATed; a pod reaches itself through its Service; the
 * counters of interfaces that are gone are reclaimed. And, as the guide writes them: maps and
 * programs found by name with bpftool and tc in a node, the `Installation` that picks the
 * dataplane, the `ServiceMonitor` that says where the metrics are, Felix's own metric names.
 */
import { beforeAll, describe, it } from 'vitest';
import { type Cluster, MAP, type NodeInfo, type PodInfo } from '../src/cluster/types.ts';
import { describePackets, withCaptures } from '../src/observe/index.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import { echoDeployment, echoService, endpointSlice } from './lib/felix-objects.ts';
import { passMode, service, suiteCluster } from './lib/harness.ts';

let c: Cluster;
let solo: PodInfo;
let home: NodeInfo;
let away: NodeInfo;

const SOLO = 'dp-solo';
const NP = 30311;
const NP_UDP = 30312;
const NP_CLOSED = 30313;
const objects = (): object[] => [
  echoDeployment(SOLO),
  echoService(SOLO, SOLO, { nodePort: NP }),
  echoService(`${SOLO}-udp`, SOLO, { nodePort: NP_UDP, protocol: 'UDP' }),
];

type Ctx = { skip: (note: string) => never };

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(objects());
  solo = c.topology().pods.find((p) => p.labels.app === SOLO)!;
  home = c.topology().nodes.find((n) => n.name === solo.nodeName)!;
  away = c.topology().nodes.find((n) => n.name !== solo.nodeName)!;
});

// The objects stay for the run's later passes: deleting and re-creating a pod of the same name
// at once would race the removal of its old veth.

function bpfOnly(ctx: Ctx, why = 'the eBPF dataplane’s own; the iptables dataplane has none'): void {
  if (passMode(c).dataplane !== 'bpf') ctx.skip(why);
}

async function counted(node: string, reason: string): Promise<number> {
  let n = 0;
  for (const r of await c.bpf()!.counters(node)) if (r.reason === reason) n += Number(r.packets);
  return n;
}

describe('datapath', () => {
  it('DP-001: each node on the path is a router hop: the backend sees the client’s TTL less one per node, through the tunnel as natively', async (ctx) => {
    const lines: string[] = [];
    for (const [entry, hops] of [
      [home, 1],
      [away, 2],
    ] as const) {
      const sport = 47000 + hops;
      const run = await withCaptures(
        {
          pod: c.captureSpec(
            `${solo.namespace}/${solo.name}`,
            solo.iface,
            'tcp dst port 8080 and tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn',
          ),
        },
        () =>
          expectAnswer(
            ctx,
            c,
            'client',
            { kind: 'http', host: entry.ip, port: NP, path: '/hostname', sourcePort: sport },
            `${entry.name}:${NP}`,
          ),
      );
      // The connection's SYN (kube-proxy may have SNATed its source port: match the opening SYN).
      const syn = run.packets.pod.find((p) => p.sport === sport) ?? run.packets.pod[0];
      lines.push(
        `via ${entry.name} (${hops} hop${hops > 1 ? 's' : ''}): SYN at the pod with TTL ${syn?.ip?.ttl ?? 'none seen'}`,
      );
      recordEvidence(ctx, {
        kind: 'packet',
        where: `${solo.name} ${solo.iface}`,
        packets: describePackets(run.packets.pod, 5).split('\n'),
      });
      if (syn?.ip?.ttl !== 64 - hops) {
        throw new ConformanceFailure('the TTL does not count the nodes the packet crossed', {
          expected: `TTL ${64 - hops} (the client sends 64)`,
          seen: lines.join('\n'),
          where: `capture on ${solo.name} ${solo.iface}`,
        });
      }
    }
    recordEvidence(ctx, { kind: 'text', label: 'TTL at the backend', text: lines.join('\n') });
  });

  it('DP-002: a UDP NodePort whose backend port is closed answers port unreachable from the service address, quoting the service address', async (ctx) => {
    const objs = [
      echoService(`${SOLO}-closed`, undefined, { nodePort: NP_CLOSED, protocol: 'UDP', port: 9 }),
      endpointSlice(`${SOLO}-closed`, solo.ip, 9, { protocol: 'UDP', nodeName: solo.nodeName }),
    ];
    await c.apply(objs);
    try {
      const client = c.topology().clients[0]!;
      const where = `client -> ${away.ip}:${NP_CLOSED}/UDP (backend ${solo.ip}:9, nothing listening, on ${home.name})`;
      const run = await withCaptures({ client: c.captureSpec(client.name, 'eth0', 'icmp') }, () =>
        expectNoAnswer(
          ctx,
          c,
          client.name,
          { kind: 'udp', host: away.ip, port: NP_CLOSED, payload: 'x', timeoutMs: 1500 },
          ['refused'],
          where,
        ),
      );
      const icmp = run.packets.client.filter((p) => p.icmp?.type === 3 && p.icmp.code === 3);
      recordEvidence(ctx, {
        kind: 'packet',
        where: `${client.name} eth0`,
        filter: 'icmp',
        packets: describePackets(icmp, 5).split('\n'),
      });
      const good = icmp.find(
        (p) => p.src === away.ip && p.icmp?.original?.dst === away.ip && p.icmp.original.dport === NP_CLOSED,
      );
      if (!good) {
        throw new ConformanceFailure('the port unreachable was not translated back to the service address', {
          expected: `ICMP port unreachable from ${away.ip} quoting ${client.ip} -> ${away.ip}:${NP_CLOSED}`,
          seen: describePackets(run.packets.client, 5),
          where,
        });
      }
    } finally {
      await c.delete(objs);
    }
  });

  it('DP-003: a UDP datagram too large for one packet, to a NodePort on the backend’s node, arrives in fragments NATed alike and is answered whole', async (ctx) => {
    // The echo server answers `echo X` with X.
    const payload = `echo ${'f'.repeat(3000)}`;
    const where = `client -> ${home.ip}:${NP_UDP}/UDP, ${payload.length}-byte datagram (backend on ${home.name})`;
    const reply = await expectAnswer(
      ctx,
      c,
      'client',
      { kind: 'udp', host: home.ip, port: NP_UDP, payload, timeoutMs: 2000 },
      where,
    );
    if (reply.length !== payload.length - 'echo '.length) {
      throw new ConformanceFailure('a fragmented datagram was not answered whole', {
        expected: `${payload.length - 'echo '.length} bytes back`,
        seen: `${reply.length} bytes`,
        where,
      });
    }
  });

  it('DP-004: fragments of a datagram that does not fit the tunnel are dropped and counted, never passed on un-NATed', async (ctx) => {
    bpfOnly(ctx, 'the tunnel is the eBPF dataplane’s');
    const payload = `echo ${'g'.repeat(3000)}`;
    const before = await counted(away.name, 'dropped: too big for tunnel');
    const run = await withCaptures(
      { pod: c.captureSpec(`${solo.namespace}/${solo.name}`, solo.iface, 'udp or (ip[6:2] & 0x1fff != 0)') },
      () => c.probe('client', { kind: 'udp', host: away.ip, port: NP_UDP, payload, timeoutMs: 1500 }),
    );
    const after = await counted(away.name, 'dropped: too big for tunnel');
    const leaked = run.packets.pod.filter((p) => p.dst === away.ip);
    recordEvidence(ctx, {
      kind: 'text',
      label: `dropped: too big for tunnel on ${away.name}`,
      text: `${before} -> ${after}`,
    });
    if (after <= before || leaked.length > 0 || run.result.ok) {
      throw new ConformanceFailure('fragments too big for the tunnel were not dropped and counted', {
        expected: `no answer, the drop counted on ${away.name}, nothing un-NATed at the pod`,
        seen: `counter ${before} -> ${after}; probe ${run.result.ok ? 'answered' : run.result.error}; at the pod: ${describePackets(leaked, 5)}`,
        where: `client -> ${away.ip}:${NP_UDP}/UDP (backend on ${home.name})`,
      });
    }
  });

  it('DP-005: hairpin: a pod that is the only backend of its Service reaches itself through it', async (ctx) => {
    const cip = service(c, SOLO).clusterIP;
    const answer = await expectAnswer(
      ctx,
      c,
      `${solo.namespace}/${solo.name}`,
      { kind: 'http', host: cip, port: 80, path: '/hostname' },
      `${solo.name} -> ${cip}:80`,
    );
    if (answer !== solo.name) {
      throw new ConformanceFailure('the hairpin request reached someone else', {
        expected: solo.name,
        seen: answer,
        where: `${cip}:80`,
      });
    }
  });

  it('DP-006: the counters of interfaces that are gone are reclaimed, so counting never stops on a long-lived node', async (ctx) => {
    bpfOnly(ctx);
    // A name of its own each time: pods of the same name would get the same veth names.
    const app = `${SOLO}-churn-${Date.now().toString(36)}`;
    const scaled = echoDeployment(app, 3);
    await c.apply([scaled]);
    const pods = c.topology().pods.filter((p) => p.labels.app === app);
    for (const p of pods)
      await c.probe(`${p.namespace}/${p.name}`, {
        kind: 'http',
        host: service(c, SOLO).clusterIP,
        port: 80,
        path: '/hostname',
      });
    const ifaces = new Set(pods.map((p) => p.hostIface));
    // Interface indexes are a node's own: an entry is known by its node and its index.
    const everyCounter = async () =>
      (
        await Promise.all(
          c
            .topology()
            .nodes.map(async (n) =>
              (await c.bpf()!.counters(n.name)).map((r) => ({ ...r, at: `${n.name}/${r.ifindex}` })),
            ),
        )
      ).flat();
    const while_ = (await everyCounter()).filter((r) => ifaces.has(r.iface));
    const indexes = new Set(while_.map((r) => r.at));
    await c.delete([scaled]);
    // The next sync reclaims; applying anything makes one.
    await c.apply(objects());
    const left = (await everyCounter()).filter((r) => indexes.has(r.at) && !r.iface.startsWith('cali'));
    recordEvidence(ctx, {
      kind: 'text',
      label: 'counter entries of the churned pods’ veths',
      text: `while they ran: ${while_.length}; after they went: ${left.length}`,
    });
    if (while_.length === 0 || left.length > 0) {
      throw new ConformanceFailure('counter entries outlived their interfaces', {
        expected: 'entries while the pods ran, none once they are gone',
        seen: `${while_.length} while running; left: ${left.map((r) => `${r.iface} ${r.hook} ${r.reason}`).join(', ')}`,
        where: 'cali_counters on every node (dpconform bpf counters dump)',
      });
    }
  });

  it('DP-007: the guide’s commands work in a node: bpftool map dump name cali_v4_nat_fe, bpftool prog list | grep calico, tc filter show dev eth0 ingress', async (ctx) => {
    bpfOnly(ctx);
    const node = home.name;
    // The kernel's maps and programs are the whole machine's: tie what the commands print to this
    // node's own, through its pinned frontend map and the program on its eth0.
    const own = await c
      .node(node)
      .execJson<{ id: number; name: string }>([
        'bpftool',
        '-j',
        'map',
        'show',
        'pinned',
        `${c.bpf()!.pins(node).mapDir}/${MAP.natFrontend}`,
      ]);
    const dump = await c.exec(node, ['bpftool', 'map', 'dump', 'name', 'cali_v4_nat_fe'], { reject: false });
    const tc = (await c.exec(node, ['tc', 'filter', 'show', 'dev', 'eth0', 'ingress'])).stdout;
    const progId = /\bid (\d+)/.exec(tc)?.[1];
    const progs = (await c.exec(node, ['bpftool', 'prog', 'list'])).stdout
      .split('\n')
      .filter((l) => l.includes('calico'));
    // The NodePort's key: address 0.0.0.0, then the port in network order, which bpftool shows
    // as hex bytes, or through BTF as the number those bytes make on this (little-endian) host.
    const portHex = [NP >> 8, NP & 0xff].map((b) => b.toString(16).padStart(2, '0')).join(' ');
    const portBtf = ((NP & 0xff) << 8) | (NP >> 8);
    const hasNodePort =
      dump.stdout.includes(`00 00 00 00 ${portHex}`) || new RegExp(`"port": ${portBtf}\\b`).test(dump.stdout);
    recordEvidence(ctx, {
      kind: 'text',
      label: `${node}: its frontend map`,
      text: `id ${own.id}, name ${own.name}`,
    });
    recordEvidence(ctx, {
      kind: 'text',
      label: `${node}: bpftool prog list | grep calico`,
      text: progs.join('\n'),
    });
    recordEvidence(ctx, { kind: 'text', label: `${node}: tc filter show dev eth0 ingress`, text: tc });
    const problems = [
      own.name === 'cali_v4_nat_fe' ? '' : `the node's frontend map is named ${own.name}`,
      dump.exitCode === 0 && hasNodePort
        ? ''
        : `no NodePort ${NP} entry in bpftool map dump name cali_v4_nat_fe`,
      tc.includes('calico_from_hep') && progId ? '' : 'no calico_from_hep on eth0 ingress',
      progs.some((l) => l.startsWith(`${progId}:`))
        ? ''
        : `the program on eth0 (id ${progId}) is not in bpftool prog list | grep calico`,
    ].filter(Boolean);
    if (problems.length > 0) {
      throw new ConformanceFailure('the guide’s commands do not find the dataplane', {
        expected:
          'the node’s frontend map named cali_v4_nat_fe and its NodePort in the dump; calico_from_hep on eth0, found by grep calico',
        seen: problems.join('; '),
        where: `dpconform exec ${node} -- ...`,
      });
    }
  });

  it("DP-008: Felix's own metric names are served next to the guide's, with the node's endpoints", async (ctx) => {
    bpfOnly(ctx);
    const s = await c.metrics(home.name);
    const value = (name: string) => s.samples.filter((x) => x.name === name).reduce((a, x) => a + x.value, 0);
    const carrying = new Set((await c.footprint()).nodes[home.name]!.tcFilters.map((f) => f.split('/')[0]));
    const names = [
      'calico_bpf_dataplane_packets_total',
      'felix_bpf_dataplane_endpoints',
      'felix_bpf_conntrack_used',
      'felix_bpf_conntrack_cleaned',
    ];
    const missing = names.filter((n) => !s.samples.some((x) => x.name === n));
    recordEvidence(ctx, {
      kind: 'text',
      label: `${home.name} metrics`,
      text: `felix_bpf_dataplane_endpoints ${value('felix_bpf_dataplane_endpoints')} (interfaces with programs: ${carrying.size}); happy ${value('felix_bpf_happy_dataplane_endpoints')}; conntrack used ${value('felix_bpf_conntrack_used')}`,
    });
    if (missing.length > 0 || value('felix_bpf_dataplane_endpoints') !== carrying.size) {
      throw new ConformanceFailure("Felix's metric names are not served, or do not match the node", {
        expected: `${names.join(', ')}; felix_bpf_dataplane_endpoints = ${carrying.size}`,
        seen: `missing: ${missing.join(', ') || 'none'}; felix_bpf_dataplane_endpoints ${value('felix_bpf_dataplane_endpoints')}`,
        where: s.url,
      });
    }
  });

  it("DP-009: the guide's ServiceMonitor says where the metrics are: its path is the one scraped", async (ctx) => {
    bpfOnly(ctx, 'the metrics endpoint is the eBPF dataplane’s');
    const monitor = (path: string) => ({
      apiVersion: 'v1',
      kind: 'ServiceMonitor',
      metadata: { name: 'calico-bpf-metrics', namespace: 'default' },
      spec: {
        selector: { matchLabels: { 'k8s-app': 'calico-node' } },
        endpoints: [{ port: 'metrics-port', interval: '5s', path }],
      },
    });
    try {
      await c.apply([monitor('/metrics')]);
      const ok = await c.metrics(home.name);
      await c.apply([monitor('/not-metrics')]);
      let refused = '';
      await c.metrics(home.name).catch((err: unknown) => {
        refused = err instanceof Error ? err.message : String(err);
      });
      recordEvidence(ctx, {
        kind: 'text',
        label: 'scrapes',
        text: `path /metrics: ${ok.url}, ${ok.samples.length} samples\npath /not-metrics: ${refused || 'answered'}`,
      });
      if (ok.samples.length === 0 || !refused.includes('404')) {
        throw new ConformanceFailure('the ServiceMonitor’s path was not the one scraped', {
          expected: 'samples at /metrics; HTTP 404 at /not-metrics',
          seen: `${ok.samples.length} samples; ${refused || 'answered at /not-metrics'}`,
          where: `${home.name} :9091`,
        });
      }
    } finally {
      await c.delete([monitor('/metrics')]);
    }
  });

  it("DP-010: the guide's Installation picks the dataplane: linuxDataplane Iptables switches to iptables, BPF back", async (ctx) => {
    bpfOnly(ctx, 'checked from the eBPF passes');
    if (passMode(c).serviceMode !== 'Tunnel') ctx.skip('checked once, in the Tunnel pass');
    const installation = (dp: string) => ({
      apiVersion: 'operator.tigera.io/v1',
      kind: 'Installation',
      metadata: { name: 'default' },
      spec: {
        calicoNetwork: { bgp: 'Enabled', ipPools: [{ cidr: '10.244.0.0/16', encapsulation: 'None' }] },
        linuxDataplane: dp,
      },
    });
    const seen: string[] = [];
    try {
      await c.apply([installation('Iptables')]);
      seen.push(`Iptables: ${c.dataplaneMode()}, ${(await c.footprint()).progIds.length} programs`);
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: away.ip, port: NP, path: '/hostname' },
        `${away.name}:${NP} under iptables`,
      );
      await c.apply([installation('BPF')]);
      seen.push(`BPF: ${c.dataplaneMode()}`);
    } finally {
      await c.delete([installation('BPF')]).catch(() => undefined);
      if (c.dataplaneMode() !== 'bpf') await c.switchDataplane('bpf');
    }
    recordEvidence(ctx, { kind: 'text', label: 'dataplane after each Installation', text: seen.join('\n') });
    if (!seen[0]?.startsWith('Iptables: iptables, 0 programs') || seen[1] !== 'BPF: bpf') {
      throw new ConformanceFailure('the Installation did not pick the dataplane', {
        expected: 'iptables with no eBPF program after linuxDataplane: Iptables; bpf after BPF',
        seen: seen.join('\n'),
        where: 'Installation default',
      });
    }
  });
});
