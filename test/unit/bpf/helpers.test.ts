import { describe, expect, it } from 'vitest';
import { isDataIface, isWorkloadIface, tcAttachLines } from '../../../src/dataplane/bpf/attach.ts';
import { clangArgv, multiarchIncludeDir, sizeDefines } from '../../../src/dataplane/bpf/build.ts';
import { localRouteBatch, routeDstCidr } from '../../../src/dataplane/bpf/node-kernel.ts';
import { DEFAULT_FELIX_SETTINGS } from '../../../src/k8s/felix-settings.ts';

describe('interface selection', () => {
  const pattern = new RegExp(DEFAULT_FELIX_SETTINGS.bpfDataIfacePattern);
  it('takes the default data interface pattern, never lo, vx or workload veths', () => {
    expect(['eth0', 'ens3', 'enp0s1', 'tunl0'].every((n) => isDataIface(n, pattern))).toBe(true);
    expect(['lo', 'vx', 'cali0123456789a', 'docker0', 'tunl1'].some((n) => isDataIface(n, pattern))).toBe(
      false,
    );
    expect(isDataIface('vx', /.*/)).toBe(false);
    expect(isWorkloadIface('cali0123456789a')).toBe(true);
    expect(isWorkloadIface('eth0')).toBe(false);
  });
});

describe('tc attach lines', () => {
  it('replaces clsact and pinned filters idempotently', () => {
    expect(
      tcAttachLines([
        { iface: 'eth0', ingress: '/p/in', egress: '/p/eg' },
        { iface: 'vx', ingress: '/p/vx' },
      ]),
    ).toEqual([
      'qdisc replace dev eth0 clsact',
      'filter replace dev eth0 ingress pref 1 handle 1 bpf da object-pinned /p/in',
      'filter replace dev eth0 egress pref 1 handle 1 bpf da object-pinned /p/eg',
      'qdisc replace dev vx clsact',
      'filter replace dev vx ingress pref 1 handle 1 bpf da object-pinned /p/vx',
    ]);
    expect(() => tcAttachLines([{ iface: 'a b' }])).toThrow(/whitespace/);
  });
});

describe('local routes', () => {
  it('adds the missing and removes the stale, tagged with our protocol', () => {
    expect(
      localRouteBatch(['10.96.0.0/12', '172.18.255.200/32'], ['10.96.0.0/12', '172.18.255.201/32']),
    ).toEqual([
      'route replace local 172.18.255.201/32 dev lo table local proto 201',
      'route del local 172.18.255.200/32 dev lo table local proto 201',
    ]);
    expect(routeDstCidr('172.18.255.200')).toBe('172.18.255.200/32');
    expect(routeDstCidr('10.96.0.0/12')).toBe('10.96.0.0/12');
  });
});

describe('build flags', () => {
  it('sizes every FelixConfiguration map with a define and rejects nonsense sizes', () => {
    const sizes = { natFrontend: 1, natBackend: 2, natAffinity: 3, route: 4, conntrack: 5 };
    expect(sizeDefines(sizes)).toEqual([
      '-DDPC_NAT_FE_SIZE=1',
      '-DDPC_NAT_BE_SIZE=2',
      '-DDPC_NAT_AFF_SIZE=3',
      '-DDPC_ROUTE_SIZE=4',
      '-DDPC_CT_SIZE=5',
    ]);
    expect(() => sizeDefines({ ...sizes, conntrack: 0 })).toThrow(/bad map size conntrack=0/);
  });

  it('compiles for the bpf target with debug info', () => {
    const argv = clangArgv('bpf/dpc.c', 'out.o', ['-DX=1'], ['bpf']);
    expect(argv.slice(0, 4)).toEqual(['clang', '-target', 'bpf', '-O2']);
    expect(argv).toContain('-g');
    expect(argv.slice(-5)).toEqual(['-DX=1', '-c', 'bpf/dpc.c', '-o', 'out.o']);
    expect(multiarchIncludeDir('x64')).toBe('/usr/include/x86_64-linux-gnu');
  });
});
