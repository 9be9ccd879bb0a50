import { describe, expect, test } from 'vitest';
import { collectPerformance, type PerformanceChart } from '../../../src/report/performance.ts';
import {
  barChartSvg,
  chartSvg,
  lineChartSvg,
  seriesColours,
  tickText,
} from '../../../src/report/render-svg.ts';
import { perfRun } from './perf-sample-run.ts';
import { NASTY } from './sample-run.ts';

const perf = collectPerformance(perfRun());
const colours = seriesColours(perf);
const [throughput, cpu, perPacket] = perf.charts as [PerformanceChart, PerformanceChart, PerformanceChart];

function attrs(svg: string, tag: string, name: string): number[] {
  return [...svg.matchAll(new RegExp(`<${tag} class="[^"]*"[^>]*? ${name}="([-\\d.]+)"`, 'g'))].map((m) =>
    Number(m[1]),
  );
}

function tickLabels(svg: string): { x: number; text: string }[] {
  return [
    ...svg.matchAll(/<text class="c-tick" x="([\d.]+)" y="[\d.]+" text-anchor="middle">([^<]*)<\/text>/g),
  ].map((m) => ({ x: Number(m[1]), text: m[2] ?? '' }));
}

describe('bar charts', () => {
  const svg = barChartSvg(throughput, 'c0', colours);

  test('one bar per series, each labelled with its name and value', () => {
    expect(svg.match(/<rect class="bar"/g)).toHaveLength(3);
    for (const label of ['eBPF Tunnel', 'eBPF DSR', 'iptables']) expect(svg).toContain(`>${label}</text>`);
    expect(svg).toContain('<text class="c-value"');
    expect(svg).toContain('>9.41 Gbit/s ± 0.12</text>');
  });

  test('bars are scaled to the largest reading with its spread', () => {
    const widths = attrs(svg, 'rect', 'width');
    const [tunnel = 0, dsr = 0, iptables = 0] = widths;
    expect(dsr).toBeGreaterThan(tunnel);
    expect(tunnel).toBeGreaterThan(iptables);
    expect(tunnel / iptables).toBeCloseTo(9.41 / 7.95, 2);
    expect(dsr).toBeCloseTo((320 * 10.4) / 10.6, 1);
  });

  test('names itself for a screen reader and says which way is better', () => {
    expect(svg).toMatch(
      /^<svg class="chart-svg" role="img" aria-labelledby="c0-t c0-d" viewBox="0 0 [\d.]+ [\d.]+"/,
    );
    expect(svg).toContain('<title id="c0-t">throughput, Gbit/s</title>');
    expect(svg).toContain('<desc id="c0-d">Bar chart. eBPF Tunnel: 9.41 Gbit/s ± 0.12; ');
    expect(svg).toContain('>higher is better</text>');
    expect(svg.match(/<g class="c-bar"><title>/g)).toHaveLength(3);
    expect(svg).toContain('<title>iptables: 7.95 Gbit/s ± 0.15 (iptables/Tunnel PERF-001)</title>');
  });

  test('a series keeps its colour from chart to chart', () => {
    const fill = (s: string, name: string) =>
      s.match(new RegExp(`>${name}</text><rect class="bar"[^>]*fill="(#[0-9a-f]{6})"`))?.[1];
    const other = barChartSvg(cpu, 'c1', colours);
    expect(fill(svg, 'iptables')).toBe(fill(other, 'iptables'));
    expect(fill(svg, 'iptables')).not.toBe(fill(svg, 'eBPF Tunnel'));
    expect(lineChartSvg(perPacket, 'c2', colours)).toContain(`stroke="${colours.get('iptables')}"`);
  });
});

describe('line charts', () => {
  const svg = lineChartSvg(perPacket, 'c2', colours);

  test('one line per series and one point per reading, with a legend', () => {
    expect(svg.match(/<polyline /g)).toHaveLength(2);
    expect(svg.match(/<circle class="point"/g)).toHaveLength(6);
    expect(svg.match(/<g class="c-legend"/g)).toHaveLength(2);
    expect(svg).toContain('<title>iptables, 10,000 Services: 11800 ns ± 260</title>');
    expect(svg).toContain('<title id="c2-t">per-packet cost, ns</title>');
    expect(svg).toContain('<desc id="c2-d">Line chart (log scale on x and y). eBPF: 10 → 92 ns ± 3, ');
  });

  test('x ticks at the data’s x values, on a log scale over three decades', () => {
    const ticks = tickLabels(svg);
    expect(ticks.map((t) => t.text)).toEqual(['10', '1,000', '10,000']);
    const [a, b, c] = ticks.map((t) => t.x) as [number, number, number];
    // 10 -> 1000 is two decades, 1000 -> 10000 one.
    expect((b - a) / (c - b)).toBeCloseTo(2, 1);
    expect(svg).toContain('>Services (log scale)</text>');
  });

  test('x on a linear scale when the values span two decades or less', () => {
    const chart: PerformanceChart = {
      ...perPacket,
      series: perPacket.series.map((s) => ({
        ...s,
        points: s.points.map((p, i) => ({ ...p, x: [1, 2, 4][i] ?? 0 })),
      })),
    };
    const linear = lineChartSvg(chart, 'c', colours);
    const [a, b, c] = tickLabels(linear).map((t) => t.x) as [number, number, number];
    expect((c - b) / (b - a)).toBeCloseTo(2, 1);
    expect(linear).toContain('>Services</text>');
  });

  test('y on a log scale labelled by decades when readings span more than two', () => {
    const yTicks = [
      ...svg.matchAll(/<text class="c-tick" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</g),
    ].map((m) => m[1]);
    expect(yTicks).toEqual(['10', '100', '1,000', '10,000', '100,000']);
    expect(svg).toContain('>ns (log scale)</text>');
  });

  test('y from zero on a linear scale otherwise', () => {
    const flat: PerformanceChart = {
      ...perPacket,
      series: perPacket.series.slice(0, 1),
    };
    const linear = lineChartSvg(flat, 'c', colours);
    const yTicks = [
      ...linear.matchAll(/<text class="c-tick" x="[\d.]+" y="[\d.]+" text-anchor="end">([^<]*)</g),
    ].map((m) => m[1]);
    expect(yTicks).toEqual(['0', '50', '100', '150']);
    expect(linear).toContain('>ns</text>');
    expect(linear).toContain('Line chart (log scale on x).');
  });

  test('one series split by run keeps its colour, and its lines differ by dash', () => {
    const split: PerformanceChart = {
      ...perPacket,
      series: [
        { ...perPacket.series[0]!, name: 'eBPF · r1' },
        { ...perPacket.series[0]!, name: 'eBPF · r2' },
      ],
    };
    const svg2 = lineChartSvg(split, 'c', colours);
    const lines = [...svg2.matchAll(/<polyline [^>]*\/>/g)].map((m) => m[0]);
    expect(lines).toHaveLength(2);
    expect(lines.every((l) => l.includes(`stroke="${colours.get('eBPF')}"`))).toBe(true);
    expect(lines[0]).not.toContain('stroke-dasharray');
    expect(lines[1]).toContain('stroke-dasharray="7 4"');
    const bars = barChartSvg({ ...split, kind: 'bar' }, 'c', colours);
    expect(bars.match(/fill-opacity="0.7"/g)).toHaveLength(3);
  });

  test('chartSvg draws each chart as its kind says', () => {
    expect(chartSvg(perPacket, 'x', colours)).toContain('<polyline ');
    expect(chartSvg(throughput, 'x', colours)).toContain('<rect class="bar"');
  });
});

describe('text in charts', () => {
  test('titles, series, units and axis names are escaped', () => {
    const nasty: PerformanceChart = {
      ...perPacket,
      title: NASTY,
      unit: NASTY,
      xLabel: NASTY,
      series: perPacket.series.map((s) => ({ ...s, name: `${s.name} ${NASTY}` })),
    };
    for (const svg of [
      lineChartSvg(nasty, 'n', colours),
      barChartSvg({ ...nasty, kind: 'bar' }, 'n', colours),
    ]) {
      expect(svg).not.toContain('<script>');
      expect(svg).not.toContain('\u0001');
      expect(svg).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    }
  });

  test('tick labels read as numbers', () => {
    expect(tickText(10_000)).toBe('10,000');
    expect(tickText(0.1 + 0.2)).toBe('0.3');
    expect(tickText(2.5)).toBe('2.5');
  });
});
