/**
 * Map sizing and full maps: the bpfMapSize* settings reach the kernel; a full conntrack map evicts
 * least recently used flows, gives every new flow an entry and re-creates an evicted live
 * connection on its backend (counted); a full NAT frontend map refuses whole Services, says so,
 * and programs them once room is made; usage above 80 % shows in the map readers and the gauges.
 */

import { beforeAll, beforeEach, describe, it } from 'vitest';
import { mapLines } from '../src/cli/inspect.ts';
import {
  type BpfDataplane,
  type Cluster,
  type FelixSettings,
  MAP,
  MAP_USAGE_WARN_RATIO,
  METRIC,
  PROG,
  REASON_CT_RECREATED,
} from '../src/cluster/types.ts';
import {
  attachJson,
  attachText,
  ConformanceFailure,
  counterEvidence,
  recordEvidence,
} from '../src/report/evidence.ts';
import type { StreamRecord } from '../src/workload/types.ts';
import { expectAnswer, expectNoAnswer } from './lib/expect.ts';
import { waitStream } from './lib/flows.ts';
import { fixture, nodePortOf, service, suiteCluster } from './lib/harness.ts';
import { morphService } from './lib/objects.ts';

const FAILED_CT = 'failed to create conntrack';

let c: Cluster;

beforeAll(async () => {
  c = await suiteCluster();
  await c.apply(fixture('workloads/echo.yaml'));
});

beforeEach((ctx) => {
  if (!c.bpf()) ctx.skip('map sizes are eBPF dataplane settings; this pass runs iptables');
});

function dp(): BpfDataplane {
  const d = c.bpf();
  if (!d) throw new Error('the cluster left the eBPF dataplane during the test');
  return d;
}

/** Runs `fn` with FelixConfiguration fields patched, then puts the previous values back. */
async function withSettings<T>(fields: Partial<FelixSettings>, fn: () => Promise<T>): Promise<T> {
  const now = c.settings().settings;
  const previous = Object.fromEntries(
    Object.keys(fields).map((k) => [k, now[k as keyof FelixSettings]]),
  ) as Partial<FelixSettings>;
  await c.patchFelix(fields);
  try {
    return await fn();
  } finally {
    await c.patchFelix(previous);
  }
}

/** A counter reason summed over every interface and hook of every node. */
async function counterTotal(reason: string): Promise<number> {
  let sum = 0;
  for (const n of c.topology().nodes) {
    for (const row of await dp().counters(n.name)) if (row.reason === reason) sum += Number(row.packets);
  }
  return sum;
}

/** Every node's counters by interface, hook and reason: a snapshot for the evidence files. */
async function countersOfNodes(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  for (const n of c.topology().nodes) out[n.name] = await dp().counters(n.name);
  return out;
}

function describeStream(r: StreamRecord): string {
  return `${r.target}: sent ${r.sent}, ok ${r.ok}, failed ${r.failed}, connections ${r.connections}, lost ${r.connectionsLost}, backends ${r.bodies.join('/') || 'none'}, longest gap ${Math.round(r.longestGapMs)} ms${r.firstError ? `, first error ${r.firstError}` : ''}`;
}

/**
 * Where the kernel's NAT maps hold Services other than `whole` says: all of a Service's
 * frontends (ClusterIP and NodePort) on every node, or none anywhere; and no backend entry
 * whose service id no frontend names (what is left of a Service refused in part). One line per
 * Service and node.
 */
async function notWhole(names: readonly string[], whole: readonly boolean[]): Promise<string[]> {
  const out: string[] = [];
  for (const n of c.topology().nodes) {
    const fes = await dp().frontends(n.name);
    const ids = new Set(fes.map((f) => f.value.svcId));
    const orphans = (await dp().backends(n.name)).filter((b) => !ids.has(b.key.svcId));
    if (orphans.length > 0) {
      out.push(
        `${n.name}: ${orphans.length} backend entries of no frontend (service ids ${[...new Set(orphans.map((b) => b.key.svcId))].join(', ')}: ${orphans.map((b) => `${b.value.addr}:${b.value.port}`).join(', ')})`,
      );
    }
    names.forEach((name, i) => {
      const svc = service(c, name);
      const want = [
        { addr: svc.clusterIP, port: svc.ports[0]!.port },
        { addr: '0.0.0.0', port: nodePortOf(svc) },
      ];
      const held = want.filter((w) => fes.some((f) => f.key.addr === w.addr && f.key.port === w.port));
      if (held.length !== (whole[i] ? want.length : 0)) {
        out.push(
          `${n.name}: ${name} has ${held.length} of ${want.length} frontends (${held.map((h) => `${h.addr}:${h.port}`).join(', ') || 'none'})`,
        );
      }
    });
  }
  return out;
}

describe('map-full', () => {
  it('MAP-001: the bpfMapSize* settings are the max_entries of the maps on every node', async (ctx) => {
    const want = {
      bpfMapSizeNATFrontend: 4099,
      bpfMapSizeNATBackend: 8209,
      bpfMapSizeNATAffinity: 2053,
      bpfMapSizeRoute: 1031,
      bpfMapSizeConntrack: 3001,
    } satisfies Partial<FelixSettings>;
    const mapOf: Record<keyof typeof want, string> = {
      bpfMapSizeNATFrontend: MAP.natFrontend,
      bpfMapSizeNATBackend: MAP.natBackend,
      bpfMapSizeNATAffinity: MAP.natAffinity,
      bpfMapSizeRoute: MAP.routes,
      bpfMapSizeConntrack: MAP.conntrack,
    };
    await withSettings(want, async () => {
      const lines: string[] = [];
      const wrong: string[] = [];
      for (const n of c.topology().nodes) {
        const usage = await dp().mapUsage(n.name);
        for (const [field, size] of Object.entries(want) as [keyof typeof want, number][]) {
          const m = usage.find((u) => u.name === mapOf[field]);
          lines.push(
            `${n.name} ${mapOf[field]} max_entries ${m?.maxEntries ?? 'missing'} (${field} ${size})`,
          );
          if (m?.maxEntries !== size)
            wrong.push(`${n.name} ${mapOf[field]}: ${m?.maxEntries ?? 'missing'} (want ${size})`);
        }
      }
      recordEvidence(ctx, {
        kind: 'text',
        label: 'max_entries read back with bpftool',
        text: lines.join('\n'),
      });
      if (wrong.length > 0) {
        throw new ConformanceFailure('map sizes in the kernel differ from the FelixConfiguration', {
          expected: Object.entries(want)
            .map(([f, v]) => `${f} ${v}`)
            .join(', '),
          seen: wrong.join('; '),
          where: 'bpftool map show of the pinned maps',
        });
      }
    });
  });

  it('MAP-002: a full conntrack map evicts idle flows, admits every new flow and re-creates an evicted live connection on its backend', async (ctx) => {
    const CT_SIZE = 256;
    const entry = c.topology().nodes[0]!;
    const client = c.topology().clients[0]!;
    const port = nodePortOf(service(c, 'echo-nodeport'));
    const where = `${entry.name} ${entry.ip}:${port} (bpfMapSizeConntrack ${CT_SIZE})`;
    // Ids of this run only: a stream an earlier, interrupted run left behind is no obstacle.
    const busyId = `mapfull-busy-${Date.now()}`;
    const idleId = `mapfull-idle-${Date.now()}`;
    await withSettings({ bpfMapSizeConntrack: CT_SIZE }, async () => {
      const failedBefore = await counterTotal(FAILED_CT);
      const recreatedBefore = await counterTotal(REASON_CT_RECREATED);
      const countersBefore = await countersOfNodes();
      const target = { host: entry.ip, port, path: '/hostname' };
      // Established before the map fills: one busy connection, one that sleeps through the flood.
      await c.streamStart('client', {
        id: busyId,
        ...target,
        intervalMs: 100,
        maxDurationMs: 30_000,
      });
      await c.streamStart('client', {
        id: idleId,
        ...target,
        intervalMs: 3000,
        requestTimeoutMs: 2000,
        maxDurationMs: 30_000,
      });
      try {
        const idle0 = await waitStream(c, 'client', idleId, (r) => r.ok >= 1, 2000);
        const idlePort = idle0.localPort;
        if (idlePort === undefined || idle0.ok < 1)
          throw new Error(`the idle stream never connected: ${describeStream(idle0)}`);
        const started = Date.now();

        // New flows until the idle connection's entry has been evicted on the entry node.
        let probes = 0;
        let refused = 0;
        let firstFailure = '';
        let idleEntry = true;
        let lastCt: unknown = [];
        // In batches, so that a map that refuses new flows is told at once, not after thousands.
        for (let batch = 0; batch < 9 && idleEntry && refused === 0; batch++) {
          const reqs = Array.from({ length: CT_SIZE }, () => ({ kind: 'http' as const, ...target }));
          const results = await c.probes('client', reqs, 32);
          probes += results.length;
          for (const r of results) {
            if (r.ok) continue;
            refused++;
            firstFailure ||= `${r.error} (${r.errorMessage ?? ''})`;
          }
          const ct = await dp().conntrack(entry.name);
          lastCt = ct;
          idleEntry = ct.some((e) => e.key.saddr === client.ip && e.key.sport === idlePort);
        }
        const usage = (await dp().mapUsage(entry.name)).find((m) => m.name === MAP.conntrack);
        attachJson(
          ctx,
          {
            name: `conntrack-${entry.name}.json`,
            kind: 'map-dump',
            title: `${MAP.conntrack} on ${entry.name} after ${probes} new flows (${usage?.entries}/${usage?.maxEntries} entries)`,
            where: entry.name,
          },
          lastCt,
        );
        recordEvidence(ctx, {
          kind: 'text',
          label: `conntrack on ${entry.name} after ${probes} new flows`,
          text: `${usage?.entries}/${usage?.maxEntries} entries; idle connection ${client.ip}:${idlePort} ${idleEntry ? 'still has' : 'has no'} entry`,
        });
        if (refused > 0) {
          throw new ConformanceFailure('new flows were refused while the conntrack map was full', {
            expected: 'every new flow answered (LRU: a new flow always gets an entry)',
            seen: `${refused} of ${probes} failed, first: ${firstFailure}`,
            where,
          });
        }
        if (idleEntry) {
          throw new ConformanceFailure('a full conntrack map did not evict the least recently used flow', {
            expected: `the idle connection's entry evicted by ${probes} new flows through a map of ${CT_SIZE}`,
            seen: `its entry still there; ${usage?.entries}/${usage?.maxEntries} entries`,
            where: `${where}: dpconform bpf conntrack dump`,
          });
        }
        if (!usage || usage.entries > CT_SIZE) {
          throw new ConformanceFailure('the conntrack map holds more than its size', {
            expected: `at most ${CT_SIZE} entries`,
            seen: `${usage?.entries} entries of max_entries ${usage?.maxEntries}`,
            where,
          });
        }

        // The idle connection's next request comes 3 s after its first.
        const idle = await waitStream(
          c,
          'client',
          idleId,
          (r) => r.sent >= 2,
          3000 - (Date.now() - started) + 3000,
        );
        const idleEnd = await c.streamStop('client', idleId);
        const busy = await c.streamStop('client', busyId);
        recordEvidence(ctx, { kind: 'text', label: 'idle connection', text: describeStream(idleEnd) });
        recordEvidence(ctx, { kind: 'text', label: 'busy connection', text: describeStream(busy) });
        const recreated = await counterTotal(REASON_CT_RECREATED);
        const failed = await counterTotal(FAILED_CT);
        attachJson(
          ctx,
          {
            name: 'counters.json',
            kind: 'counters',
            title: "every node's counters by interface, hook and reason, before the flood and after it",
          },
          { before: countersBefore, after: await countersOfNodes() },
        );
        recordEvidence(
          ctx,
          counterEvidence(REASON_CT_RECREATED, recreatedBefore, recreated, { where: 'all nodes' }),
        );
        recordEvidence(ctx, counterEvidence(FAILED_CT, failedBefore, failed, { where: 'all nodes' }));

        if (
          idle.sent < 2 ||
          idleEnd.failed > 0 ||
          idleEnd.connectionsLost > 0 ||
          idleEnd.bodies.length !== 1
        ) {
          throw new ConformanceFailure('a connection whose conntrack entry was evicted did not carry on', {
            expected: 'its next request answered on the same connection by the same backend',
            seen: describeStream(idleEnd),
            where,
          });
        }
        if (recreated <= recreatedBefore) {
          throw new ConformanceFailure(
            `an evicted connection was re-created without counting "${REASON_CT_RECREATED}"`,
            {
              expected: `"${REASON_CT_RECREATED}" to grow`,
              seen: `${recreatedBefore} -> ${recreated}`,
              where: `${where}: dpconform bpf counters dump`,
            },
          );
        }
        if (busy.failed > 0 || busy.connectionsLost > 0 || busy.bodies.length !== 1) {
          throw new ConformanceFailure('a busy connection established before the map filled broke', {
            expected: 'every request answered on one connection by one backend',
            seen: describeStream(busy),
            where,
          });
        }
        if (failed !== failedBefore) {
          throw new ConformanceFailure(`"${FAILED_CT}" was counted with the map full`, {
            expected: 'no refusal (LRU evicts instead)',
            seen: `${failedBefore} -> ${failed}`,
            where: `${where}: dpconform bpf counters dump`,
          });
        }
        const detached: string[] = [];
        const attached = (await c.footprint()).nodes;
        for (const n of c.topology().nodes) {
          const hooks: [string, 'ingress' | 'egress', string][] = [
            ['eth0', 'ingress', PROG.hostIngress],
            ['eth0', 'egress', PROG.hostEgress],
            ['vx', 'ingress', PROG.vxlanIngress],
          ];
          for (const [iface, hook, prog] of hooks) {
            if (!attached[n.name]?.tcFilters.includes(`${iface}/${hook} ${prog}`))
              detached.push(`${n.name} ${iface} ${hook}`);
          }
        }
        if (detached.length > 0) {
          throw new ConformanceFailure('programs were detached while the conntrack map was full', {
            expected: 'dpc programs on every eth0 and vx hook',
            seen: `missing on ${detached.join(', ')}`,
            where: 'tc filter show',
          });
        }
      } finally {
        await c.streamStop('client', busyId).catch(() => {});
        await c.streamStop('client', idleId).catch(() => {});
      }
    });
  });

  it('MAP-003: Services beyond the NAT frontend map are refused whole and reported; deleting others programs them', async (ctx) => {
    const node = c.topology().nodes[0]!;
    const names = ['mapfull-a', 'mapfull-b', 'mapfull-c'] as const;
    const ports = [30191, 30192, 30193] as const;
    const objects = names.map((n, i) => morphService(n, 'NodePort', ports[i]!));
    let used = 0;
    for (const n of c.topology().nodes) used = Math.max(used, (await dp().frontends(n.name)).length);
    // Room for two more NodePort Services (a ClusterIP and a NodePort frontend each), not three.
    const size = used + 4;
    const probe = (i: number) => ({
      kind: 'http' as const,
      host: node.ip,
      port: ports[i]!,
      path: '/hostname',
    });
    await withSettings({ bpfMapSizeNATFrontend: size }, async () => {
      try {
        await c.apply([objects[0]!, objects[1]!]);
        await c.apply([objects[2]!]);
        const errors = c.syncErrors();
        attachJson(
          ctx,
          {
            name: `nat-frontend-${node.name}.json`,
            kind: 'map-dump',
            title: `${MAP.natFrontend} on ${node.name} with mapfull-a, -b and -c applied (bpfMapSizeNATFrontend ${size})`,
            where: node.name,
          },
          await dp().frontends(node.name),
        );
        recordEvidence(ctx, {
          kind: 'text',
          label: `sync errors (bpfMapSizeNATFrontend ${size})`,
          text: errors.join('\n'),
        });
        const refusal = errors.find((e) => e.includes('default/mapfull-c') && e.includes(MAP.natFrontend));
        if (!refusal || errors.some((e) => /mapfull-[ab]/.test(e))) {
          throw new ConformanceFailure('the Service beyond the frontend map is not reported as refused', {
            expected: `default/mapfull-c named with ${MAP.natFrontend}, nothing about mapfull-a or -b`,
            seen: errors.join('; ') || 'no sync errors',
            where: 'cluster sync report (dpconform status)',
          });
        }
        // Whole or not at all, as the kernel holds it on every node: a and b have all their
        // frontends, c has none.
        const partial = await notWhole(names, [true, true, false]);
        if (partial.length > 0) {
          throw new ConformanceFailure('the NAT maps do not hold whole Services only', {
            expected:
              'mapfull-a and mapfull-b: ClusterIP and NodePort frontends on every node; mapfull-c: no frontend and no backend anywhere',
            seen: partial.join('; '),
            where: `${MAP.natFrontend} and ${MAP.natBackend} on every node (dpconform bpf nat dump)`,
          });
        }
        await expectAnswer(ctx, c, 'client', probe(0), `${node.name}:${ports[0]} (programmed first)`);
        await expectAnswer(ctx, c, 'client', probe(1), `${node.name}:${ports[1]} (programmed first)`);
        await expectNoAnswer(
          ctx,
          c,
          'client',
          { ...probe(2), timeoutMs: 2000 },
          ['refused', 'timeout', 'reset'],
          `${node.name}:${ports[2]} (refused for room)`,
        );

        await c.delete([objects[0]!]);
        const after = c.syncErrors();
        recordEvidence(ctx, {
          kind: 'text',
          label: 'sync errors after deleting mapfull-a',
          text: after.join('\n') || 'none',
        });
        if (after.some((e) => e.includes('mapfull-c'))) {
          throw new ConformanceFailure('the pending Service is still refused after room was made', {
            expected: 'default/mapfull-c programmed at the next sync',
            seen: after.join('; '),
            where: 'cluster sync report',
          });
        }
        const stillPartial = await notWhole(names.slice(1), [true, true]);
        if (stillPartial.length > 0) {
          throw new ConformanceFailure('the pending Service was not programmed whole once room was made', {
            expected:
              'mapfull-b and mapfull-c: ClusterIP and NodePort frontends on every node, no stray backend',
            seen: stillPartial.join('; '),
            where: `${MAP.natFrontend} and ${MAP.natBackend} on every node (dpconform bpf nat dump)`,
          });
        }
        await expectAnswer(
          ctx,
          c,
          'client',
          probe(2),
          `${node.name}:${ports[2]} (after mapfull-a was deleted)`,
        );
        await expectAnswer(ctx, c, 'client', probe(1), `${node.name}:${ports[1]} (still there)`);
      } finally {
        await c.delete(objects);
      }
    });
  });

  it('MAP-004: map usage above 80 % is reported by the map readers and the map gauges', async (ctx) => {
    const node = c.topology().nodes[0]!;
    const used = (await dp().frontends(node.name)).length;
    let size = 0;
    for (const n of c.topology().nodes) size = Math.max(size, (await dp().frontends(n.name)).length);
    // The fullest node just fits: every node is above the threshold when they hold the same.
    size = Math.max(size, Math.ceil(used / 0.9));
    await withSettings({ bpfMapSizeNATFrontend: size }, async () => {
      const usage = await dp().mapUsage(node.name);
      attachJson(
        ctx,
        {
          name: `map-usage-${node.name}.json`,
          kind: 'map-dump',
          title: `size and fill of every map on ${node.name} (bpfMapSizeNATFrontend ${size})`,
          where: node.name,
        },
        usage,
      );
      const lines = mapLines([{ node: node.name, data: usage }]);
      const fe = lines.find((l) => l.map === MAP.natFrontend);
      recordEvidence(ctx, {
        kind: 'text',
        label: `dpconform bpf maps --node ${node.name}`,
        text: lines
          .map((l) => `${l.map} ${l.used}/${l.max} ${l.percent}%${l.flagged ? ' !' : ''}`)
          .join('\n'),
      });
      if (!fe?.flagged || fe.used / fe.max <= MAP_USAGE_WARN_RATIO) {
        throw new ConformanceFailure(
          `${MAP.natFrontend} above ${MAP_USAGE_WARN_RATIO * 100}% is not flagged`,
          {
            expected: `${MAP.natFrontend} at ${used}/${size} flagged`,
            seen: fe ? `${fe.used}/${fe.max} ${fe.percent}% flagged ${fe.flagged}` : 'no such map',
            where: `${node.name}: dpconform bpf maps`,
          },
        );
      }
      const scrape = await c.metrics(node.name);
      attachText(
        ctx,
        {
          name: `metrics-${node.name}.prom`,
          kind: 'metrics',
          title: `scrape of ${scrape.url}`,
          where: scrape.url,
        },
        scrape.text,
      );
      const gauge = (name: string) =>
        scrape.samples.find((s) => s.name === name && s.labels.map === MAP.natFrontend)?.value;
      const entries = gauge(METRIC.mapEntries.name);
      const max = gauge(METRIC.mapMaxEntries.name);
      recordEvidence(ctx, {
        kind: 'text',
        label: `${scrape.url}`,
        text: scrape.text
          .split('\n')
          .filter((l) => l.includes(`map="${MAP.natFrontend}"`))
          .join('\n'),
      });
      if (
        entries === undefined ||
        max === undefined ||
        max !== size ||
        entries / max <= MAP_USAGE_WARN_RATIO
      ) {
        throw new ConformanceFailure('the map gauges do not show the frontend map above 80 %', {
          expected: `${METRIC.mapEntries.name}/${METRIC.mapMaxEntries.name} for ${MAP.natFrontend} = ${used}/${size}`,
          seen: `${entries ?? 'missing'}/${max ?? 'missing'}`,
          where: scrape.url,
        });
      }
    });
  });
});
