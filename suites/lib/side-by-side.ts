/**
 * Comparing the eBPF dataplane with the iptables baseline on one cluster in one run: samples
 * taken under each in alternating rounds, summarised as a median and a spread, and a verdict that
 * the figures either decide or, on a machine too noisy for the difference, leave open.
 */
import type { Cluster } from '../../src/cluster/types.ts';
import {
  ConformanceFailure,
  type EvidenceTarget,
  type FailureDetails,
  recordEvidence,
} from '../../src/report/evidence.ts';

/** Samples of one measurement under each dataplane. */
export interface Sides<T> {
  ebpf: T[];
  iptables: T[];
}

/**
 * Takes `measure` under the eBPF dataplane, then under iptables, `rounds` times over, so that a
 * machine whose load drifts weighs on both sides alike. The cluster is left in eBPF, as found.
 */
export async function sideBySide<T>(
  c: Cluster,
  rounds: number,
  measure: () => Promise<T>,
): Promise<Sides<T>> {
  const sides: Sides<T> = { ebpf: [], iptables: [] };
  for (let i = 0; i < rounds; i++) {
    sides.ebpf.push(await measure());
    await c.switchDataplane('iptables');
    try {
      sides.iptables.push(await measure());
    } finally {
      await c.switchDataplane('bpf');
    }
  }
  return sides;
}

/**
 * A figure from repeated measurements: their median and a spread (half the range they span here;
 * the scale measurement takes half their interquartile range).
 */
export interface Summary {
  median: number;
  spread: number;
  samples: number;
}

/** The q-quantile of sorted samples, interpolated between neighbours (q 0.5: the median). */
export function quantile(sorted: readonly number[], q: number): number {
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (at - lo);
}

/** The median and spread of some samples (at least one). */
export function summarise(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new Error('no samples to summarise');
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: quantile(sorted, 0.5), spread: (sorted.at(-1)! - sorted[0]!) / 2, samples: sorted.length };
}

/**
 * eBPF's figure over the baseline's, with the spread their spreads allow: half the distance
 * between the smallest and the largest ratio within them.
 */
export function ratioOf(ebpf: Summary, baseline: Summary): Summary {
  const low = (ebpf.median - ebpf.spread) / (baseline.median + baseline.spread);
  const high =
    baseline.median > baseline.spread
      ? (ebpf.median + ebpf.spread) / (baseline.median - baseline.spread)
      : Infinity;
  return {
    median: ebpf.median / baseline.median,
    spread: (high - low) / 2,
    samples: Math.min(ebpf.samples, baseline.samples),
  };
}

/** What the figures say of a requirement: it holds, it fails, or the noise hides the answer. */
export type Decision = 'holds' | 'fails' | 'too noisy';

/** How eBPF's figure is held against the baseline's. */
export interface Rule {
  better: 'higher' | 'lower';
  /** The bar is the baseline times this (default 1: at least as good as the baseline). */
  ratio?: number;
}

/**
 * Holds when eBPF's median is on the better side of the bar (the baseline's median times the
 * ratio). Otherwise it fails only when the gap to the bar is larger than either side's spread
 * (the baseline's scaled with the bar): a smaller gap is within what the machine's noise moves
 * the figures by, and says nothing either way.
 */
export function decide(ebpf: Summary, baseline: Summary, rule: Rule): Decision {
  const ratio = rule.ratio ?? 1;
  const bar = baseline.median * ratio;
  const meets = rule.better === 'higher' ? ebpf.median >= bar : ebpf.median <= bar;
  if (meets) return 'holds';
  const gap = Math.abs(ebpf.median - bar);
  return Math.max(ebpf.spread, baseline.spread * ratio) > gap ? 'too noisy' : 'fails';
}

/** Several decisions as one: any decided failure fails; else any noise leaves it open. */
export function combine(decisions: readonly Decision[]): Decision {
  if (decisions.includes('fails')) return 'fails';
  return decisions.includes('too noisy') ? 'too noisy' : 'holds';
}

/**
 * Ends a requirement as its decision says: a failure is non-conformant; noise is an error (the
 * requirement was not decided), whose first line gives the figures.
 */
export function settle(
  decision: Decision,
  figures: readonly string[],
  failure: { message: string } & FailureDetails,
): void {
  if (decision === 'fails') {
    const { message, ...details } = failure;
    throw new ConformanceFailure(message, details);
  }
  if (decision === 'too noisy') {
    throw new Error(
      `the machine was too noisy to decide: ${figures.join('; ')} (a spread is larger than the difference from the bar: ${failure.expected ?? failure.message})`,
    );
  }
}

/** A summary for people: `4.20 ± 0.35 Gbit/s`. */
export function describeSummary(s: Summary, unit: string, digits = 2): string {
  return `${s.median.toFixed(digits)} ± ${s.spread.toFixed(digits)} ${unit}`.trimEnd();
}

/** One figure measured on both sides, as the report shows it. */
export interface Compared {
  /** What was measured, also the chart's title: `CPU seconds per GB moved`. */
  name: string;
  unit: string;
  better: 'higher' | 'lower';
  /** The series name of the eBPF side: `eBPF Tunnel`. */
  series: string;
  ebpf: Summary;
  iptables: Summary;
  /** The guide's claim the ratio is held against, in its words. */
  claim?: string;
}

/**
 * Records each side's median and spread, drawn in one chart, and their ratio (eBPF over
 * iptables), held against the guide's claim when there is one.
 */
export function recordCompared(target: EvidenceTarget, f: Compared): void {
  for (const [series, s] of [
    [f.series, f.ebpf],
    ['iptables', f.iptables],
  ] as const) {
    recordEvidence(target, {
      kind: 'figure',
      name: `${f.name}, ${series}`,
      value: s.median,
      spread: s.spread,
      unit: f.unit,
      better: f.better,
      label: `median of ${s.samples}, ± half their range`,
      chart: { title: f.name, series },
    });
  }
  const ratio = ratioOf(f.ebpf, f.iptables);
  recordEvidence(target, {
    kind: 'figure',
    name: `${f.name}, ${f.series} / iptables`,
    value: ratio.median,
    // A baseline that may be nothing bounds no ratio: no spread, and no change called real.
    ...(Number.isFinite(ratio.spread) ? { spread: ratio.spread } : {}),
    better: f.better,
    ...(f.claim ? { claim: f.claim } : {}),
  });
}

/** Both sides in one line: `eBPF Tunnel 4.20 ± 0.35 Gbit/s, iptables 4.00 ± 0.10 Gbit/s`. */
export function describeCompared(f: Compared, digits = 2): string {
  return `${f.name}: ${f.series} ${describeSummary(f.ebpf, f.unit, digits)}, iptables ${describeSummary(f.iptables, f.unit, digits)}`;
}
