/**
 * Reading Prometheus text exposition back into samples, so tests and suites can assert on a
 * scraped endpoint rather than on the maps the endpoint claims to report.
 */

/** One sample line: a name, its labels and a value. */
export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"\s*,?\s*/gy;

function unescapeLabel(v: string): string {
  return v.replace(/\\(.)/g, (_m, c: string) => (c === 'n' ? '\n' : c));
}

function parseValue(v: string): number {
  if (v === '+Inf') return Number.POSITIVE_INFINITY;
  if (v === '-Inf') return Number.NEGATIVE_INFINITY;
  return Number(v);
}

/** Parses exposition text; throws on a line that is neither a comment nor a sample. */
export function parseExposition(text: string): Sample[] {
  const out: Sample[] = [];
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (!m) throw new Error(`metrics line ${i + 1} is not a sample: ${line}`);
    const labels: Record<string, string> = {};
    const body = m[2] ?? '';
    LABEL.lastIndex = 0;
    while (LABEL.lastIndex < body.length) {
      const l = LABEL.exec(body);
      if (!l) break;
      labels[l[1] ?? ''] = unescapeLabel(l[2] ?? '');
    }
    if (LABEL.lastIndex < body.length) throw new Error(`metrics line ${i + 1} has bad labels: ${line}`);
    out.push({ name: m[1] ?? '', labels, value: parseValue(m[3] ?? '') });
  }
  return out;
}

/** Samples of one metric whose labels include all of `match`. */
export function samplesOf(
  samples: readonly Sample[],
  name: string,
  match: Record<string, string> = {},
): Sample[] {
  return samples.filter((s) => s.name === name && Object.entries(match).every(([k, v]) => s.labels[k] === v));
}

/** The sum of the matching samples (0 when none match). */
export function sumOf(samples: readonly Sample[], name: string, match: Record<string, string> = {}): number {
  return samplesOf(samples, name, match).reduce((t, s) => t + s.value, 0);
}
