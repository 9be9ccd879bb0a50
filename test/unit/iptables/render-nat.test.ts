import { describe, expect, it } from 'vitest';
import { endpointChainName, servicePortChains } from '../../../src/dataplane/iptables/chain-names.ts';
import { renderNat } from '../../../src/dataplane/iptables/render-nat.ts';
import { declared, endpoints, model, rulesOf, service } from './fixtures.ts';

const web = servicePortChains('default/web', 'TCP');
const sep = (ip: string, port = 8080, name = 'default/web', proto: 'TCP' | 'UDP' = 'TCP') =>
  endpointChainName(name, proto, `${ip}:${port}`);

const nodePortWeb = (etp: 'Cluster' | 'Local') =>
  service({
    name: 'web',
    clusterIP: '10.96.0.10',
    type: 'NodePort',
    externalTrafficPolicy: etp,
    ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
  });

describe('renderNat: the frame', () => {
  const text = renderNat(model([]), { name: 'n0' });

  it('is one nat section that ends in COMMIT', () => {
    expect(text.startsWith('*nat\n')).toBe(true);
    expect(text.trimEnd().endsWith('COMMIT')).toBe(true);
  });

  it('declares the fixed chains', () => {
    expect(declared(text)).toEqual(['KUBE-SERVICES', 'KUBE-NODEPORTS', 'KUBE-POSTROUTING', 'KUBE-MARK-MASQ']);
  });

  it('hooks PREROUTING and OUTPUT to KUBE-SERVICES and POSTROUTING to KUBE-POSTROUTING', () => {
    const inserts = text.split('\n').filter((l) => l.startsWith('-I '));
    expect(inserts).toEqual([
      '-I OUTPUT 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I PREROUTING 1 -m comment --comment "kubernetes service portals" -j KUBE-SERVICES',
      '-I POSTROUTING 1 -m comment --comment "kubernetes postrouting rules" -j KUBE-POSTROUTING',
    ]);
  });

  it('masquerades marked packets with random ports and clears the mark', () => {
    expect(rulesOf(text, 'KUBE-POSTROUTING')).toEqual([
      '-m mark ! --mark 0x4000/0x4000 -j RETURN',
      '-j MARK --xor-mark 0x4000',
      '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully',
    ]);
    expect(rulesOf(text, 'KUBE-MARK-MASQ')).toEqual(['-j MARK --or-mark 0x4000']);
  });

  it('sends local destinations to KUBE-NODEPORTS as the only (last) KUBE-SERVICES rule', () => {
    expect(rulesOf(text, 'KUBE-SERVICES')).toEqual([
      '-m comment --comment "kubernetes service nodeports; NOTE: this must be the last rule in this chain" -m addrtype --dst-type LOCAL -j KUBE-NODEPORTS',
    ]);
  });
});

describe('renderNat: a ClusterIP service', () => {
  const m = model(
    [service({ name: 'web', clusterIP: '10.96.0.10' })],
    [
      endpoints('web', [
        ['10.244.1.3', 'n1'],
        ['10.244.0.2', 'n0'],
        ['10.244.1.2', 'n1'],
      ]),
    ],
  );
  const text = renderNat(m, { name: 'n0' });

  it('captures the cluster IP and port before the NodePort rule', () => {
    const rules = rulesOf(text, 'KUBE-SERVICES');
    expect(rules).toHaveLength(2);
    expect(rules[0]).toBe(
      `-m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 -j ${web.cluster}`,
    );
    expect(rules[1]).toContain('-j KUBE-NODEPORTS');
  });

  it('masquerades cluster-IP traffic from outside the pod network first', () => {
    expect(rulesOf(text, web.cluster)[0]).toBe(
      '-m comment --comment "default/web cluster IP" -m tcp -p tcp -d 10.96.0.10 --dport 80 ! -s 10.244.0.0/16 -j KUBE-MARK-MASQ',
    );
  });

  it('spreads with probabilities 1/3, 1/2 and a catch-all, endpoints in a stable order', () => {
    expect(rulesOf(text, web.cluster).slice(1)).toEqual([
      `-m comment --comment "default/web -> 10.244.0.2:8080" -m statistic --mode random --probability 0.3333333333 -j ${sep('10.244.0.2')}`,
      `-m comment --comment "default/web -> 10.244.1.2:8080" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.1.2')}`,
      `-m comment --comment "default/web -> 10.244.1.3:8080" -j ${sep('10.244.1.3')}`,
    ]);
  });

  it('gives each endpoint a hairpin masquerade then a DNAT to the resolved target port', () => {
    expect(rulesOf(text, sep('10.244.1.2'))).toEqual([
      '-m comment --comment default/web -s 10.244.1.2 -j KUBE-MARK-MASQ',
      '-m comment --comment default/web -m tcp -p tcp -j DNAT --to-destination 10.244.1.2:8080',
    ]);
  });

  it('has no external chain and no NodePort rule', () => {
    expect(declared(text)).not.toContain(web.external);
    expect(rulesOf(text, 'KUBE-NODEPORTS')).toEqual([]);
  });

  it('renders the same text every time', () => {
    expect(renderNat(m, { name: 'n0' })).toBe(text);
    expect(renderNat(m, { name: 'n1' })).toBe(text);
  });

  it('uses four decimal-exact shares for four endpoints', () => {
    const four = model(
      [service({ name: 'web', clusterIP: '10.96.0.10' })],
      [
        endpoints(
          'web',
          ['10.244.0.2', '10.244.0.3', '10.244.0.4', '10.244.0.5'].map((ip) => [ip, 'n0']),
        ),
      ],
    );
    const probs = rulesOf(renderNat(four, { name: 'n0' }), web.cluster).map(
      (r) => /--probability (\S+)/.exec(r)?.[1] ?? 'none',
    );
    expect(probs).toEqual(['none', '0.2500000000', '0.3333333333', '0.5000000000', 'none']);
  });

  it('leaves out the outside-masquerade rule without a cluster CIDR', () => {
    const noCidr = { ...m, clusterCidr: '' };
    expect(rulesOf(renderNat(noCidr, { name: 'n0' }), web.cluster).some((r) => r.includes('! -s'))).toBe(
      false,
    );
  });

  it('skips endpoints that are not ready', () => {
    const notReady = model(
      [service({ name: 'web', clusterIP: '10.96.0.10' })],
      [
        endpoints('web', [
          ['10.244.0.2', 'n0', false],
          ['10.244.0.3', 'n0'],
        ]),
      ],
    );
    const out = renderNat(notReady, { name: 'n0' });
    expect(declared(out)).not.toContain(sep('10.244.0.2'));
    expect(rulesOf(out, web.cluster).slice(1)).toEqual([
      `-m comment --comment "default/web -> 10.244.0.3:8080" -j ${sep('10.244.0.3')}`,
    ]);
  });
});

describe('renderNat: NodePort with externalTrafficPolicy Cluster', () => {
  const m = model([nodePortWeb('Cluster')], [endpoints('web', [['10.244.1.2', 'n1']])]);
  const text = renderNat(m, { name: 'n0' });

  it('dispatches the NodePort to the external chain', () => {
    expect(rulesOf(text, 'KUBE-NODEPORTS')).toEqual([
      `-m comment --comment default/web -m tcp -p tcp --dport 30080 -j ${web.external}`,
    ]);
  });

  it('marks for masquerade, then uses every endpoint', () => {
    expect(rulesOf(text, web.external)).toEqual([
      '-m comment --comment "masquerade traffic for default/web external destinations" -j KUBE-MARK-MASQ',
      `-j ${web.cluster}`,
    ]);
    expect(declared(text)).not.toContain(web.local);
  });
});

describe('renderNat: NodePort with externalTrafficPolicy Local', () => {
  const m = model(
    [nodePortWeb('Local')],
    [
      endpoints('web', [
        ['10.244.0.2', 'n0'],
        ['10.244.1.2', 'n1'],
        ['10.244.0.3', 'n0'],
      ]),
    ],
  );

  it('on a node with local endpoints: no masquerade for outside clients, local endpoints only', () => {
    const text = renderNat(m, { name: 'n0' });
    expect(rulesOf(text, web.external)).toEqual([
      `-m comment --comment "pod traffic for default/web external destinations" -s 10.244.0.0/16 -j ${web.cluster}`,
      '-m comment --comment "masquerade LOCAL traffic for default/web external destinations" -m addrtype --src-type LOCAL -j KUBE-MARK-MASQ',
      `-m comment --comment "route LOCAL traffic for default/web external destinations" -m addrtype --src-type LOCAL -j ${web.cluster}`,
      `-j ${web.local}`,
    ]);
    expect(rulesOf(text, web.local)).toEqual([
      `-m comment --comment "default/web -> 10.244.0.2:8080" -m statistic --mode random --probability 0.5000000000 -j ${sep('10.244.0.2')}`,
      `-m comment --comment "default/web -> 10.244.0.3:8080" -j ${sep('10.244.0.3')}`,
    ]);
    // The cluster chain still spreads over all three for pods and the node itself.
    expect(rulesOf(text, web.cluster)).toHaveLength(4);
  });

  it('on a node without local endpoints: the external chain ends without a policy jump', () => {
    const text = renderNat(m, { name: 'n2' });
    const ext = rulesOf(text, web.external);
    expect(ext).toHaveLength(3);
    expect(ext.some((r) => r.includes(web.local))).toBe(false);
    expect(declared(text)).not.toContain(web.local);
    // The NodePort is still captured, so pods and the node short-circuit to the cluster chain.
    expect(rulesOf(text, 'KUBE-NODEPORTS')).toHaveLength(1);
  });
});

describe('renderNat: LoadBalancer VIP and externalIPs', () => {
  const m = model(
    [
      service({
        name: 'web',
        clusterIP: '10.96.0.10',
        type: 'LoadBalancer',
        loadBalancerIP: '172.18.255.200',
        externalIPs: ['172.18.100.1', '172.18.100.2'],
        ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
      }),
    ],
    [endpoints('web', [['10.244.1.2', 'n1']])],
  );
  const text = renderNat(m, { name: 'n0' });

  it('captures each external IP and the VIP into the external chain', () => {
    expect(rulesOf(text, 'KUBE-SERVICES').slice(1, 4)).toEqual([
      `-m comment --comment "default/web external IP" -m tcp -p tcp -d 172.18.100.1 --dport 80 -j ${web.external}`,
      `-m comment --comment "default/web external IP" -m tcp -p tcp -d 172.18.100.2 --dport 80 -j ${web.external}`,
      `-m comment --comment "default/web loadbalancer IP" -m tcp -p tcp -d 172.18.255.200 --dport 80 -j ${web.external}`,
    ]);
  });

  it('ignores a VIP on a Service that is not a LoadBalancer', () => {
    const np = model([{ ...(m.services[0] as (typeof m.services)[0]), type: 'NodePort' }], m.endpoints);
    expect(renderNat(np, { name: 'n0' })).not.toContain('172.18.255.200');
  });

  it('ignores Local policy and nodePort on a ClusterIP Service with externalIPs', () => {
    const cip = model(
      [
        service({
          name: 'web',
          clusterIP: '10.96.0.10',
          externalIPs: ['172.18.100.1'],
          externalTrafficPolicy: 'Local',
          ports: [{ protocol: 'TCP', port: 80, targetPort: 8080, nodePort: 30080 }],
        }),
      ],
      m.endpoints,
    );
    const out = renderNat(cip, { name: 'n0' });
    expect(rulesOf(out, 'KUBE-NODEPORTS')).toEqual([]);
    expect(rulesOf(out, web.external)[0]).toContain('-j KUBE-MARK-MASQ');
  });
});

describe('renderNat: ports and protocols', () => {
  const m = model(
    [
      service({
        name: 'dns',
        clusterIP: '10.96.0.53',
        type: 'NodePort',
        ports: [
          { name: 'dns', protocol: 'UDP', port: 53, targetPort: 'dns', nodePort: 30053 },
          { name: 'dns-tcp', protocol: 'TCP', port: 53, targetPort: 5353, nodePort: 30054 },
        ],
      }),
    ],
    [
      {
        namespace: 'default',
        serviceName: 'dns',
        ports: [
          {
            portName: 'dns',
            protocol: 'UDP',
            port: 1053,
            endpoints: [{ ip: '10.244.0.9', nodeName: 'n0', podName: 'd', ready: true }],
          },
          {
            portName: 'dns-tcp',
            protocol: 'TCP',
            port: 5353,
            endpoints: [{ ip: '10.244.0.9', nodeName: 'n0', podName: 'd', ready: true }],
          },
        ],
      },
    ],
  );
  const text = renderNat(m, { name: 'n0' });
  const udp = servicePortChains('default/dns:dns', 'UDP');
  const tcp = servicePortChains('default/dns:dns-tcp', 'TCP');

  it('gives every port its own chains', () => {
    expect(udp.cluster).not.toBe(tcp.cluster);
    expect(declared(text)).toEqual(
      expect.arrayContaining([udp.cluster, tcp.cluster, udp.external, tcp.external]),
    );
  });

  it('matches and DNATs UDP as UDP, to the endpoint port of the same port name', () => {
    expect(rulesOf(text, 'KUBE-SERVICES')[0]).toBe(
      `-m comment --comment "default/dns:dns cluster IP" -m udp -p udp -d 10.96.0.53 --dport 53 -j ${udp.cluster}`,
    );
    expect(rulesOf(text, 'KUBE-NODEPORTS')[0]).toBe(
      `-m comment --comment default/dns:dns -m udp -p udp --dport 30053 -j ${udp.external}`,
    );
    const udpSep = endpointChainName('default/dns:dns', 'UDP', '10.244.0.9:1053');
    expect(rulesOf(text, udpSep)[1]).toBe(
      '-m comment --comment default/dns:dns -m udp -p udp -j DNAT --to-destination 10.244.0.9:1053',
    );
    const tcpSep = endpointChainName('default/dns:dns-tcp', 'TCP', '10.244.0.9:5353');
    expect(rulesOf(text, tcpSep)[1]).toContain('-m tcp -p tcp -j DNAT --to-destination 10.244.0.9:5353');
  });
});

describe('renderNat: session affinity ClientIP', () => {
  const m = model(
    [service({ name: 'web', clusterIP: '10.96.0.10', sessionAffinity: 'ClientIP' })],
    [
      endpoints('web', [
        ['10.244.0.2', 'n0'],
        ['10.244.0.3', 'n0'],
      ]),
    ],
  );
  const text = renderNat(m, { name: 'n0' });

  it('checks recent lists before the random spread and records the choice in the endpoint chain', () => {
    const rules = rulesOf(text, web.cluster);
    expect(rules[1]).toBe(
      `-m comment --comment "default/web -> 10.244.0.2:8080" -m recent --name ${sep('10.244.0.2')} --rcheck --seconds 10800 --reap -j ${sep('10.244.0.2')}`,
    );
    expect(rules[3]).toContain('--probability 0.5000000000');
    expect(rulesOf(text, sep('10.244.0.3'))[1]).toBe(
      `-m comment --comment default/web -m recent --name ${sep('10.244.0.3')} --set -m tcp -p tcp -j DNAT --to-destination 10.244.0.3:8080`,
    );
  });

  it("checks the Service's own timeoutSeconds", () => {
    const short = model(
      [
        service({
          name: 'web',
          clusterIP: '10.96.0.10',
          sessionAffinity: 'ClientIP',
          sessionAffinityTimeoutSeconds: 5,
        }),
      ],
      [endpoints('web', [['10.244.0.2', 'n0']])],
    );
    expect(rulesOf(renderNat(short, { name: 'n0' }), web.cluster)[1]).toContain(
      '--rcheck --seconds 5 --reap',
    );
  });
});

describe('renderNat: services that produce no nat rules', () => {
  it('writes nothing for a Service without endpoints', () => {
    const text = renderNat(model([nodePortWeb('Cluster')]), { name: 'n0' });
    expect(text).not.toContain('default/web');
    expect(declared(text)).toHaveLength(4);
  });

  it('skips headless Services', () => {
    const text = renderNat(
      model([service({ name: 'web', clusterIP: 'None' })], [endpoints('web', [['10.244.0.2', 'n0']])]),
      { name: 'n0' },
    );
    expect(text).not.toContain('default/web');
  });

  it('leaves out a Service whose address could break a rule, and keeps the others', () => {
    const m = model(
      [
        service({ name: 'bad', clusterIP: '10.96.0.999' }),
        service({ name: 'evil"name', clusterIP: '10.96.0.11' }),
        service({ name: 'web', clusterIP: '10.96.0.10' }),
      ],
      [endpoints('bad', [['10.244.0.2', 'n0']]), endpoints('web', [['10.244.0.2', 'n0']])],
    );
    const text = renderNat(m, { name: 'n0' });
    expect(text).not.toContain('999');
    expect(text).not.toContain('evil');
    expect(rulesOf(text, web.cluster).length).toBeGreaterThan(0);
  });
});
