/**
 * The report's performance section as plain data: every figure a run measured, one row each with
 * the requirement, the lane it was measured in and the guide's claim it is held against, and the
 * charts the figures asked to be drawn in. The Markdown and HTML renderers draw this model and
 * nothing else, so both show the same numbers grouped the same way.
 */
import { round } from './evidence-text.ts';
import { type FigureEvidence, modeLabel, type Qualification, type Run, type Verdict } from './model.ts';
import { qualificationViews, type RunView, soloView } from './views.ts';

/** One measured figure, placed. */
export interface FigureRow {
  /** The run's id in a qualification; '' in a run's own report. */
  run: string;
  /** The pass (dataplane/service mode) it was measured in: `bpf/Tunnel`. */
  lane: string;
  area: string;
  /** The requirement's id: `PERF-001`. */
  requirement: string;
  statement: string;
  /** What the requirement came to. */
  verdict: Verdict;
  name: string;
  value: number;
  unit?: string;
  spread?: number;
  better?: 'higher' | 'lower';
  /** The guide's claim the figure is held against. */
  claim?: string;
  where?: string;
  label?: string;
  /**
   * Indexes of the view, its pass, the area in the pass and the requirement in the area the figure
   * came from, so a renderer can link the row to the requirement.
   */
  at: { view: number; pass: number; area: number; requirement: number };
}

/** One reading in a chart. */
export interface ChartPoint {
  /** Position on the horizontal axis (line charts only). */
  x?: number;
  value: number;
  spread?: number;
  unit?: string;
  /** The table row the reading is. */
  row: FigureRow;
}

/** A bar, or a line, of a chart. */
export interface ChartSeries {
  /** The name a reader sees: the recorded series, made distinct by lane or run where it repeats. */
  name: string;
  /** The series as the figures recorded it, the same in every chart (and so its colour). */
  series: string;
  /** Bar charts: one point; line charts: points in increasing `x`. */
  points: ChartPoint[];
}

/** Figures drawn together, as their `chart` asked. */
export interface PerformanceChart {
  title: string;
  /** `line` when the figures give an `x`; `bar` otherwise. */
  kind: 'bar' | 'line';
  /** The unit every value shares; absent when there is none or they differ. */
  unit?: string;
  /** The horizontal axis' name (line charts). */
  xLabel?: string;
  /** Which way is an improvement, when every figure of the chart agrees. */
  better?: 'higher' | 'lower';
  series: ChartSeries[];
}

/** Every figure of a run or a qualification: a table and the charts drawn from it. */
export interface Performance {
  /** In report order: view, pass, area, requirement, figure. */
  rows: FigureRow[];
  /** In the order their first figure appears. */
  charts: PerformanceChart[];
}

/**
 * Collects every figure of every requirement of every pass. A run without figures gives no rows
 * and no charts: the report then has no performance section at all.
 */
export function collectPerformance(source: Run | Qualification | readonly RunView[]): Performance {
  const views = isViews(source) ? source : 'kind' in source ? qualificationViews(source) : [soloView(source)];
  const rows: FigureRow[] = [];
  const charted: { row: FigureRow; figure: FigureEvidence }[] = [];
  views.forEach((view, v) => {
    view.run.passes.forEach((pass, p) => {
      pass.areas.forEach((area, a) => {
        area.requirements.forEach((r, i) => {
          for (const e of r.evidence) {
            if (e.kind !== 'figure') continue;
            const row: FigureRow = {
              run: view.label ? view.run.runId : '',
              lane: modeLabel(pass.mode),
              area: area.name,
              requirement: r.id,
              statement: r.statement,
              verdict: r.verdict,
              name: e.name,
              value: e.value,
              ...optional(e),
              at: { view: v, pass: p, area: a, requirement: i },
            };
            rows.push(row);
            if (e.chart) charted.push({ row, figure: e });
          }
        });
      });
    });
  });
  return { rows, charts: chartsOf(charted) };
}

function isViews(source: Run | Qualification | readonly RunView[]): source is readonly RunView[] {
  return Array.isArray(source);
}

type OptionalFields = Partial<Pick<FigureRow, 'unit' | 'spread' | 'better' | 'claim' | 'where' | 'label'>>;

function optional(e: FigureEvidence): OptionalFields {
  const out: OptionalFields = {};
  if (e.unit !== undefined) out.unit = e.unit;
  if (e.spread !== undefined) out.spread = e.spread;
  if (e.better !== undefined) out.better = e.better;
  if (e.claim !== undefined) out.claim = e.claim;
  if (e.where !== undefined) out.where = e.where;
  if (e.label !== undefined) out.label = e.label;
  return out;
}

function chartsOf(charted: readonly { row: FigureRow; figure: FigureEvidence }[]): PerformanceChart[] {
  const byTitle = new Map<string, { row: FigureRow; figure: FigureEvidence }[]>();
  for (const c of charted) {
    const title = c.figure.chart?.title ?? '';
    byTitle.set(title, [...(byTitle.get(title) ?? []), c]);
  }
  return [...byTitle].map(([title, members]) => {
    const kind = members.some((m) => m.figure.chart?.x !== undefined) ? 'line' : 'bar';
    // A line chart has no place for a reading without a position: it stays in the table.
    const drawn = kind === 'line' ? members.filter((m) => m.figure.chart?.x !== undefined) : members;
    const units = new Set(drawn.map((m) => m.figure.unit));
    const betters = new Set(drawn.map((m) => m.figure.better));
    const [unit] = units;
    const [better] = betters;
    const xLabel = drawn.find((m) => m.figure.chart?.xLabel)?.figure.chart?.xLabel;
    return {
      title,
      kind,
      ...(units.size === 1 && unit !== undefined ? { unit } : {}),
      ...(xLabel !== undefined ? { xLabel } : {}),
      ...(betters.size === 1 && better !== undefined ? { better } : {}),
      series: seriesOf(drawn, kind),
    };
  });
}

/** Where a reading came from, as far as telling two readings of one series apart goes. */
function sourceParts(row: FigureRow): { run: string; lane: string; label: string } {
  return { run: row.run, lane: row.lane, label: row.label ?? '' };
}

function seriesOf(
  members: readonly { row: FigureRow; figure: FigureEvidence }[],
  kind: 'bar' | 'line',
): ChartSeries[] {
  const bySeries = new Map<string, { row: FigureRow; figure: FigureEvidence }[]>();
  for (const m of members) {
    const s = m.figure.chart?.series ?? '';
    bySeries.set(s, [...(bySeries.get(s) ?? []), m]);
  }
  const out: ChartSeries[] = [];
  for (const [series, readings] of bySeries) {
    const positions = readings.map((m) => (kind === 'line' ? String(m.figure.chart?.x) : ''));
    if (new Set(positions).size === positions.length) {
      out.push({ name: series, series, points: pointsOf(readings) });
      continue;
    }
    // The same series measured more than once at one place (in two lanes, two runs): one bar or
    // line per source, named by whatever tells the sources apart.
    const parts = readings.map((m) => sourceParts(m.row));
    const differs = (k: 'run' | 'lane' | 'label') => new Set(parts.map((p) => p[k])).size > 1;
    const keys = (['run', 'lane', 'label'] as const).filter(differs);
    const bySource = new Map<string, { row: FigureRow; figure: FigureEvidence }[]>();
    readings.forEach((m, i) => {
      const p = parts[i] ?? sourceParts(m.row);
      const suffix = keys.map((k) => p[k]).join(' ');
      bySource.set(suffix, [...(bySource.get(suffix) ?? []), m]);
    });
    for (const [suffix, own] of bySource) {
      out.push({ name: suffix ? `${series} · ${suffix}` : series, series, points: pointsOf(own) });
    }
  }
  return out;
}

function pointsOf(readings: readonly { row: FigureRow; figure: FigureEvidence }[]): ChartPoint[] {
  const points = readings.map(({ row, figure }) => {
    const p: ChartPoint = { value: figure.value, row };
    if (figure.chart?.x !== undefined) p.x = figure.chart.x;
    if (figure.spread !== undefined) p.spread = figure.spread;
    if (figure.unit !== undefined) p.unit = figure.unit;
    return p;
  });
  // Stable, so readings at the same position keep report order.
  return points.sort((a, b) => (a.x ?? 0) - (b.x ?? 0));
}

/** A value with its unit: `9.41 Gbit/s`, `1.18`. */
export function valueText(value: number, unit?: string): string {
  return `${round(value)}${unit ? ` ${unit}` : ''}`;
}

/** A reading with its unit and spread: `9.41 Gbit/s ± 0.12`. */
export function measuredText(p: { value: number; unit?: string; spread?: number }): string {
  return `${valueText(p.value, p.unit)}${p.spread === undefined ? '' : ` ± ${round(p.spread)}`}`;
}

/**
 * Whether positive values span more than two decades (10 to 10000 Services): such an axis reads
 * only on a log scale.
 */
export function spansDecades(values: readonly number[], decades = 2): boolean {
  if (values.length < 2 || values.some((v) => !(v > 0) || !Number.isFinite(v))) return false;
  return Math.log10(Math.max(...values) / Math.min(...values)) > decades;
}
