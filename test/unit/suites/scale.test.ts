import { describe, expect, it } from 'vitest';
import { judgeCost, SCALES, scaleServiceName, scaleServices, summarize } from '../../../suites/lib/scale.ts';

type ServiceObject = { metadata: { name: string }; spec: { type: string; selector: object } };

describe('the Services of the scale measurement', () => {
  it('makes the first Service the NodePort and the rest ClusterIP, all over the one backend', () => {
    const all = scaleServices(0, 3) as ServiceObject[];
    expect(all.map((s) => [s.metadata.name, s.spec.type])).toEqual([
      ['perf-scale-00000', 'NodePort'],
      ['perf-scale-00001', 'ClusterIP'],
      ['perf-scale-00002', 'ClusterIP'],
    ]);
    expect(new Set(all.map((s) => JSON.stringify(s.spec.selector)))).toEqual(
      new Set([JSON.stringify({ app: 'perf-scale' })]),
    );
  });

  it('adds only the Services beyond what a smaller count already has, with names that stay unique', () => {
    const more = scaleServices(10, 1000) as ServiceObject[];
    expect(more).toHaveLength(990);
    expect(more[0]!.metadata.name).toBe(scaleServiceName(10));
    expect(more.every((s) => s.spec.type === 'ClusterIP')).toBe(true);
    const largest = SCALES[SCALES.length - 1]!;
    const names = (scaleServices(0, largest) as ServiceObject[]).map((s) => s.metadata.name);
    expect(new Set(names).size).toBe(largest);
  });
});

describe('summaries of repeated samples', () => {
  it('takes the median and half the interquartile range', () => {
    expect(summarize([5, 1, 3, 2, 4])).toEqual({ median: 3, spread: 1, samples: 5 });
    expect(summarize([1, 2, 3, 4])).toEqual({ median: 2.5, spread: 0.75, samples: 4 });
  });

  it('is not moved by one outlier the way a mean would be', () => {
    const s = summarize([300, 301, 302, 303, 304, 305, 5000]);
    expect(s.median).toBe(303);
    expect(s.spread).toBe(1.5);
  });

  it('refuses to summarize nothing', () => {
    expect(() => summarize([])).toThrow(/no samples/);
  });
});

describe('judging the cost at the largest count against the smallest', () => {
  const at = (median: number, spread: number) => ({ median, spread, samples: 25 });

  it('holds within 1.2x, and at exactly 1.2x', () => {
    expect(judgeCost(at(300, 5), at(330, 5))).toMatchObject({ ratio: 1.1, outcome: 'holds' });
    expect(judgeCost(at(300, 5), at(360, 5)).outcome).toBe('holds');
  });

  it('fails beyond 1.2x when the difference is larger than both spreads', () => {
    const j = judgeCost(at(300, 5), at(600, 10));
    expect(j.outcome).toBe('exceeds');
    expect(j.ratio).toBe(2);
    expect(j.ratioSpread).toBeCloseTo(2 * (5 / 300 + 10 / 600));
  });

  it('cannot decide beyond 1.2x when the spreads are larger than the difference', () => {
    expect(judgeCost(at(300, 40), at(400, 70)).outcome).toBe('undecided');
  });

  it('a cost that falls as Services grow holds, however noisy', () => {
    expect(judgeCost(at(300, 100), at(250, 100)).outcome).toBe('holds');
  });
});
