import { describe, expect, it } from 'vitest';
import { planUpdate } from '../../../src/dataplane/bpf/live.ts';
import { DEFAULT_FELIX_SETTINGS, type FelixSettings } from '../../../src/k8s/felix-settings.ts';

const base: FelixSettings = structuredClone(DEFAULT_FELIX_SETTINGS) as FelixSettings;
const next = (over: Partial<FelixSettings>): FelixSettings => ({ ...base, ...structuredClone(over) });

describe('which settings a running eBPF dataplane takes in place', () => {
  it('LIVE-001 the per-packet config, opt-outs, balancer and interface pattern change in place', () => {
    const p = planUpdate(
      base,
      next({
        bpfExternalServiceMode: 'DSR',
        bpfLogLevel: 'Debug',
        bpfPSNATPorts: '21000-21009',
        bpfHostNetworkedNATWithoutCTLB: 'Disabled',
        bpfDSROptoutCIDRs: ['10.0.0.0/8'],
        bpfConnectTimeLoadBalancingEnabled: false,
        bpfDataIfacePattern: '^eth0$',
        bpfKubeProxyEndpointSlicesEnabled: false,
      }),
    );
    expect(p.reinstall).toEqual([]);
    expect(p).toMatchObject({ config: true, dsrOptout: true, ctlb: 'detach', pattern: true });
    expect(p.grow).toBeUndefined();
    expect(p.changes).toContain('bpfLogLevel "Off" -> "Debug"');
  });

  it('LIVE-002 maps that grow are rebuilt in place; one that shrinks needs a reinstall', () => {
    const grow = planUpdate(base, next({ bpfMapSizeConntrack: 1_000_000, bpfMapSizeRoute: 300_000 }));
    expect(grow.reinstall).toEqual([]);
    expect(grow.grow).toMatchObject({ conntrack: 1_000_000, route: 300_000, natFrontend: 65536 });
    const shrink = planUpdate(base, next({ bpfMapSizeConntrack: 1_000_000, bpfMapSizeNATFrontend: 1024 }));
    expect(shrink.reinstall).toEqual([
      'bpfMapSizeNATFrontend shrinks (65536 -> 1024): a map cannot shrink under its entries',
    ]);
    expect(shrink.grow).toBeUndefined();
  });

  it('LIVE-003 nothing changed is nothing to do; a new dataplane or an unknown field reinstalls', () => {
    expect(planUpdate(base, next({}))).toMatchObject({ reinstall: [], config: false, changes: [] });
    expect(planUpdate(base, next({ bpfEnabled: false })).reinstall).toEqual([
      'bpfEnabled changes the dataplane',
    ]);
    const unknown = { ...base, someFutureField: 1 } as unknown as FelixSettings;
    expect(planUpdate(base, unknown).reinstall).toEqual(['someFutureField is read at install only']);
  });
});
