/**
 * The performance section's charts as inline SVG, drawn by hand: a report page loads nothing, so
 * there is no chart library, and each chart names itself (`<title>`, `<desc>`) for a screen
 * reader. Colours come from the page's CSS where the theme matters (text, axes, grid) and from
 * one fixed palette for series, readable on light and dark backgrounds alike.
 */
import { html } from './format.ts';
import {
  type ChartPoint,
  measuredText,
  type Performance,
  type PerformanceChart,
  spansDecades,
} from './performance.ts';

const PALETTE = ['#2f81f7', '#e8590c', '#8250df', '#2da44e', '#d6336c', '#bf8700', '#0e8a9a', '#6e7781'];

/** A colour per recorded series, the same in every chart of the section: `iptables` always orange. */
export function seriesColours(perf: Pick<Performance, 'charts'>): Map<string, string> {
  const out = new Map<string, string>();
  for (const chart of perf.charts) {
    for (const s of chart.series) {
      if (!out.has(s.series)) out.set(s.series, PALETTE[out.size % PALETTE.length] ?? '#6e7781');
    }
  }
  return out;
}

// No text metrics without a browser: an average glyph of the page's sans-serif at 12px is about
// 6.6px wide, which is close enough to keep labels from running into bars.
const CHAR = 6.6;

function textWidth(text: string): number {
  return [...text].length * CHAR;
}

/** Coordinates with at most two decimals: shorter markup, no visible difference. */
function n(v: number): string {
  return String(Math.round(v * 100) / 100);
}

/** A tick label: `10,000`, `0.25`. */
export function tickText(v: number): string {
  return Number(v.toPrecision(6)).toLocaleString('en-US', { maximumFractionDigits: 3 });
}

// One recorded series split by lane or run shares its colour; its lines differ by dash and its
// bars by shade, so two runs' lines stay apart even where they cross.
const DASHES = ['', '7 4', '2 3', '10 3 2 3'];
const SHADES = [1, 0.7, 0.5, 0.35];

/** For each series of a chart, how many before it share its recorded series. */
function variants(chart: PerformanceChart): number[] {
  const seen = new Map<string, number>();
  return chart.series.map((s) => {
    const k = seen.get(s.series) ?? 0;
    seen.set(s.series, k + 1);
    return k;
  });
}

function dashOf(variant: number): string {
  const dash = DASHES[variant % DASHES.length];
  return dash ? ` stroke-dasharray="${dash}"` : '';
}

function pointText(p: ChartPoint): string {
  return measuredText(p);
}

function head(id: string, chart: PerformanceChart, width: number, height: number, desc: string): string {
  const better = chart.better ? `${chart.better} is better` : '';
  return (
    `<svg class="chart-svg" role="img" aria-labelledby="${id}-t ${id}-d" viewBox="0 0 ${n(width)} ${n(height)}" width="${n(width)}" height="${n(height)}">` +
    `<title id="${id}-t">${html(chart.title)}</title><desc id="${id}-d">${html(desc)}</desc>` +
    `<text class="c-title" x="0" y="16">${html(chart.title)}</text>` +
    (better ? `<text class="c-note" x="${n(width)}" y="16" text-anchor="end">${html(better)}</text>` : '')
  );
}

/**
 * A bar chart: one horizontal bar per series (and per reading, where a series was measured more
 * than once), scaled from zero to the largest reading with its spread, each with its value.
 */
export function barChartSvg(chart: PerformanceChart, id: string, colours: Map<string, string>): string {
  const variant = variants(chart);
  const bars = chart.series.flatMap((s, i) =>
    s.points.map((p) => ({
      s,
      p,
      label: pointText(p),
      shade: SHADES[(variant[i] ?? 0) % SHADES.length] ?? 1,
    })),
  );
  const labelW = Math.min(260, Math.max(60, Math.max(...bars.map((b) => textWidth(b.s.name))) + 12));
  const valueW = Math.max(...bars.map((b) => textWidth(b.label))) + 12;
  const barW = 320;
  const rowH = 26;
  const top = 30;
  const width = Math.max(labelW + barW + valueW, textWidth(chart.title) * 1.15 + 120);
  const height = top + bars.length * rowH + 8;
  const max = Math.max(...bars.map(({ p }) => p.value + (p.spread ?? 0)), 0) || 1;
  const x = (v: number) => labelW + (Math.max(0, v) / max) * barW;
  const desc = `Bar chart. ${bars.map((b) => `${b.s.name}: ${b.label}`).join('; ')}.`;
  const body = bars.map(({ s, p, label, shade }, i) => {
    const y = top + i * rowH;
    const mid = y + rowH / 2;
    const colour = colours.get(s.series) ?? PALETTE[0];
    const end = x(p.value);
    const whisker =
      p.spread && p.spread > 0
        ? `<path class="c-spread" d="M${n(x(p.value - p.spread))} ${n(mid)}H${n(x(p.value + p.spread))}M${n(x(p.value - p.spread))} ${n(mid - 4)}v8M${n(x(p.value + p.spread))} ${n(mid - 4)}v8"/>`
        : '';
    const labelX = Math.max(end, p.spread ? x(p.value + p.spread) : end) + 6;
    const where = [p.row.run, p.row.lane, p.row.requirement].filter(Boolean).join(' ');
    return (
      `<g class="c-bar"><title>${html(`${s.name}: ${label} (${where})`)}</title>` +
      `<text class="c-label" x="${n(labelW - 8)}" y="${n(mid + 4)}" text-anchor="end">${html(s.name)}</text>` +
      `<rect class="bar" x="${n(labelW)}" y="${n(mid - 8)}" width="${n(Math.max(end - labelW, 0))}" height="16" rx="2" fill="${colour}"${shade < 1 ? ` fill-opacity="${shade}"` : ''}/>` +
      whisker +
      `<text class="c-value" x="${n(labelX)}" y="${n(mid + 4)}">${html(label)}</text></g>`
    );
  });
  const axis = `<path class="c-axis" d="M${n(labelW)} ${n(top)}V${n(height - 8)}"/>`;
  return `${head(id, chart, width, height, desc)}${axis}${body.join('')}</svg>`;
}

/** A scale from data to pixels, and the ticks it is labelled at. */
interface Scale {
  at: (v: number) => number;
  ticks: number[];
  log: boolean;
}

function niceStep(span: number, count: number): number {
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const f = raw / mag;
  return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

// The horizontal axis is labelled at the data's own positions (10, 1000, 10000 Services): a
// reader wants those, not round numbers between them.
function xScale(xs: readonly number[], from: number, to: number): Scale {
  const log = spansDecades(xs);
  const f = log ? Math.log10 : (v: number) => v;
  const lo = f(Math.min(...xs));
  const hi = f(Math.max(...xs));
  const at = (v: number) => (hi === lo ? (from + to) / 2 : from + ((f(v) - lo) / (hi - lo)) * (to - from));
  return { at, ticks: [...xs], log };
}

function yScale(values: readonly number[], bottom: number, top: number): Scale {
  if (spansDecades(values)) {
    const lo = Math.floor(Math.log10(Math.min(...values)));
    const hi = Math.ceil(Math.log10(Math.max(...values)));
    const ticks = Array.from({ length: hi - lo + 1 }, (_, i) => 10 ** (lo + i));
    return { at: (v) => bottom - ((Math.log10(v) - lo) / (hi - lo)) * (bottom - top), ticks, log: true };
  }
  const lo0 = Math.min(0, ...values);
  const hi0 = Math.max(0, ...values);
  const step = niceStep(hi0 - lo0 || 1, 4);
  const lo = Math.floor(lo0 / step) * step;
  const hi = Math.ceil(hi0 / step) * step || step;
  const ticks: number[] = [];
  for (let t = lo; t <= hi + step / 2; t += step) ticks.push(Number(t.toPrecision(12)));
  return { at: (v) => bottom - ((v - lo) / (hi - lo)) * (bottom - top), ticks, log: false };
}

/**
 * A line chart: one line per series through its readings in order of `x`, a point per reading
 * (with its spread as a whisker), ticks at the data's `x` values, and a legend. Either axis goes
 * logarithmic when its values span more than two decades.
 */
export function lineChartSvg(chart: PerformanceChart, id: string, colours: Map<string, string>): string {
  const points = chart.series.flatMap((s) => s.points);
  const xs = [...new Set(points.map((p) => p.x ?? 0))].sort((a, b) => a - b);
  const width = 600;
  const left = 70;
  const right = width - 24;
  // The legend wraps onto as many rows as it needs above the plot.
  const variant = variants(chart);
  const legend: { x: number; row: number; name: string; colour: string; dash: string }[] = [];
  let lx = 0;
  let row = 0;
  for (const [i, s] of chart.series.entries()) {
    const w = 26 + textWidth(s.name) + 18;
    if (lx > 0 && lx + w > width) {
      lx = 0;
      row += 1;
    }
    legend.push({
      x: lx,
      row,
      name: s.name,
      colour: colours.get(s.series) ?? PALETTE[0] ?? '#2f81f7',
      dash: dashOf(variant[i] ?? 0),
    });
    lx += w;
  }
  const top = 30 + (row + 1) * 18 + 12;
  const bottom = top + 200;
  const height = bottom + (chart.xLabel ? 44 : 28);
  const sx = xScale(xs, left + 20, right - 20);
  const spreadEnds = points.flatMap((p) => (p.spread ? [p.value - p.spread, p.value + p.spread] : []));
  const values = points.map((p) => p.value);
  const ys = yScale(spansDecades(values) ? values : [...values, ...spreadEnds], bottom, top);
  const clampY = (v: number) => Math.min(bottom, Math.max(top, ys.at(ys.log ? Math.max(v, 1e-12) : v)));
  const grid = ys.ticks
    .map(
      (t) =>
        `<path class="c-grid" d="M${left} ${n(ys.at(t))}H${right}"/><text class="c-tick" x="${left - 6}" y="${n(ys.at(t) + 4)}" text-anchor="end">${html(tickText(t))}</text>`,
    )
    .join('');
  const xTicks = sx.ticks
    .map(
      (t) =>
        `<path class="c-axis" d="M${n(sx.at(t))} ${bottom}v5"/><text class="c-tick" x="${n(sx.at(t))}" y="${bottom + 18}" text-anchor="middle">${html(tickText(t))}</text>`,
    )
    .join('');
  const axes = `<path class="c-axis" d="M${left} ${top}V${bottom}H${right}"/>`;
  const scaleNote = [sx.log ? 'x' : '', ys.log ? 'y' : ''].filter(Boolean);
  const xLabel = chart.xLabel
    ? `<text class="c-axis-label" x="${n((left + right) / 2)}" y="${bottom + 38}" text-anchor="middle">${html(chart.xLabel)}${sx.log ? ' (log scale)' : ''}</text>`
    : '';
  const yLabel =
    chart.unit || ys.log
      ? `<text class="c-axis-label" transform="translate(14 ${n((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">${html([chart.unit, ys.log ? '(log scale)' : ''].filter(Boolean).join(' '))}</text>`
      : '';
  const legendSvg = legend
    .map(
      (l) =>
        `<g class="c-legend" transform="translate(${n(l.x)} ${30 + l.row * 18})"><path d="M0 6H20" stroke="${l.colour}" stroke-width="2.5"${l.dash}/><circle cx="10" cy="6" r="3.5" fill="${l.colour}"/><text class="c-label" x="26" y="10">${html(l.name)}</text></g>`,
    )
    .join('');
  const lines = chart.series.map((s, i) => {
    const colour = colours.get(s.series) ?? PALETTE[0];
    const path = s.points.map((p) => `${n(sx.at(p.x ?? 0))},${n(clampY(p.value))}`).join(' ');
    const marks = s.points.map((p) => {
      const cx = sx.at(p.x ?? 0);
      const whisker =
        p.spread && p.spread > 0
          ? `<path class="c-spread" d="M${n(cx)} ${n(clampY(p.value - p.spread))}V${n(clampY(p.value + p.spread))}"/>`
          : '';
      const what = `${s.name}, ${tickText(p.x ?? 0)}${chart.xLabel ? ` ${chart.xLabel}` : ''}: ${pointText(p)}`;
      return `${whisker}<circle class="point" cx="${n(cx)}" cy="${n(clampY(p.value))}" r="3.5" fill="${colour}"><title>${html(what)}</title></circle>`;
    });
    return `<g class="c-series"><title>${html(s.name)}</title><polyline points="${path}" fill="none" stroke="${colour}" stroke-width="2"${dashOf(variant[i] ?? 0)}/>${marks.join('')}</g>`;
  });
  const desc =
    `Line chart${scaleNote.length ? ` (log scale on ${scaleNote.join(' and ')})` : ''}. ` +
    chart.series
      .map((s) => `${s.name}: ${s.points.map((p) => `${tickText(p.x ?? 0)} → ${pointText(p)}`).join(', ')}`)
      .join('; ') +
    '.';
  return `${head(id, chart, width, height, desc)}${legendSvg}${grid}${axes}${xTicks}${xLabel}${yLabel}${lines.join('')}</svg>`;
}

/** A chart as SVG, bar or line as its kind says. */
export function chartSvg(chart: PerformanceChart, id: string, colours: Map<string, string>): string {
  return chart.kind === 'line' ? lineChartSvg(chart, id, colours) : barChartSvg(chart, id, colours);
}
