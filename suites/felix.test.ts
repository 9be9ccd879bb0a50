/**
 * Every FelixConfiguration field of the guide, honoured: each requirement changes a field on the
 * running cluster, shows the dataplane doing what the field says (in its log, its SNAT ports, a
 * host process's connections, the endpoints it uses, the interfaces its programs are on), and
 * that the change was taken in place: the programs the kernel runs are the same ones, and a
 * connection open across the change carries on.
 */
import { beforeAll, describe, it } from 'vitest';
import {
  type Cluster,
  compileIfacePattern,
  type FelixSettings,
  type NodeInfo,
  type PodInfo,
} from '../src/cluster/types.ts';
import { describePackets, filterPackets, withCaptures } from '../src/observe/index.ts';
import { ConformanceFailure, recordEvidence } from '../src/report/evidence.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import { echoDeployment, echoService, endpointSlice } from './lib/felix-objects.ts';
import { describeStream, waitStream } from './lib/flows.ts';
import { passMode, service, suiteCluster } from './lib/harness.ts';

let c: Cluster;
let solo: PodInfo;
/** The node the solo pod runs on, and another. */
let home: NodeInfo;
let away: NodeInfo;

const SOLO = 'felix-solo';
const NP = 30301;
const NP_SLICE = 30302;
const objects = (): object[] => [echoDeployment(SOLO), echoService(SOLO, SOLO, { nodePort: NP })];

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

/** A check that does not depend on the service mode is made once, in the Tunnel pass. */
function oncePerRun(ctx: Ctx): void {
  bpfOnly(ctx);
  if (passMode(c).serviceMode !== 'Tunnel')
    ctx.skip('independent of the service mode: checked once, in the Tunnel pass');
}

function bpfOnly(ctx: Ctx): void {
  if (passMode(c).dataplane !== 'bpf')
    ctx.skip('a field of the eBPF dataplane; kube-proxy’s iptables mode has no such setting');
}

/** Patches fields, runs `body`, and puts the fields back as they were. */
async function withSettings(fields: Partial<FelixSettings>, body: () => Promise<void>): Promise<void> {
  const before = c.settings().settings;
  const restore = Object.fromEntries(
    Object.keys(fields).map((k) => [k, before[k as keyof FelixSettings]]),
  ) as Partial<FelixSettings>;
  await c.patchFelix(fields);
  try {
    await body();
  } finally {
    await c.patchFelix(restore);
  }
}

/** The ids of the programs on the nodes: a change taken in place keeps them. */
async function programIds(): Promise<string> {
  return (await c.footprint()).progIds.join(',');
}

async function expectInPlace(before: string, what: string): Promise<void> {
  const after = await programIds();
  if (after !== before) {
    throw new ConformanceFailure(`${what} was not taken in place: the dataplane was reinstalled`, {
      expected: `the same programs before and after (ids ${before})`,
      seen: `ids ${after}`,
      where: 'bpftool prog show on the nodes (their footprint)',
    });
  }
}

describe('felix', () => {
  it('FLX-001: bpfLogLevel Off logs nothing, Info each new flow with its backend, Debug every packet; the level changes in place', async (ctx) => {
    bpfOnly(ctx);
    const ids = await programIds();
    const probe = async (sport: number) => {
      const since = process.hrtime.bigint();
      await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: home.ip, port: NP, path: '/hostname', sourcePort: sport },
        `${home.name}:${NP}`,
      );
      return (await c.bpfLog(home.name, since)).filter((r) => r.sport === sport || r.dport === sport);
    };
    const seen: string[] = [];
    for (const [level, sport] of [
      ['Off', 46101],
      ['Info', 46102],
      ['Debug', 46103],
    ] as const) {
      await withSettings({ bpfLogLevel: level }, async () => {
        const records = await probe(sport);
        const newFlows = records.filter((r) => r.event === 2 && r.natIp === solo.ip);
        const packets = records.filter((r) => r.event === 1);
        seen.push(
          `${level}: ${records.length} records (${newFlows.length} new flow to ${solo.ip}, ${packets.length} packets)`,
        );
        const ok =
          level === 'Off'
            ? records.length === 0
            : level === 'Info'
              ? newFlows.length === 1 && packets.length === 0
              : newFlows.length === 1 && packets.length >= 3;
        if (!ok) {
          throw new ConformanceFailure(`bpfLogLevel ${level} was not honoured`, {
            expected:
              'Off: nothing; Info: the new flow with its backend, no packets; Debug: the new flow and every packet',
            seen: seen.join('\n'),
            where: `cali_log on ${home.name} (dpconform bpf log --node ${home.name})`,
          });
        }
      });
    }
    recordEvidence(ctx, {
      kind: 'text',
      label: `records of one HTTP request to ${home.ip}:${NP}`,
      text: seen.join('\n'),
    });
    await expectInPlace(ids, 'bpfLogLevel');
  });

  it('FLX-002: bpfPSNATPorts is the range a pod reaching itself through its Service is SNATed from', async (ctx) => {
    bpfOnly(ctx);
    const where = `${solo.namespace}/${solo.name} -> its own Service ${service(c, SOLO).clusterIP}:80`;
    const lines: string[] = [];
    for (const [lo, hi] of [
      [21000, 21009],
      [22000, 22009],
    ] as const) {
      await withSettings({ bpfPSNATPorts: `${lo}-${hi}` }, async () => {
        const seen = await expectAnswer(
          ctx,
          c,
          `${solo.namespace}/${solo.name}`,
          { kind: 'http', host: service(c, SOLO).clusterIP, port: 80, path: '/clientip' },
          where,
        );
        const [ip, port] = [seen.replace(/:\d+$/, ''), Number(seen.split(':').pop())];
        lines.push(`bpfPSNATPorts ${lo}-${hi}: the pod saw ${seen}`);
        if (ip !== home.ip || port < lo || port > hi) {
          throw new ConformanceFailure('a hairpin connection was not SNATed from bpfPSNATPorts', {
            expected: `the pod sees ${home.ip} (its node) with a port in ${lo}-${hi}`,
            seen: lines.join('\n'),
            where,
          });
        }
      });
    }
    recordEvidence(ctx, { kind: 'text', label: 'what the pod saw as its client', text: lines.join('\n') });
  });

  it('FLX-003: bpfHostNetworkedNATWithoutCTLB: with connect-time balancing off, a host process reaches a ClusterIP when Enabled, and not when Disabled', async (ctx) => {
    bpfOnly(ctx);
    const cip = service(c, SOLO).clusterIP;
    const where = `${away.name} (a host process) -> ${cip}:80`;
    await withSettings(
      { bpfConnectTimeLoadBalancingEnabled: false, bpfHostNetworkedNATWithoutCTLB: 'Enabled' },
      async () => {
        const seen = await expectAnswer(
          ctx,
          c,
          away.name,
          { kind: 'http', host: cip, port: 80, path: '/clientip' },
          where,
        );
        if (!seen.startsWith(`${away.ip}:`)) {
          throw new ConformanceFailure('a host process reached the Service, but not as its node', {
            expected: `the backend sees ${away.ip}`,
            seen,
            where,
          });
        }
        await c.patchFelix({ bpfHostNetworkedNATWithoutCTLB: 'Disabled' });
        await expectNoAnswer(
          ctx,
          c,
          away.name,
          { kind: 'http', host: cip, port: 80, path: '/hostname', timeoutMs: 1000 },
          ['refused', 'timeout'],
          where,
        );
      },
    );
  });

  it('FLX-004: bpfKubeProxyEndpointSlicesEnabled: a Service without a selector takes its endpoints from an EndpointSlice, which a v1 Endpoints reader never sees', async (ctx) => {
    bpfOnly(ctx);
    const objs = [
      echoService('felix-slice', undefined, { nodePort: NP_SLICE }),
      endpointSlice('felix-slice', solo.ip, 8080, { nodeName: solo.nodeName }),
    ];
    await c.apply(objs);
    try {
      const where = `client -> ${away.ip}:${NP_SLICE} (Service felix-slice, endpoint ${solo.ip}:8080 from an EndpointSlice)`;
      const answer = await expectAnswer(
        ctx,
        c,
        'client',
        { kind: 'http', host: away.ip, port: NP_SLICE, path: '/hostname' },
        where,
      );
      if (answer !== solo.name) {
        throw new ConformanceFailure('the EndpointSlice’s endpoint did not answer', {
          expected: solo.name,
          seen: answer,
          where,
        });
      }
      await withSettings({ bpfKubeProxyEndpointSlicesEnabled: false }, async () => {
        await expectNoAnswer(
          ctx,
          c,
          'client',
          { kind: 'http', host: away.ip, port: NP_SLICE, path: '/hostname', timeoutMs: 1000 },
          ['refused'],
          where,
        );
      });
    } finally {
      await c.delete(objs);
    }
  });

  it('FLX-005: bpfDataIfacePattern (RE2) puts the programs on exactly the interfaces it matches, moves them in place when it changes, and a bad pattern is refused with the programs left where they were', async (ctx) => {
    oncePerRun(ctx);
    const node = c.node(away.name);
    // Two more interfaces in the node (a veth pair: the dummy module may be missing): one that
    // the guide's patterns match and one they do not.
    const dummies = ['ens9', 'bond7'];
    await node.exec(['ip', 'link', 'add', dummies[0]!, 'type', 'veth', 'peer', 'name', dummies[1]!]);
    for (const d of dummies) await node.exec(['ip', 'link', 'set', d, 'up']);
    const carrying = async (): Promise<string[]> =>
      (await c.footprint()).nodes[away.name]!.tcFilters.filter((f) => f.includes(' calico_from_hep'))
        .map((f) => f.split('/')[0]!)
        .filter((i) => !i.startsWith('cali'))
        .sort();
    const ids = await programIds();
    const original = c.settings().settings.bpfDataIfacePattern;
    const lines: string[] = [];
    try {
      for (const pattern of ['^(en.*|eth.*)$', '(?i)^ETH0$']) {
        await c.patchFelix({ bpfDataIfacePattern: pattern });
        const re = compileIfacePattern(pattern);
        const links = (await node.execJson<{ ifname: string }[]>(['ip', '-j', 'link', 'show'])).map(
          (l) => l.ifname,
        );
        const want = links
          .filter((l) => l !== 'lo' && l !== 'vx' && !l.startsWith('cali') && re.test(l))
          .sort();
        const have = await carrying();
        lines.push(`${pattern}: programs on ${have.join(', ') || 'nothing'} (matching: ${want.join(', ')})`);
        if (JSON.stringify(have) !== JSON.stringify(want)) {
          throw new ConformanceFailure('the programs are not on exactly the interfaces the pattern matches', {
            expected: want.join(', '),
            seen: lines.join('\n'),
            where: `tc filters on ${away.name}`,
          });
        }
      }
      let refused = '';
      try {
        await c.patchFelix({ bpfDataIfacePattern: '^(?!cali).*$' });
      } catch (err) {
        refused = err instanceof Error ? err.message : String(err);
      }
      const after = await carrying();
      lines.push(
        `^(?!cali).*$: ${refused ? `refused (${refused})` : 'accepted'}; programs on ${after.join(', ')}`,
      );
      recordEvidence(ctx, {
        kind: 'text',
        label: `interfaces carrying calico_from_hep on ${away.name}`,
        text: lines.join('\n'),
      });
      if (!refused || JSON.stringify(after) !== JSON.stringify(['eth0'])) {
        throw new ConformanceFailure(
          'a pattern Go cannot read was not refused, or left the node without its programs',
          {
            expected: 'refused at validation, programs still on eth0',
            seen: lines.join('\n'),
            where: `FelixConfiguration default, tc filters on ${away.name}`,
          },
        );
      }
      await expectInPlace(ids, 'bpfDataIfacePattern');
    } finally {
      await c.patchFelix({ bpfDataIfacePattern: original });
      await node.exec(['ip', 'link', 'del', dummies[0]!], { reject: false });
    }
  });

  it('FLX-006: a connection open across a bpfDSROptoutCIDRs change carries on, its replies moving to the Tunnel path at once', async (ctx) => {
    bpfOnly(ctx);
    if (passMode(c).serviceMode !== 'DSR') ctx.skip('checked in the DSR pass (opt-outs matter only there)');
    const client = c.topology().clients[1] ?? c.topology().clients[0]!;
    const id = `flx006-${Date.now()}`;
    const ids = await programIds();
    await c.streamStart(client.name, {
      id,
      host: away.ip,
      port: NP,
      intervalMs: 50,
      requestTimeoutMs: 1000,
      maxDurationMs: 60_000,
    });
    let stopped = false;
    try {
      await waitStream(c, client.name, id, (r) => r.ok >= 10 || r.failed > 0, 5000);
      const filter = `host ${client.ip}`;
      const run = await withCaptures({ away: c.captureSpec(away.name, 'eth0', filter) }, async () => {
        await withSettings({ bpfDSROptoutCIDRs: [`${client.ip}/32`] }, async () => {
          const mark = (await c.streamGet(client.name, id)).sent;
          await waitStream(c, client.name, id, (r) => r.sent >= mark + 10 || r.failed > 0, 5000);
        });
      });
      const held = await c.streamStop(client.name, id);
      stopped = true;
      const viaEntry = filterPackets(run.packets.away, { src: away.ip, dst: client.ip, layer: 'outer' });
      recordEvidence(ctx, { kind: 'text', label: 'the connection', text: describeStream(held) });
      recordEvidence(ctx, {
        kind: 'packet',
        where: `${away.name} eth0`,
        filter,
        packets: describePackets(viaEntry, 10).split('\n'),
      });
      if (held.failed > 0 || held.connectionsLost > 0 || held.connections !== 1) {
        throw new ConformanceFailure('the connection did not survive the opt-out change', {
          expected: 'every request answered on one connection',
          seen: describeStream(held),
          where: `${client.name} -> ${away.ip}:${NP} (backend on ${home.name})`,
        });
      }
      if (viaEntry.length === 0) {
        throw new ConformanceFailure('the opted-out client’s replies did not move to the Tunnel path', {
          expected: `replies ${away.ip} -> ${client.ip} leaving ${away.name} while the client is opted out`,
          seen: describePackets(run.packets.away, 10),
          where: `${away.name} eth0`,
        });
      }
      await expectInPlace(ids, 'bpfDSROptoutCIDRs');
    } finally {
      if (!stopped) await c.streamStop(client.name, id).catch(() => undefined);
    }
  });

  it('FLX-007: a map size that grows is taken in place: the map is larger, and an open connection keeps its conntrack entry', async (ctx) => {
    oncePerRun(ctx);
    const bpf = c.bpf()!;
    const id = `flx007-${Date.now()}`;
    const grown = c.settings().settings.bpfMapSizeConntrack * 2;
    await c.streamStart('client', {
      id,
      host: away.ip,
      port: NP,
      intervalMs: 50,
      requestTimeoutMs: 1000,
      maxDurationMs: 60_000,
    });
    let stopped = false;
    try {
      await waitStream(c, 'client', id, (r) => r.ok >= 10 || r.failed > 0, 5000);
      await withSettings({ bpfMapSizeConntrack: grown }, async () => {
        const max = (await bpf.mapUsage(away.name)).find((m) => m.name === 'cali_v4_ct')?.maxEntries;
        const mark = (await c.streamGet('client', id)).sent;
        const held = await waitStream(c, 'client', id, (r) => r.sent >= mark + 10 || r.failed > 0, 5000);
        recordEvidence(ctx, {
          kind: 'text',
          label: 'after the change',
          text: `cali_v4_ct max_entries ${max}; ${describeStream(held)}`,
        });
        if (max !== grown || held.failed > 0 || held.connectionsLost > 0) {
          throw new ConformanceFailure('growing the conntrack map was not taken in place', {
            expected: `cali_v4_ct of ${grown} entries, and the open connection answered throughout`,
            seen: `max_entries ${max}; ${describeStream(held)}`,
            where: `${away.name}; client -> ${away.ip}:${NP}`,
          });
        }
      });
    } finally {
      if (!stopped) {
        await c.streamStop('client', id).catch(() => undefined);
        stopped = true;
      }
    }
  });
});
