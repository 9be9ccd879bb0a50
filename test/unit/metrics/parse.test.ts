import { describe, expect, it } from 'vitest';
import { parseServerArgs, serverArgs } from '../../../src/dataplane/bpf/metrics/server-args.ts';
import { parseExposition, samplesOf, sumOf } from '../../../src/observe/prometheus.ts';

describe('parseExposition', () => {
  it('reads names, labels (with escapes) and values, skipping comments', () => {
    const s = parseExposition(
      [
        '# HELP x help',
        '# TYPE x counter',
        'x{iface="eth0",hook="ingress"} 5',
        'x{iface="a\\"b",hook="egress"} 2.5 1700000000000',
        'y 7',
        'z{} +Inf',
        '',
      ].join('\n'),
    );
    expect(s).toEqual([
      { name: 'x', labels: { iface: 'eth0', hook: 'ingress' }, value: 5 },
      { name: 'x', labels: { iface: 'a"b', hook: 'egress' }, value: 2.5 },
      { name: 'y', labels: {}, value: 7 },
      { name: 'z', labels: {}, value: Number.POSITIVE_INFINITY },
    ]);
    expect(sumOf(s, 'x')).toBe(7.5);
    expect(samplesOf(s, 'x', { hook: 'egress' })).toHaveLength(1);
    expect(sumOf(s, 'missing')).toBe(0);
  });

  it('rejects a line that is not a sample', () => {
    expect(() => parseExposition('not a metric line at all')).toThrow(/line 1/);
    expect(() => parseExposition('x{iface=eth0} 1')).toThrow(/bad labels/);
  });
});

describe('metrics server arguments', () => {
  const a = {
    node: 'dpc-worker',
    bpffsDir: '/sys/fs/bpf/dpc-abc123/dpc-worker',
    host: '172.18.0.3',
    port: 9091,
    pidFile: '/run/dpconform/abc123/metrics/dpc-worker.pid',
  };

  it('round-trips through the command line', () => {
    expect(parseServerArgs(serverArgs(a))).toEqual(a);
  });

  it('names a missing or bad option', () => {
    expect(() => parseServerArgs(serverArgs(a).slice(2))).toThrow(/--node is required/);
    const bad = serverArgs({ ...a, port: 0 });
    expect(() => parseServerArgs(bad)).toThrow(/--port/);
  });
});
