import { describe, expect, it } from 'vitest';
import { iptablesDropCount } from '../../../suites/lib/local-drops.ts';
import { parseConntrack } from '../../../suites/lib/served-by.ts';

describe('reading where the kernel sent a flow', () => {
  it('reads both directions of conntrack -L lines, TCP and UDP', () => {
    const [tcp, udp] = parseConntrack(
      [
        'tcp      6 113 TIME_WAIT src=172.18.1.1 dst=172.18.0.3 sport=37470 dport=30081 src=10.244.1.2 dst=172.18.0.3 sport=8080 dport=41604 [ASSURED] mark=0 use=1',
        'udp      17 23 src=172.18.1.1 dst=172.18.0.3 sport=36200 dport=30083 src=10.244.0.2 dst=172.18.0.3 sport=8080 dport=10627 mark=0 use=1',
        'conntrack v1.4.7 (conntrack-tools): 2 flow entries have been shown.',
      ].join('\n'),
    );
    expect(tcp).toMatchObject({
      protocol: 'TCP',
      timeout: 113,
      orig: { src: '172.18.1.1', dst: '172.18.0.3', sport: 37470, dport: 30081 },
      reply: { src: '10.244.1.2', sport: 8080 },
    });
    expect(udp).toMatchObject({ protocol: 'UDP', reply: { src: '10.244.0.2', sport: 8080, dport: 10627 } });
  });
});

describe('counting drops for a Local Service without an endpoint (iptables)', () => {
  const save = [
    '[0:0] -A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/no-endpoints:http has no endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30099 -j REJECT --reject-with icmp-port-unreachable',
    '[4:240] -A KUBE-EXTERNAL-SERVICES -d 172.18.255.202/32 -p tcp -m comment --comment "default/solo-lb-local has no local endpoints" -m tcp --dport 80 -j DROP',
    '[2:120] -A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/solo-lb-local has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30003 -j DROP',
    '[3:180] -A KUBE-EXTERNAL-SERVICES -p tcp -m comment --comment "default/solo-local has no local endpoints" -m addrtype --dst-type LOCAL -m tcp --dport 30084 -j DROP',
    '[9:540] -A KUBE-EXTERNAL-SERVICES -p udp -m addrtype --dst-type LOCAL -m udp --dport 30084 -j DROP',
  ].join('\n');

  it('reads the packets of the rule that drops the target, NodePort or VIP', () => {
    expect(iptablesDropCount(save, { protocol: 'TCP', port: 30084 })).toBe(3);
    expect(iptablesDropCount(save, { protocol: 'UDP', port: 30084 })).toBe(9);
    expect(iptablesDropCount(save, { protocol: 'TCP', ip: '172.18.255.202', port: 80 })).toBe(4);
    // A refusal is not a drop, and a VIP's rule is not a NodePort's.
    expect(iptablesDropCount(save, { protocol: 'TCP', port: 30099 })).toBe(0);
    expect(iptablesDropCount(save, { protocol: 'TCP', port: 80 })).toBe(0);
  });
});
