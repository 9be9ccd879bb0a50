import { describe, expect, it } from 'vitest';
import {
  isKubeProxyLeftWarning,
  kubeProxyLeftWarning,
  mergeSwitchWarnings,
  planSwitch,
} from '../../../src/dataplane/switch.ts';

const on = { bpfKubeProxyIptablesCleanupEnabled: true };
const off = { bpfKubeProxyIptablesCleanupEnabled: false };

describe('planSwitch', () => {
  it('installs the new dataplane before removing the old one between modes', () => {
    expect(planSwitch('bpf', 'iptables', on).order).toBe('make-before-break');
    expect(planSwitch('iptables', 'bpf', on).order).toBe('make-before-break');
  });

  it('removes the old one first when reinstalling the same mode (same pins, devices, chains)', () => {
    expect(planSwitch('bpf', 'bpf', on).order).toBe('break-before-make');
    expect(planSwitch('iptables', 'iptables', on).order).toBe('break-before-make');
  });

  it('lets the eBPF side decide about kube-proxy chains', () => {
    expect(planSwitch('iptables', 'bpf', on)).toMatchObject({
      keepKubeProxyChains: true,
      kubeProxyChains: 'remove',
    });
    expect(planSwitch('iptables', 'bpf', off)).toMatchObject({
      keepKubeProxyChains: true,
      kubeProxyChains: 'leave',
    });
    expect(planSwitch('bpf', 'bpf', off).kubeProxyChains).toBe('leave');
  });

  it('never touches kube-proxy chains on the way to iptables, and iptables reinstalls remove its own', () => {
    expect(planSwitch('bpf', 'iptables', off)).toMatchObject({
      keepKubeProxyChains: false,
      kubeProxyChains: 'untouched',
    });
    expect(planSwitch('iptables', 'iptables', off)).toMatchObject({
      keepKubeProxyChains: false,
      kubeProxyChains: 'untouched',
    });
  });
});

describe('kube-proxy warning', () => {
  it('names the nodes in the documented words', () => {
    const w = kubeProxyLeftWarning(['dpc-worker', 'dpc-worker2']);
    expect(w).toBe(
      'bpfKubeProxyIptablesCleanupEnabled is false: kube-proxy chains left in place on dpc-worker, dpc-worker2',
    );
    expect(isKubeProxyLeftWarning(w)).toBe(true);
    expect(isKubeProxyLeftWarning('bpfLogLevel: Debug is not implemented')).toBe(false);
  });

  it('is kept only while the cluster runs eBPF with cleanup off', () => {
    const left = kubeProxyLeftWarning(['n1']);
    expect(mergeSwitchWarnings(['a'], ['a', left], 'bpf', off)).toEqual(['a', left]);
    expect(mergeSwitchWarnings(['a'], ['a', left], 'bpf', on)).toEqual(['a']);
    expect(mergeSwitchWarnings(['a'], ['a', left], 'iptables', off)).toEqual(['a']);
    expect(mergeSwitchWarnings(['b'], [], 'bpf', off)).toEqual(['b']);
  });
});
