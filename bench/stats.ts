/**
 * Small statistics for benchmarks: medians and percentiles of samples taken side by side.
 */

/** The p-th percentile (0-100) of the samples, by nearest rank. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

/** The median of the samples. */
export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Milliseconds with one decimal. */
export function ms(v: number): string {
  return `${v.toFixed(1)} ms`;
}
