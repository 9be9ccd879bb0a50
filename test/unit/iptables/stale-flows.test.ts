import { describe, expect, it } from 'vitest';
import { parseIptablesSave } from '../../../src/dataplane/iptables/save-parse.ts';
import { dnatTargets, removedEndpoints } from '../../../src/dataplane/iptables/stale-flows.ts';
import type { ClusterModel } from '../../../src/k8s/model.ts';

const SAVE = `*nat
:KUBE-SEP-AAA - [0:0]
:KUBE-SEP-BBB - [0:0]
-A KUBE-SEP-AAA -p tcp -m comment --comment "default/web" -m tcp -j DNAT --to-destination 10.244.0.2:8080
-A KUBE-SEP-BBB -p udp -m comment --comment "default/dns" -m udp -j DNAT --to-destination 10.244.1.7:53
-A KUBE-SEP-BBB -s 10.244.1.7/32 -j KUBE-MARK-MASQ
COMMIT
`;

function modelWith(ips: string[]): ClusterModel {
  return {
    nodes: [],
    pods: [],
    services: [],
    endpoints: [
      {
        namespace: 'default',
        serviceName: 'web',
        ports: [
          {
            portName: '',
            protocol: 'TCP',
            port: 8080,
            endpoints: ips.map((ip) => ({ ip, nodeName: 'n', podName: ip, ready: true })),
          },
        ],
      },
    ],
    clusterCidr: '10.244.0.0/16',
    serviceCidr: '10.96.0.0/12',
  };
}

describe('stale flows', () => {
  it('reads the endpoint addresses a nat table DNATs to', () => {
    expect([...dnatTargets(parseIptablesSave(SAVE).get('nat'))].sort()).toEqual(['10.244.0.2', '10.244.1.7']);
    expect(dnatTargets(undefined).size).toBe(0);
  });

  it('names the endpoints the new model dropped, and only those', () => {
    const before = new Set(['10.244.0.2', '10.244.1.7']);
    expect(removedEndpoints(before, modelWith(['10.244.0.2']))).toEqual(['10.244.1.7']);
    expect(removedEndpoints(before, modelWith(['10.244.0.2', '10.244.1.7']))).toEqual([]);
  });
});
