import { describe, expect, it } from 'vitest';
import { parseIptablesVersion } from '../../../src/dataplane/iptables/backend.ts';
import { frontendsFromTables } from '../../../src/dataplane/iptables/frontends.ts';
import { explainRestoreError, withPrimedCache } from '../../../src/dataplane/iptables/node-tables.ts';
import { restoreLine, restoreWord } from '../../../src/dataplane/iptables/restore-text.ts';
import { savedTable } from './fixtures.ts';

describe('parseIptablesVersion', () => {
  it.each([
    ['iptables v1.8.9 (nf_tables)\n', 'nf_tables', '1.8.9'],
    ['iptables v1.8.7 (legacy)', 'legacy', '1.8.7'],
    ['iptables v1.6.1', 'legacy', '1.6.1'],
    ['something else', 'unknown', ''],
  ])('%j -> %s %s', (text, kind, version) => {
    expect(parseIptablesVersion(text)).toMatchObject({ kind, version });
  });
});

describe('frontendsFromTables', () => {
  // As iptables-save prints what the renderers wrote.
  const nat = savedTable('nat', [
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-NODEPORTS - [0:0]',
    '-A KUBE-SERVICES -d 10.96.0.10/32 -p tcp -m comment --comment "default/web cluster IP" -m tcp --dport 80 -j KUBE-SVC-AAAAAAAAAAAAAAAA',
    '-A KUBE-SERVICES -d 172.18.255.200/32 -p tcp -m comment --comment "default/web loadbalancer IP" -m tcp --dport 80 -j KUBE-EXT-AAAAAAAAAAAAAAAA',
    '-A KUBE-SERVICES -m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    '-A KUBE-NODEPORTS -p udp -m comment --comment default/dns -m udp --dport 30053 -j KUBE-EXT-BBBBBBBBBBBBBBBB',
    '-A KUBE-SVC-AAAAAAAAAAAAAAAA ! -s 10.244.0.0/16 -d 10.96.0.10/32 -p tcp -m tcp --dport 80 -j KUBE-MARK-MASQ',
  ]);
  const filter = savedTable('filter', [
    ':KUBE-SERVICES - [0:0]',
    ':KUBE-EXTERNAL-SERVICES - [0:0]',
    '-A KUBE-SERVICES -d 10.96.0.20/32 -p tcp -m comment --comment "default/empty has no endpoints" -m tcp --dport 81 -j REJECT --reject-with icmp-port-unreachable',
    '-A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/empty has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30081 -j REJECT --reject-with icmp-port-unreachable',
    '-A KUBE-EXTERNAL-SERVICES -d 172.18.255.200/32 -p tcp -m comment --comment "default/web has no local endpoints" -m tcp --dport 80 -j DROP',
  ]);

  it('lists cluster IPs, VIPs, NodePorts and refusing frontends once each', () => {
    expect(frontendsFromTables('n0', nat, filter)).toEqual([
      { node: 'n0', kind: 'ip', ip: '10.96.0.10', port: 80, protocol: 'TCP' },
      { node: 'n0', kind: 'ip', ip: '172.18.255.200', port: 80, protocol: 'TCP' },
      { node: 'n0', kind: 'nodeport', port: 30053, protocol: 'UDP' },
      { node: 'n0', kind: 'ip', ip: '10.96.0.20', port: 81, protocol: 'TCP' },
      { node: 'n0', kind: 'nodeport', port: 30081, protocol: 'TCP' },
    ]);
  });

  it('finds nothing on a node without our chains', () => {
    expect(frontendsFromTables('n0', savedTable('nat'), undefined)).toEqual([]);
  });
});

describe('restore input helpers', () => {
  it('quotes only words that need it', () => {
    expect(restoreWord('KUBE-SVC-X')).toBe('KUBE-SVC-X');
    expect(restoreWord('0x4000/0x4000')).toBe('0x4000/0x4000');
    expect(restoreWord('a b')).toBe('"a b"');
    expect(restoreWord('say "x"\\')).toBe('"say \\"x\\"\\\\"');
    expect(restoreWord('')).toBe('""');
    expect(restoreLine(['-m', 'comment', '--comment', 'ns/svc:p cluster IP'])).toBe(
      '-m comment --comment "ns/svc:p cluster IP"',
    );
  });

  it('puts the cache-priming line right after the table header', () => {
    expect(withPrimedCache('*nat\n:KUBE-X - [0:0]\nCOMMIT\n')).toBe('*nat\n-S\n:KUBE-X - [0:0]\nCOMMIT\n');
  });

  it('pairs a restore complaint with the input line it names', () => {
    const stderr =
      'iptables-restore v1.8.9 (nf_tables): \nline 2: RULE_APPEND failed (No such file or directory): rule in chain KUBE-X\n';
    expect(explainRestoreError(stderr, '*nat\n-A KUBE-X -j ACCEPT\nCOMMIT')).toBe(
      'line 2: RULE_APPEND failed (No such file or directory): rule in chain KUBE-X [input: -A KUBE-X -j ACCEPT]',
    );
    expect(explainRestoreError('no line here', '*nat')).toBeUndefined();
  });
});
