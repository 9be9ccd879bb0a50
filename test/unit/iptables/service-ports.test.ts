import { describe, expect, it } from 'vitest';
import { servicePortsFor } from '../../../src/dataplane/iptables/service-ports.ts';
import { endpoints, model, service } from './fixtures.ts';

describe('servicePortsFor', () => {
  it('marks endpoints on the rendered node as local', () => {
    const m = model(
      [service({ name: 'web', clusterIP: '10.96.0.10' })],
      [
        endpoints('web', [
          ['10.244.0.2', 'n0'],
          ['10.244.1.2', 'n1'],
        ]),
      ],
    );
    const [port] = servicePortsFor(m, 'n1').ports;
    expect(port?.endpoints.map((e) => [e.address, e.local])).toEqual([
      ['10.244.0.2:8080', false],
      ['10.244.1.2:8080', true],
    ]);
  });

  it('matches endpoints by port name and protocol, and merges duplicates', () => {
    const m = model(
      [
        service({
          name: 'web',
          clusterIP: '10.96.0.10',
          ports: [
            { name: 'http', protocol: 'TCP', port: 80, targetPort: 'http' },
            { name: 'http', protocol: 'UDP', port: 80, targetPort: 'http' },
          ],
        }),
      ],
      [
        endpoints('web', [['10.244.0.2', 'n0']], { portName: 'http', port: 8080 }),
        endpoints('web', [['10.244.0.2', 'n0']], { portName: 'http', port: 8080 }),
        endpoints('web', [['10.244.0.7', 'n0']], { portName: 'other', port: 9090 }),
      ],
    );
    const { ports, errors } = servicePortsFor(m, 'n0');
    expect(errors).toEqual([]);
    expect(ports.map((p) => [p.name, p.protocol, p.endpoints.map((e) => e.address)])).toEqual([
      ['default/web:http', 'TCP', ['10.244.0.2:8080']],
      ['default/web:http', 'UDP', []],
    ]);
  });

  it('reports what it leaves out, one line per problem naming the object', () => {
    const m = model(
      [
        service({ name: 'v6', clusterIP: 'fd00::10' }),
        service({
          name: 'np',
          clusterIP: '10.96.0.12',
          type: 'NodePort',
          externalIPs: ['not-an-ip', '172.18.100.1'],
          ports: [{ protocol: 'TCP', port: 80, targetPort: 8080 }],
        }),
        service({
          name: 'bigport',
          clusterIP: '10.96.0.13',
          ports: [{ protocol: 'TCP', port: 70000, targetPort: 1 }],
        }),
        service({
          name: 'sctp',
          clusterIP: '10.96.0.14',
          ports: [{ protocol: 'SCTP' as 'TCP', port: 1, targetPort: 1 }],
        }),
        service({ name: 'eps', clusterIP: '10.96.0.15' }),
      ],
      [endpoints('eps', [['10.244.0.300', 'n0']])],
    );
    const { ports, errors } = servicePortsFor(m, 'n0');
    expect(errors).toEqual([
      'default/v6: cluster IP fd00::10 is not an IPv4 address; left out',
      'default/np: NodePort Service port has no nodePort; NodePort left out',
      'default/np: externalIP not-an-ip is not an IPv4 address; left out',
      'default/bigport: port 70000 is not a valid port; left out',
      'default/sctp: protocol SCTP is not supported; left out',
      'default/eps: endpoint eps-0 has no IPv4 address (10.244.0.300); left out',
    ]);
    expect(ports.map((p) => p.name)).toEqual(['default/np', 'default/eps']);
    expect(ports[0]?.externalIPs).toEqual(['172.18.100.1']);
    expect(ports[0]?.nodePort).toBeUndefined();
  });

  it('accepts a LoadBalancer without a nodePort (allocateLoadBalancerNodePorts: false)', () => {
    const m = model([
      service({
        name: 'lb',
        clusterIP: '10.96.0.16',
        type: 'LoadBalancer',
        loadBalancerIP: '172.18.255.201',
      }),
    ]);
    const { ports, errors } = servicePortsFor(m, 'n0');
    expect(errors).toEqual([]);
    expect(ports[0]?.loadBalancerIPs).toEqual(['172.18.255.201']);
  });

  it('applies externalTrafficPolicy Local only where Kubernetes does', () => {
    const m = model([
      service({
        name: 'np',
        clusterIP: '10.96.0.12',
        type: 'NodePort',
        externalTrafficPolicy: 'Local',
        ports: [{ protocol: 'TCP', port: 80, targetPort: 80, nodePort: 30000 }],
      }),
      service({
        name: 'cip',
        clusterIP: '10.96.0.13',
        externalIPs: ['172.18.100.1'],
        externalTrafficPolicy: 'Local',
      }),
    ]);
    expect(servicePortsFor(m, 'n0').ports.map((p) => p.externalPolicyLocal)).toEqual([true, false]);
  });
});
