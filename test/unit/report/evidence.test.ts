import { describe, expect, test } from 'vitest';
import {
  ConformanceFailure,
  counterEvidence,
  echoEvidence,
  evidenceOf,
  recordEvidence,
  requireThat,
} from '../../../src/report/evidence.ts';

describe('recordEvidence', () => {
  test('appends to the task meta, from the task or the whole context', () => {
    const task = { meta: {} };
    recordEvidence(task, { kind: 'text', text: 'one' });
    recordEvidence({ task }, { kind: 'text', text: 'two' });
    expect(evidenceOf(task)).toEqual([
      { kind: 'text', text: 'one' },
      { kind: 'text', text: 'two' },
    ]);
    expect(task.meta).toEqual({ dpconform: { evidence: evidenceOf(task) } });
  });

  test('stores a copy that survives JSON, so later changes by the caller do not leak in', () => {
    const task = { meta: {} };
    const packets = ['IP a > b'];
    recordEvidence(task, { kind: 'packet', where: 'n1 eth0', packets, filter: undefined });
    packets.push('IP b > a');
    expect(evidenceOf(task)).toEqual([{ kind: 'packet', where: 'n1 eth0', packets: ['IP a > b'] }]);
  });

  test('a task without evidence has none', () => {
    expect(evidenceOf({ meta: {} })).toEqual([]);
  });
});

describe('ConformanceFailure', () => {
  test('carries expected, seen and where, and is an Error', () => {
    const e = new ConformanceFailure('no reply', {
      expected: 'a reply',
      seen: 'timeout',
      where: 'dpc-client eth0',
    });
    expect(e).toBeInstanceOf(Error);
    expect(e.name).toBe('ConformanceFailure');
    expect([e.message, e.expected, e.seen, e.where]).toEqual([
      'no reply',
      'a reply',
      'timeout',
      'dpc-client eth0',
    ]);
  });

  test('requireThat throws only when the condition fails', () => {
    expect(() => requireThat(true, 'fine')).not.toThrow();
    expect(() => requireThat(false, 'not fine', { seen: 'x' })).toThrow(ConformanceFailure);
    try {
      requireThat(false, 'not fine', { seen: 'x' });
    } catch (e) {
      expect((e as ConformanceFailure).seen).toBe('x');
    }
  });
});

describe('evidence builders', () => {
  test('counterEvidence computes the delta', () => {
    expect(counterEvidence('calico_bpf_dataplane_policy_drops', 4, 9, { where: 'dpc-worker' })).toEqual({
      kind: 'counter',
      name: 'calico_bpf_dataplane_policy_drops',
      before: 4,
      after: 9,
      delta: 5,
      where: 'dpc-worker',
    });
  });

  test('echoEvidence turns a probe result into what the report shows', () => {
    const ok = echoEvidence(
      'dpc-client',
      { ok: true, kind: 'http', target: '172.18.0.2:30080', body: ' 172.18.0.100:5000 \n', totalMs: 3.7 },
      { sourceSeen: '172.18.0.100' },
    );
    expect(ok).toEqual({
      kind: 'echo',
      from: 'dpc-client',
      target: '172.18.0.2:30080',
      protocol: 'http',
      ok: true,
      reply: '172.18.0.100:5000',
      totalMs: 4,
      sourceSeen: '172.18.0.100',
    });
    const refused = echoEvidence('dpc-client', {
      ok: false,
      kind: 'tcp',
      target: '10.96.0.10:80',
      error: 'refused',
      errorMessage: 'ECONNREFUSED',
      totalMs: 1,
    });
    expect(refused).toMatchObject({ ok: false, error: 'refused (ECONNREFUSED)' });
    expect(refused).not.toHaveProperty('reply');
  });
});
