import { describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import { SCHEMA_VERSION } from '../../../src/report/model.ts';
import { collectPerformance, measuredText, spansDecades } from '../../../src/report/performance.ts';
import { qualificationViews, soloView } from '../../../src/report/views.ts';
import { figureFreeRun, perfRun } from './perf-sample-run.ts';

describe('collectPerformance', () => {
  const perf = collectPerformance(perfRun());

  test('collects every figure of every requirement in every pass, in report order', () => {
    expect(perf.rows).toHaveLength(20);
    expect(new Set(perf.rows.map((r) => r.lane))).toEqual(
      new Set(['bpf/Tunnel', 'bpf/DSR', 'iptables/Tunnel']),
    );
    // The map-full area's figure counts as much as the performance area's.
    expect(perf.rows[0]).toMatchObject({
      requirement: 'MF-001',
      lane: 'bpf/Tunnel',
      name: 'new flows per second with the map full',
    });
    expect(perf.rows.map((r) => r.lane).indexOf('bpf/DSR')).toBeGreaterThan(
      perf.rows.map((r) => r.lane).lastIndexOf('bpf/Tunnel'),
    );
  });

  test('a row carries the figure, the claim, the verdict and where it sits', () => {
    const ratio = perf.rows.find((r) => r.name === 'throughput NodePort client->pod, eBPF DSR / iptables');
    expect(ratio).toMatchObject({
      run: '',
      lane: 'bpf/DSR',
      area: 'performance',
      requirement: 'PERF-001',
      verdict: 'conformant',
      value: 1.31,
      spread: 0.04,
      better: 'higher',
      claim: '10-25 % more throughput than iptables',
      at: { view: 0, pass: 1, area: 2, requirement: 0 },
    });
    expect(ratio?.unit).toBeUndefined();
    const p99 = perf.rows.find((r) => r.name === 'latency p99, eBPF DSR');
    expect(p99?.verdict).toBe('non-conformant');
    expect(p99?.unit).toBe('µs');
  });

  test('figures with one chart title make one chart; without x, one bar per series', () => {
    expect(perf.charts.map((c) => [c.title, c.kind])).toEqual([
      ['throughput, Gbit/s', 'bar'],
      ['CPU per GB moved, s', 'bar'],
      ['per-packet cost, ns', 'line'],
    ]);
    const throughput = perf.charts[0]!;
    expect(throughput.unit).toBe('Gbit/s');
    expect(throughput.better).toBe('higher');
    // Series from three passes, in the order they were met.
    expect(throughput.series.map((s) => [s.name, s.points.map((p) => p.value)])).toEqual([
      ['eBPF Tunnel', [9.41]],
      ['eBPF DSR', [10.4]],
      ['iptables', [7.95]],
    ]);
    expect(throughput.series[2]?.points[0]?.row.lane).toBe('iptables/Tunnel');
  });

  test('with x, one line per series, its points in increasing x', () => {
    const line = perf.charts[2]!;
    expect(line.xLabel).toBe('Services');
    expect(line.unit).toBe('ns');
    expect(line.series.map((s) => [s.name, s.points.map((p) => [p.x, p.value])])).toEqual([
      [
        'eBPF',
        [
          [10, 92],
          [1000, 95],
          [10_000, 101],
        ],
      ],
      [
        'iptables',
        [
          [10, 118],
          [1000, 1240],
          [10_000, 11_800],
        ],
      ],
    ]);
  });

  test('figures without a chart are in the table only', () => {
    const charted = perf.charts.flatMap((c) => c.series.flatMap((s) => s.points.map((p) => p.row.name)));
    expect(charted).toHaveLength(12);
    expect(charted).not.toContain('connections per second, iptables');
    expect(perf.rows.map((r) => r.name)).toContain('connections per second, iptables');
  });

  test('a run without figures gives nothing to show', () => {
    expect(collectPerformance(figureFreeRun())).toEqual({ rows: [], charts: [] });
  });

  test('one series measured in several lanes becomes one bar per lane, side by side', () => {
    const run = perfRun();
    // The eBPF passes each measure the iptables baseline side by side, as PERF-001 does.
    for (const [p, value] of [
      [0, 7.9],
      [1, 8.1],
    ] as const) {
      run.passes[p]!.areas.at(-1)!.requirements[0]!.evidence.push({
        kind: 'figure',
        name: 'throughput NodePort client->pod, iptables',
        value,
        unit: 'Gbit/s',
        chart: { title: 'throughput, Gbit/s', series: 'iptables' },
      });
    }
    const chart = collectPerformance(run).charts[0]!;
    expect(chart.series.map((s) => [s.name, s.series, s.points[0]?.value])).toEqual([
      ['eBPF Tunnel', 'eBPF Tunnel', 9.41],
      ['iptables · bpf/Tunnel', 'iptables', 7.9],
      ['iptables · bpf/DSR', 'iptables', 8.1],
      ['iptables · iptables/Tunnel', 'iptables', 7.95],
      ['eBPF DSR', 'eBPF DSR', 10.4],
    ]);
  });

  test('a line chart leaves out a reading without x, and keeps it in the table', () => {
    const run = perfRun();
    run.passes[0]!.areas.at(-1)!.requirements[3]!.evidence.push({
      kind: 'figure',
      name: 'per-packet cost, eBPF, no Services',
      value: 90,
      unit: 'ns',
      chart: { title: 'per-packet cost, ns', series: 'eBPF' },
    });
    const perf2 = collectPerformance(run);
    expect(perf2.charts[2]?.series[0]?.points).toHaveLength(3);
    expect(perf2.rows.map((r) => r.name)).toContain('per-packet cost, eBPF, no Services');
  });

  test('a chart whose figures disagree on the unit or direction claims neither', () => {
    const run = perfRun();
    run.passes[2]!.areas.at(-1)!.requirements[0]!.evidence[0] = {
      kind: 'figure',
      name: 'throughput NodePort client->pod, iptables',
      value: 7950,
      unit: 'Mbit/s',
      chart: { title: 'throughput, Gbit/s', series: 'iptables' },
    };
    const chart = collectPerformance(run).charts[0]!;
    expect(chart.unit).toBeUndefined();
    expect(chart.better).toBeUndefined();
    expect(chart.series[2]?.points[0]?.unit).toBe('Mbit/s');
  });
});

describe('collectPerformance over a qualification', () => {
  const other = structuredClone(perfRun());
  other.runId = 'r-6.1';
  other.environment.kernel.release = '6.1.0-28-amd64';
  const q = mergeRuns(
    [perfRun(), other].map((run) => ({ run, source: run.runId, sourceSchemaVersion: SCHEMA_VERSION })),
    'release-7',
    new Date('2025-03-02T00:00:00Z'),
  );

  test('rows of every run, named by run; the same series in two runs is a bar per run', () => {
    const perf = collectPerformance(q);
    expect(perf.rows).toHaveLength(40);
    expect(new Set(perf.rows.map((r) => r.run))).toEqual(new Set(['r-6.1', 'r20250301-100000-ab12']));
    expect(perf.charts[0]?.series.map((s) => s.name)).toEqual([
      'eBPF Tunnel · r-6.1',
      'eBPF Tunnel · r20250301-100000-ab12',
      'eBPF DSR · r-6.1',
      'eBPF DSR · r20250301-100000-ab12',
      'iptables · r-6.1',
      'iptables · r20250301-100000-ab12',
    ]);
    const line = perf.charts[2]!;
    expect(line.series).toHaveLength(4);
    expect(line.series.every((s) => s.points.length === 3)).toBe(true);
  });

  test('the same from the qualification or from its views', () => {
    expect(collectPerformance(qualificationViews(q))).toEqual(collectPerformance(q));
    const run = perfRun();
    expect(collectPerformance([soloView(run)])).toEqual(collectPerformance(run));
  });
});

describe('figure text', () => {
  test('a reading with its unit and spread', () => {
    expect(measuredText({ value: 9.4123, unit: 'Gbit/s', spread: 0.12 })).toBe('9.412 Gbit/s ± 0.12');
    expect(measuredText({ value: 1.18 })).toBe('1.18');
  });

  test('a log scale only for positive values over more than two decades', () => {
    expect(spansDecades([10, 1000, 10_000])).toBe(true);
    expect(spansDecades([10, 1000])).toBe(false);
    expect(spansDecades([0, 10, 10_000])).toBe(false);
    expect(spansDecades([5])).toBe(false);
  });
});
