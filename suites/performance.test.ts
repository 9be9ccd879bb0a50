/**
 * Performance, side by side in one run on one cluster: the eBPF dataplane's figures against the
 * iptables dataplane's as the baseline, as ratios, with the figures in the evidence. Run when
 * asked (`--suite performance`), not by default: its figures need a machine left to itself.
 *
 * Throughput: an external client moves 256 MiB with iperf3 to and from a pod through a NodePort
 * and a LoadBalancer VIP whose backend is on another node (the bulk path: in the eBPF passes
 * every transfer crosses the tunnel); the best of several transfers counts on either side.
 */
import { beforeAll, describe, it } from 'vitest';
import type { Cluster } from '../src/cluster/types.ts';
import { ConformanceFailure, recordEvidence, recordSummary } from '../src/report/evidence.ts';
import { BulkPath } from './lib/bulk.ts';
import { passMode, service, suiteCluster } from './lib/harness.ts';
import { gbps } from './lib/iperf.ts';
import { COST_RATIO, perPacketCostAtScale } from './lib/scale.ts';

let c: Cluster;
let bulk: BulkPath;

/** The comparison's transfers: long enough for a steady rate, short enough to repeat. */
const BENCH_BYTES = 256 * 1024 * 1024;
/** How many times each transfer is repeated per dataplane and round (the best counts). */
const REPEATS = 3;
/**
 * Rounds of the comparison: another round (both dataplanes again) is run only while the eBPF
 * side is not yet within the ratio, since a busy machine slows either side at random.
 */
const ROUNDS = 3;
const RATIO = 0.8;

beforeAll(async () => {
  c = await suiteCluster();
  bulk = await BulkPath.setUp(c);
});

describe('performance', () => {
  it(`PERF-001: throughput through the tunnel each way is within ${RATIO}x of the iptables dataplane’s, measured side by side in this run`, async (ctx) => {
    bulk.ready(ctx);
    if (passMode(c).dataplane !== 'bpf') ctx.skip('the baseline itself; the eBPF passes compare against it');
    const fes = await bulk.frontends();
    /** Adds the best rate of REPEATS transfers per service and direction to `into`. */
    const measure = async (into: Map<string, number>): Promise<void> => {
      for (let i = 0; i < REPEATS; i++) {
        for (const fe of fes) {
          // Steady state, as a user's repeated iperf3 sees it: the path MTU stays learnt.
          const r = await bulk.both(fe, BENCH_BYTES, false);
          bulk.expectWhole(fe.label, r, BENCH_BYTES);
          for (const t of r.transfers) {
            const key = `${fe.label.split(' ')[0]} ${t.direction}`;
            into.set(key, Math.max(into.get(key) ?? 0, t.bitsPerSecond));
          }
        }
      }
    };
    const ebpf = new Map<string, number>();
    const baseline = new Map<string, number>();
    const within = () => [...ebpf].every(([k, v]) => v >= RATIO * (baseline.get(k) ?? Infinity));
    let rounds = 0;
    while (rounds < ROUNDS && (rounds === 0 || !within())) {
      rounds++;
      await measure(ebpf);
      await c.switchDataplane('iptables');
      try {
        await c.routeVia(service(c, 'bulk-lb').loadBalancerIP!, [bulk.entry.name]);
        await measure(baseline);
      } finally {
        await c.switchDataplane('bpf');
        await c.routeVia(service(c, 'bulk-lb').loadBalancerIP!, [bulk.entry.name]);
      }
    }
    const rows = [...ebpf].map(([key, v]) => ({ key, ebpf: v, iptables: baseline.get(key) ?? 0 }));
    for (const row of rows) {
      recordEvidence(ctx, {
        kind: 'figure',
        name: `throughput ${row.key}, eBPF ${passMode(c).serviceMode} / iptables`,
        value: row.iptables > 0 ? row.ebpf / row.iptables : 0,
        better: 'higher',
      });
    }
    const table = rows.map(
      (r) =>
        `${r.key}: eBPF ${gbps(r.ebpf)}, iptables ${gbps(r.iptables)}, ratio ${(r.ebpf / r.iptables).toFixed(2)}`,
    );
    recordEvidence(ctx, {
      kind: 'text',
      label: `best of ${rounds * REPEATS} transfers of ${BENCH_BYTES / 1024 / 1024} MiB each, per dataplane`,
      text: table.join('\n'),
    });
    recordSummary(ctx, table.join('; '));
    const slow = rows.filter((r) => r.ebpf < RATIO * r.iptables);
    if (slow.length > 0) {
      throw new ConformanceFailure(`the tunnel path is slower than ${RATIO}x of iptables`, {
        expected: `eBPF (${passMode(c).serviceMode}) throughput >= ${RATIO} x iptables for every service and direction`,
        seen: table.join('\n'),
        where: `client -> entry ${bulk.entry.name} -> backend ${bulk.backend.name} on ${bulk.home.name}`,
      });
    }
  });
});

describe('performance at scale', () => {
  it(
    `PERF-005: per-packet cost of the node’s ingress program at 10,000 Services is within ${COST_RATIO}x of its cost at 10`,
    (ctx) => perPacketCostAtScale(ctx, c),
    10 * 60_000,
  );
});
