import { describe, expect, it } from 'vitest';
import type { Pass, Requirement } from '../../../src/report/model.ts';
import {
  allCaught,
  baselineFailures,
  buildFailure,
  judgeFault,
  renderTable,
  summaryLine,
} from '../../../src/selftest/table.ts';

const mode = { dataplane: 'bpf' as const, serviceMode: 'Tunnel' as const };
const fault = { id: 'etp-local-refused', summary: 's', catches: ['NP-004', 'LB-003'], mode };

function req(id: string, verdict: Requirement['verdict'], message?: string): Requirement {
  return {
    id,
    statement: id,
    verdict,
    durationMs: 1,
    evidence: [],
    ...(message ? { failure: { message } } : {}),
  };
}

function pass(...requirements: Requirement[]): Pass {
  return {
    mode,
    startedAt: '2025-01-01T00:00:00Z',
    durationMs: 1,
    verdict: 'conformant',
    areas: [{ name: 'nodeport', verdict: 'conformant', requirements, problems: [] }],
    problems: [],
  };
}

describe('judging a fault', () => {
  it('is caught only by an expected requirement that is non-conformant', () => {
    const r = judgeFault(
      fault,
      pass(req('NP-004', 'non-conformant', 'dropped?\nmore'), req('LB-003', 'conformant')),
      new Map(),
      5,
    );
    expect(r.outcome).toBe('caught');
    expect(r.failing).toEqual(['NP-004']);
    expect(r.message).toBe('NP-004: dropped?');
    const other = judgeFault(
      fault,
      pass(req('NP-004', 'conformant'), req('LB-003', 'conformant'), req('NP-001', 'non-conformant', 'x')),
      new Map(),
      5,
    );
    expect(other.outcome).toBe('missed');
    expect(other.failing).toEqual(['NP-001']);
  });

  it('gives no verdict when an expected requirement errs and none fails', () => {
    const r = judgeFault(
      fault,
      pass(req('NP-004', 'error', 'agent died'), req('LB-003', 'conformant')),
      new Map(),
      5,
    );
    expect(r.outcome).toBe('no verdict');
    expect(r.errored).toEqual(['NP-004']);
    expect(r.message).toBe('NP-004 error: agent died');
  });

  it('does not count a requirement that fails without the fault', () => {
    const baseline = baselineFailures(
      pass(req('NP-004', 'non-conformant', 'flaky'), req('LB-003', 'conformant')),
      fault.catches,
    );
    expect([...baseline.keys()]).toEqual(['NP-004']);
    const r = judgeFault(
      fault,
      pass(req('NP-004', 'non-conformant', 'x'), req('LB-003', 'conformant')),
      baseline,
      5,
    );
    expect(r.outcome).toBe('missed');
    const only = { ...fault, catches: ['NP-004'] };
    expect(judgeFault(only, pass(req('NP-004', 'non-conformant', 'x')), baseline, 5).outcome).toBe(
      'baseline failed',
    );
    expect(baselineFailures(pass(req('NP-004', 'conformant')), ['NP-004', 'NP-009']).get('NP-009')).toBe(
      'NP-009 did not run',
    );
  });

  it('passes only when every fault was caught, and tabulates each', () => {
    const caught = judgeFault(fault, pass(req('NP-004', 'non-conformant', 'refused')), new Map(), 12_000);
    const broken = buildFailure(
      { ...fault, id: 'dsr-optout-ignored' },
      "lb.h:3: error: unused variable 'k'\nmore",
      1000,
    );
    expect(broken.outcome).toBe('build failed');
    expect(allCaught([caught])).toBe(true);
    expect(allCaught([caught, broken])).toBe(false);
    expect(allCaught([])).toBe(false);
    const table = renderTable([caught, broken], 30).split('\n');
    expect(table[0]).toMatch(/^FAULT\s+MODE\s+EXPECTED\s+FAILING\s+RESULT\s+FIRST FAILURE$/);
    expect(table[1]).toMatch(
      /^etp-local-refused\s+bpf\/Tunnel\s+NP-004,LB-003\s+NP-004\s+caught\s+NP-004: refused$/,
    );
    expect(table[2]).toMatch(/build failed {2}lb.h:3: error: unused variabl…$/);
    expect(summaryLine([caught, broken], 75_000)).toBe(
      '1 of 2 faults caught in 1m 15s; not caught: dsr-optout-ignored (build failed)',
    );
  });
});
