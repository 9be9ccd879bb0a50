/**
 * Deciding a requirement from figures measured side by side: medians, spreads, ratios, and when
 * the machine's noise leaves the answer open (an error) rather than failing or passing it.
 */
import { describe, expect, it } from 'vitest';
import { classify } from '../../../src/report/classify.ts';
import { busyJiffies } from '../../../suites/lib/cpu.ts';
import {
  combine,
  decide,
  ratioOf,
  type Summary,
  settle,
  summarise,
} from '../../../suites/lib/side-by-side.ts';

const fig = (median: number, spread: number): Summary => ({ median, spread, samples: 6 });

describe('summaries', () => {
  it('gives the median and half the range', () => {
    expect(summarise([3, 1, 2])).toEqual({ median: 2, spread: 1, samples: 3 });
    expect(summarise([4, 1, 2, 10])).toEqual({ median: 3, spread: 4.5, samples: 4 });
    expect(summarise([7])).toEqual({ median: 7, spread: 0, samples: 1 });
    expect(() => summarise([])).toThrow(/no samples/);
  });

  it('a ratio spreads as far as its two sides allow', () => {
    const r = ratioOf(fig(10, 1), fig(5, 1));
    expect(r.median).toBe(2);
    // From 9/6 = 1.5 to 11/4 = 2.75.
    expect(r.spread).toBeCloseTo(0.625);
    expect(ratioOf(fig(10, 0), fig(1, 1)).spread).toBe(Infinity);
  });
});

describe('decisions', () => {
  it('holds when eBPF is on the better side of the bar, whatever the noise', () => {
    expect(decide(fig(100, 50), fig(100, 50), { better: 'lower' })).toBe('holds');
    expect(decide(fig(90, 50), fig(100, 0), { better: 'lower' })).toBe('holds');
    expect(decide(fig(110, 0), fig(100, 40), { better: 'higher' })).toBe('holds');
    expect(decide(fig(8, 3), fig(10, 3), { better: 'higher', ratio: 0.8 })).toBe('holds');
  });

  it('fails when the gap is larger than either spread', () => {
    expect(decide(fig(120, 5), fig(100, 10), { better: 'lower' })).toBe('fails');
    expect(decide(fig(80, 5), fig(100, 10), { better: 'higher' })).toBe('fails');
    // The gap equal to the spread is decided: the spread must be larger to hide it.
    expect(decide(fig(110, 10), fig(100, 0), { better: 'lower' })).toBe('fails');
  });

  it('is too noisy when either side spreads wider than the gap', () => {
    expect(decide(fig(120, 25), fig(100, 1), { better: 'lower' })).toBe('too noisy');
    expect(decide(fig(120, 1), fig(100, 25), { better: 'lower' })).toBe('too noisy');
    expect(decide(fig(90, 1), fig(100, 15), { better: 'higher' })).toBe('too noisy');
  });

  it('measures the gap from the bar, with the baseline spread scaled to it', () => {
    // Bar 80: a gap of 5; the baseline's spread of 10 is 8 at the bar.
    expect(decide(fig(75, 1), fig(100, 10), { better: 'higher', ratio: 0.8 })).toBe('too noisy');
    // Bar 80: a gap of 10, more than 8.
    expect(decide(fig(70, 1), fig(100, 10), { better: 'higher', ratio: 0.8 })).toBe('fails');
  });

  it('a decided failure outweighs noise, noise outweighs holding', () => {
    expect(combine(['holds', 'too noisy', 'fails'])).toBe('fails');
    expect(combine(['holds', 'too noisy'])).toBe('too noisy');
    expect(combine(['holds', 'holds'])).toBe('holds');
    expect(combine([])).toBe('holds');
  });
});

describe('how a requirement ends', () => {
  const failure = { message: 'slower', expected: 'eBPF >= iptables', seen: 'eBPF 1, iptables 2' };
  const ended = (decision: Parameters<typeof settle>[0]) => {
    try {
      settle(decision, ['eBPF 1 ± 3, iptables 2 ± 0'], failure);
      return classify({ state: 'passed' });
    } catch (err) {
      const e = err as Error & Record<string, unknown>;
      return classify({ state: 'failed', errors: [{ ...e, name: e.name, message: e.message }] });
    }
  };

  it('holds: conformant', () => {
    expect(ended('holds').verdict).toBe('conformant');
  });

  it('fails: non-conformant, with what was expected and seen', () => {
    const r = ended('fails');
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure).toMatchObject({
      message: 'slower',
      expected: 'eBPF >= iptables',
      seen: 'eBPF 1, iptables 2',
    });
  });

  it('too noisy: an error whose one-line reason gives the figures', () => {
    const r = ended('too noisy');
    expect(r.verdict).toBe('error');
    expect(r.reason).toBe(
      'the machine was too noisy to decide: eBPF 1 ± 3, iptables 2 ± 0 (a spread is larger than the difference from the bar: eBPF >= iptables)',
    );
  });
});

describe('CPU time from /proc/stat', () => {
  it('counts user, nice, system, irq and softirq of the cpu line', () => {
    const stat = 'cpu  100 2 30 5000 40 0 7 9 11 0\ncpu0 50 1 15 2500 20 0 3 4 0 0\nintr 1 2 3\n';
    expect(busyJiffies(stat)).toBe(100 + 2 + 30 + 0 + 7);
  });

  it('names what it found when there is no cpu line', () => {
    expect(() => busyJiffies('intr 1 2\n')).toThrow(/no cpu line/);
    expect(() => busyJiffies('cpu 1 2 x\n')).toThrow(/no cpu line/);
  });
});
