import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { KIND_CONFIG } from '../../../src/cluster/kind/lifecycle.ts';

describe('kind config', () => {
  const config = parse(readFileSync(KIND_CONFIG, 'utf8'));

  it('replaces kube-proxy and the default CNI, with kind’s pod and service ranges', () => {
    expect(config.networking).toMatchObject({
      disableDefaultCNI: true,
      kubeProxyMode: 'none',
      podSubnet: '10.244.0.0/16',
      serviceSubnet: '10.96.0.0/12',
    });
  });

  it('has one control plane and two workers, each with bpffs mounted', () => {
    expect(config.nodes.map((n: { role: string }) => n.role)).toEqual(['control-plane', 'worker', 'worker']);
    for (const n of config.nodes)
      expect(n.extraMounts).toContainEqual(expect.objectContaining({ containerPath: '/sys/fs/bpf' }));
  });
});
