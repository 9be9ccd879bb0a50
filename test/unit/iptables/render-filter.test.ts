import { describe, expect, it } from 'vitest';
import { type FilterExtension, renderFilter } from '../../../src/dataplane/iptables/render-filter.ts';
import { declared, endpoints, model, rulesOf, savedTable, service } from './fixtures.ts';

const lb = (etp: 'Cluster' | 'Local') =>
  service({
    name: 'web',
    clusterIP: '10.96.0.10',
    type: 'LoadBalancer',
    loadBalancerIP: '172.18.255.200',
    externalIPs: ['172.18.100.1'],
    externalTrafficPolicy: etp,
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });

describe('renderFilter: the frame', () => {
  const text = renderFilter(model([]), { name: 'n0' });

  it('declares kube-proxy filter chains', () => {
    expect(declared(text)).toEqual([
      'KUBE-SERVICES',
      'KUBE-EXTERNAL-SERVICES',
      'KUBE-FORWARD',
      'KUBE-NODEPORTS',
      'KUBE-PROXY-FIREWALL',
    ]);
  });

  it('accepts masquerade-marked and established traffic in FORWARD, drops invalid', () => {
    expect(rulesOf(text, 'KUBE-FORWARD')).toEqual([
      '-m conntrack --ctstate INVALID -j DROP',
      '-m comment --comment "kubernetes forwarding rules" -m mark --mark 0x4000/0x4000 -j ACCEPT',
      '-m comment --comment "kubernetes forwarding conntrack rule" -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT',
    ]);
  });

  it('hooks the built-in chains so that each ends up in kube-proxy order', () => {
    const inserts = text.split('\n').filter((l) => l.startsWith('-I '));
    // Every insert goes to position 1, so the order within a chain is the reverse of this list.
    const forward = inserts.filter((l) => l.startsWith('-I FORWARD')).map((l) => l.split(' -j ')[1]);
    expect(forward.reverse()).toEqual([
      'KUBE-PROXY-FIREWALL',
      'KUBE-FORWARD',
      'KUBE-SERVICES',
      'KUBE-EXTERNAL-SERVICES',
    ]);
    const input = inserts.filter((l) => l.startsWith('-I INPUT')).map((l) => l.split(' -j ')[1]);
    expect(input.reverse()).toEqual(['KUBE-PROXY-FIREWALL', 'KUBE-NODEPORTS', 'KUBE-EXTERNAL-SERVICES']);
    expect(inserts).toContain(
      '-I OUTPUT 1 -m conntrack --ctstate NEW -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
    );
  });

  it('adds no jump that the node already has', () => {
    const current = savedTable('filter', [
      '-A INPUT -m conntrack --ctstate NEW -m comment --comment "kubernetes externally-visible service portals" -j KUBE-EXTERNAL-SERVICES',
      '-A FORWARD -m comment --comment "kubernetes forwarding rules" -j KUBE-FORWARD',
    ]);
    const again = renderFilter(model([]), { name: 'n0' }, { current }).split('\n');
    expect(again.filter((l) => l.includes('-j KUBE-EXTERNAL-SERVICES') && l.startsWith('-I INPUT'))).toEqual(
      [],
    );
    expect(again.filter((l) => l.startsWith('-I FORWARD') && l.endsWith('-j KUBE-FORWARD'))).toEqual([]);
    expect(
      again.filter((l) => l.startsWith('-I FORWARD') && l.endsWith('-j KUBE-EXTERNAL-SERVICES')),
    ).toHaveLength(1);
  });
});

describe('renderFilter: services without endpoints are refused', () => {
  const text = renderFilter(model([lb('Cluster')]), { name: 'n0' });

  it('rejects the cluster IP in KUBE-SERVICES', () => {
    expect(rulesOf(text, 'KUBE-SERVICES')).toEqual([
      '-m comment --comment "default/web has no endpoints" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it('rejects external IPs, the VIP and the NodePort in KUBE-EXTERNAL-SERVICES', () => {
    expect(rulesOf(text, 'KUBE-EXTERNAL-SERVICES')).toEqual([
      '-m comment --comment "default/web has no endpoints" -m tcp -p tcp -d 172.18.100.1 --dport 80 -j REJECT --reject-with icmp-port-unreachable',
      '-m comment --comment "default/web has no endpoints" -m tcp -p tcp -d 172.18.255.200 --dport 80 -j REJECT --reject-with icmp-port-unreachable',
      '-m comment --comment "default/web has no endpoints" -m addrtype --dst-type LOCAL -m tcp -p tcp --dport 30080 -j REJECT --reject-with icmp-port-unreachable',
    ]);
  });

  it('refuses UDP ports as UDP', () => {
    const udp = model([
      service({
        name: 'dns',
        clusterIP: '10.96.0.53',
        ports: [{ protocol: 'UDP', port: 53, targetPort: 53 }],
      }),
    ]);
    expect(rulesOf(renderFilter(udp, { name: 'n0' }), 'KUBE-SERVICES')[0]).toContain(
      '-m udp -p udp -d 10.96.0.53 --dport 53',
    );
  });

  it('refuses nothing once the Service has a ready endpoint', () => {
    const ok = renderFilter(model([lb('Cluster')], [endpoints('web', [['10.244.1.2', 'n1']])]), {
      name: 'n0',
    });
    expect(rulesOf(ok, 'KUBE-SERVICES')).toEqual([]);
    expect(rulesOf(ok, 'KUBE-EXTERNAL-SERVICES')).toEqual([]);
  });
});

describe('renderFilter: externalTrafficPolicy Local', () => {
  const m = model([lb('Local')], [endpoints('web', [['10.244.1.2', 'n1']])]);

  it('drops external traffic on a node without local endpoints, but not the cluster IP', () => {
    const text = renderFilter(m, { name: 'n0' });
    expect(rulesOf(text, 'KUBE-SERVICES')).toEqual([]);
    const ext = rulesOf(text, 'KUBE-EXTERNAL-SERVICES');
    expect(ext).toHaveLength(3);
    for (const r of ext) {
      expect(r).toContain('--comment "default/web has no local endpoints"');
      expect(r.endsWith('-j DROP')).toBe(true);
    }
  });

  it('drops nothing on the node that has the endpoint', () => {
    expect(rulesOf(renderFilter(m, { name: 'n1' }), 'KUBE-EXTERNAL-SERVICES')).toEqual([]);
  });
});

describe('renderFilter: extensions', () => {
  it('lets another module add its chains and keeps them from being deleted as stale', () => {
    const ext: FilterExtension = {
      write: (f) => f.append('DPC-POL-X', ['-j', 'RETURN']),
      owns: (c) => c.startsWith('DPC-POL-'),
    };
    const current = savedTable('filter', [':DPC-POL-OLD - [0:0]', ':OTHER - [0:0]']);
    const text = renderFilter(model([]), { name: 'n0' }, { current, extensions: [ext] });
    expect(rulesOf(text, 'DPC-POL-X')).toEqual(['-j RETURN']);
    expect(text).toContain('-X DPC-POL-OLD');
    expect(text).not.toContain('OTHER');
  });
});
