import { describe, expect, it } from 'vitest';
import {
  type DataplaneFootprint,
  describeFootprint,
  footprintShape,
  kubeServiceChains,
  type NodeFootprint,
} from '../../../src/dataplane/footprint.ts';

function node(over: Partial<NodeFootprint> = {}): NodeFootprint {
  return {
    links: ['eth0', 'lo'],
    tcFilters: [],
    chains: ['filter FORWARD', 'filter INPUT', 'nat PREROUTING'],
    localRoutes: [],
    cgroupProgs: [],
    tcProgIds: [],
    ...over,
  };
}

const bpf: DataplaneFootprint = {
  progIds: [11, 12, 13],
  mapIds: [5, 6],
  pins: ['dpc-worker/maps/cali_v4_ct', 'dpc-worker/progs/calico_from_hep'],
  nodes: {
    'dpc-worker': node({
      links: ['eth0', 'lo', 'vx'],
      tcFilters: ['eth0/ingress calico_from_hep', 'eth0/egress calico_to_hep'],
      localRoutes: ['10.96.0.10/32'],
      cgroupProgs: ['calico_connect4'],
      tcProgIds: [11, 12],
    }),
  },
};

describe('footprintShape', () => {
  it('keeps counts and names and drops the ids that change on every install', () => {
    const again: DataplaneFootprint = {
      ...bpf,
      progIds: [41, 42, 43],
      mapIds: [7, 8],
      nodes: { 'dpc-worker': { ...(bpf.nodes['dpc-worker'] as NodeFootprint), tcProgIds: [41, 42] } },
    };
    expect(footprintShape(again)).toEqual(footprintShape(bpf));
    expect(footprintShape(bpf)).toEqual({
      programs: 3,
      maps: 2,
      pins: 2,
      nodes: {
        'dpc-worker': {
          links: ['eth0', 'lo', 'vx'],
          tcFilters: ['eth0/ingress calico_from_hep', 'eth0/egress calico_to_hep'],
          chains: 3,
          chainNames: ['filter FORWARD', 'filter INPUT', 'nat PREROUTING'],
          localRoutes: 1,
          cgroupProgs: ['calico_connect4'],
        },
      },
    });
  });

  it('tells a state with a leftover device apart', () => {
    const clean: DataplaneFootprint = { progIds: [], mapIds: [], pins: [], nodes: { 'dpc-worker': node() } };
    const leftover: DataplaneFootprint = {
      ...clean,
      nodes: { 'dpc-worker': node({ links: ['eth0', 'lo', 'vx'] }) },
    };
    expect(footprintShape(leftover)).not.toEqual(footprintShape(clean));
  });
});

describe('describeFootprint', () => {
  it('says the counts and each node’s links in a few lines', () => {
    expect(describeFootprint(bpf)).toBe(
      [
        'programs 3, maps 2, pins 2',
        'dpc-worker: links 3 (eth0 lo vx), tc filters 2, chains 3, local routes 1, cgroup programs 1',
      ].join('\n'),
    );
  });
});

describe('kubeServiceChains', () => {
  it('keeps kube-proxy’s service chains and leaves its plumbing and everyone else’s', () => {
    const f: DataplaneFootprint = {
      progIds: [],
      mapIds: [],
      pins: [],
      nodes: {
        a: node({
          chains: [
            'filter KUBE-FIREWALL',
            'nat KUBE-MARK-MASQ',
            'nat KUBE-NODEPORTS',
            'nat KUBE-POSTROUTING',
            'nat KUBE-SEP-ABCDEF',
            'nat KUBE-SERVICES',
            'nat KUBE-SVC-123456',
            'nat PREROUTING',
          ],
        }),
        b: node(),
      },
    };
    expect(kubeServiceChains(f)).toEqual({
      a: ['nat KUBE-NODEPORTS', 'nat KUBE-SEP-ABCDEF', 'nat KUBE-SERVICES', 'nat KUBE-SVC-123456'],
      b: [],
    });
  });
});
