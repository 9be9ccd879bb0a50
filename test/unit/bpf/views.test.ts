import { describe, expect, it } from 'vitest';
import {
  categoryOf,
  errorTotals,
  logLines,
  renderLog,
  renderStats,
  statsLines,
} from '../../../src/cli/inspect.ts';
import type { BpfLogRecord, NamedCounter } from '../../../src/dataplane/bpf/index.ts';
import { endpointCounts } from '../../../src/dataplane/bpf/metrics/snapshot.ts';
import { planSweep } from '../../../src/dataplane/bpf/metrics/sweep.ts';

const counter = (
  iface: string,
  hook: 'ingress' | 'egress',
  reason: string,
  packets: number,
): NamedCounter => ({
  ifindex: iface === 'eth0' ? 2 : 9,
  iface,
  hook,
  reason,
  packets: BigInt(packets),
});

describe('dpconform bpf stats, in the manner of calico-bpf stats', () => {
  it('VIEW-001 folds hooks side by side, groups reasons, and ends with each node’s errors (what `grep errors` finds)', () => {
    const lines = statsLines([
      {
        node: 'n0',
        data: [
          counter('eth0', 'ingress', 'total', 10),
          counter('eth0', 'egress', 'total', 7),
          counter('eth0', 'ingress', 'failed to create conntrack', 2),
          counter('eth0', 'ingress', 'dropped by policy', 1),
          counter('eth0', 'ingress', 'new connections', 3),
          counter('eth0', 'egress', 'dropped: NAT failed', 1),
        ],
      },
    ]);
    expect(lines.map((l) => [l.category, l.reason, l.ingress, l.egress])).toEqual([
      ['total', 'total', 10, 7],
      ['dropped', 'dropped by policy', 1, 0],
      ['errors', 'failed to create conntrack', 2, 0],
      ['errors', 'dropped: NAT failed', 0, 1],
      ['info', 'new connections', 3, 0],
    ]);
    expect(errorTotals(lines)).toEqual([{ node: 'n0', errors: 3 }]);
    const text = renderStats(lines);
    expect(text.split('\n').filter((l) => l.includes('errors'))).toContain('n0: 3 errors');
    expect(categoryOf('dropped: no free SNAT port')).toBe('errors');
    expect(categoryOf('dropped: too big for tunnel')).toBe('dropped');
  });
});

describe('dpconform bpf log', () => {
  it('VIEW-002 names interfaces, events and verdicts, and shows a new flow’s backend', () => {
    const rec: BpfLogRecord = {
      ts: 1_000_000_000n,
      seq: 1,
      cpu: 0,
      ifindex: 2,
      saddr: '172.18.1.1',
      daddr: '172.18.0.2',
      sport: 40000,
      dport: 30080,
      proto: 6,
      hook: 'ingress',
      event: 2,
      reason: 'total',
      verdict: 0,
      natIp: '10.244.1.5',
      natPort: 8080,
    };
    const lines = logLines(
      'n0',
      [rec, { ...rec, event: 3, verdict: 2, reason: 'dropped by policy', natIp: '0.0.0.0' }],
      new Map([[2, 'eth0']]),
      3_000_000_000n,
    );
    expect(lines[0]).toMatchObject({
      ago: 2,
      iface: 'eth0',
      event: 'new flow',
      flow: 'TCP 172.18.1.1:40000 -> 172.18.0.2:30080',
      nat: '10.244.1.5:8080',
      verdict: 'ok',
    });
    expect(lines[1]).toMatchObject({ event: 'drop', verdict: 'drop', reason: 'dropped by policy' });
    expect(lines[1]?.nat).toBeUndefined();
    expect(renderLog([])).toMatch(/bpfLogLevel Off logs nothing/);
  });
});

describe('the node agent’s conntrack sweep and endpoint count', () => {
  it('VIEW-003 a sweep counts entries by type and deletes only those idle past their protocol’s timeout', () => {
    const now = 1000n * 1_000_000_000n;
    const entry = (proto: 'TCP' | 'UDP', type: 'fwd' | 'rev', idleS: bigint) => ({
      key: { saddr: '1.1.1.1', daddr: '2.2.2.2', sport: 1, dport: 2, proto },
      value: {
        lastSeenNs: now - idleS * 1_000_000_000n,
        type,
        flags: 0,
        natIp: '3.3.3.3',
        natPort: 3,
        tunIp: '0.0.0.0',
        ordinal: 0,
        svcId: 1,
      },
    });
    const { used, expired } = planSweep(
      [
        entry('TCP', 'fwd', 10n),
        entry('TCP', 'rev', 4000n),
        entry('UDP', 'fwd', 61n),
        entry('UDP', 'rev', 59n),
      ],
      { tcp: 3600, udp: 60 },
      now,
    );
    expect(used).toEqual({ fwd: 2, rev: 2 });
    expect(expired.map((e) => `${e.key.proto} ${e.value.type}`)).toEqual(['TCP rev', 'UDP fwd']);
  });

  it('VIEW-004 an interface is an endpoint when it carries a program of ours, happy when it carries all it should', () => {
    expect(
      endpointCounts([
        { devname: 'eth0', kind: 'clsact/ingress', name: 'calico_from_hep' },
        { devname: 'eth0', kind: 'clsact/egress', name: 'calico_to_hep' },
        { devname: 'cali1', kind: 'clsact/ingress', name: 'calico_from_wl' },
        { devname: 'vx', kind: 'clsact/ingress', name: 'calico_vxlan_in' },
        { devname: 'lo', kind: 'clsact/ingress', name: 'calico_from_lo' },
        { devname: 'eth1', kind: 'clsact/ingress', name: 'someone_else' },
      ]),
    ).toEqual({ total: 4, happy: 3 });
  });
});
