import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { calicoIfaceOf, cniConflist, renameVethLines } from '../../../src/cluster/kind/cni.ts';
import { runKindConfig } from '../../../src/cluster/kind/config.ts';
import { KIND_CONFIG } from '../../../src/cluster/kind/lifecycle.ts';
import { isWorkloadIface } from '../../../src/dataplane/bpf/attach.ts';

describe('CNI configuration for kind nodes', () => {
  it('wires pods with ptp and host-local from the node’s own pod CIDR, without masquerading', () => {
    const conf = JSON.parse(cniConflist('10.244.1.0/24'));
    expect(conf.cniVersion).toBe('1.0.0');
    expect(conf.plugins).toHaveLength(1);
    const [ptp] = conf.plugins;
    expect(ptp.type).toBe('ptp');
    expect(ptp.ipMasq).toBe(false);
    expect(ptp.ipam).toEqual({
      type: 'host-local',
      ranges: [[{ subnet: '10.244.1.0/24' }]],
      routes: [{ dst: '0.0.0.0/0' }],
    });
  });

  it('renames the node side of a pod to Calico’s name, which the dataplane takes for a workload', () => {
    const want = calicoIfaceOf('default', 'echo-7d4f-abcde');
    expect(want).toMatch(/^cali[0-9a-f]{11}$/);
    expect(isWorkloadIface(want)).toBe(true);
    expect(renameVethLines('10.244.1.5', 'veth1a2b3c4d', want)).toEqual([
      'link set dev veth1a2b3c4d down',
      `link set dev veth1a2b3c4d name ${want}`,
      `link set dev ${want} up`,
      // Down took the route to the pod with it.
      `route replace 10.244.1.5/32 dev ${want}`,
    ]);
    expect(renameVethLines('10.244.1.5', want, want)).toEqual([]);
    expect(() => renameVethLines('10.244.1.5', 'veth x', want)).toThrow(/not an interface name/);
  });
});

describe('a run’s kind configuration', () => {
  const base = readFileSync(KIND_CONFIG, 'utf8');

  it('sizes the cluster to the run: one control plane, the rest workers', () => {
    const conf = parse(runKindConfig(base, { nodes: 5, buildDir: '/repo/build' }));
    expect(conf.nodes.map((n: { role: string }) => n.role)).toEqual([
      'control-plane',
      'worker',
      'worker',
      'worker',
      'worker',
    ]);
  });

  it('keeps kind/dpc-3node.yaml’s networking and bpffs, and lends every node the build directory read-only', () => {
    const conf = parse(runKindConfig(base, { nodes: 3, buildDir: '/repo/build' }));
    expect(conf.networking).toEqual(parse(base).networking);
    for (const n of conf.nodes) {
      expect(n.extraMounts).toContainEqual(expect.objectContaining({ containerPath: '/sys/fs/bpf' }));
      expect(n.extraMounts).toContainEqual({
        hostPath: '/repo/build',
        containerPath: '/repo/build',
        readOnly: true,
      });
    }
    expect(() => runKindConfig(base, { nodes: 0, buildDir: '/b' })).toThrow(RangeError);
  });
});
