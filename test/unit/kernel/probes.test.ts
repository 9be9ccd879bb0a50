import { describe, expect, test } from 'vitest';
import {
  meetsFloor,
  missingPrerequisites,
  pathProbePlan,
  probePacket,
  readTunnelKeyProbe,
} from '../../../src/kernel/probes.ts';

describe('kernel prerequisites and probes', () => {
  test('the floor of bpf/ is 5.10', () => {
    expect(meetsFloor('5.10.0-46-amd64')).toBe(true);
    expect(meetsFloor('6.1.0-57-amd64')).toBe(true);
    expect(meetsFloor('5.9.16')).toBe(false);
    expect(meetsFloor('4.19.0-27-amd64')).toBe(false);
    expect(meetsFloor('10.0')).toBe(true);
  });

  test('what a kernel misses is named, one phrase each', () => {
    expect(missingPrerequisites({ release: '6.1.0-57-amd64', btf: true, bpffsMounted: true })).toEqual([]);
    expect(missingPrerequisites({ release: '4.19.0', btf: false, bpffsMounted: false })).toEqual([
      'Linux 5.10 or later (the floor of bpf/; the guide asks 5.3)',
      'BTF (/sys/kernel/btf/vmlinux)',
      'bpffs mounted at /sys/fs/bpf',
    ]);
  });

  test("the tunnel-key probe's return value: the key size and what the kernel did", () => {
    expect(readTunnelKeyProbe(24 << 8)).toEqual({
      state: 'yes',
      detail: "set and read back by the dataplane's tunnel_send() and get_tunnel(), key size 24 bytes",
    });
    expect(readTunnelKeyProbe((44 << 8) | 1)).toMatchObject({
      state: 'no',
      detail: expect.stringMatching(/refused .*key size 44 bytes: every tunnelled flow would drop/),
    });
    expect(readTunnelKeyProbe((24 << 8) | 2).state).toBe('no');
    expect(readTunnelKeyProbe((24 << 8) | 3).detail).toMatch(/another VNI/);
    expect(readTunnelKeyProbe(7).state).toBe('unknown');
  });

  test('the probe packet is an IPv4 frame long enough for any program', () => {
    const p = probePacket();
    expect(p.length).toBeGreaterThanOrEqual(60);
    expect(p.readUInt16BE(12)).toBe(0x0800);
    expect(p[23]).toBe(17);
  });
});

describe('the tunnel path probe', () => {
  test('everything it builds is inside its own two namespaces', () => {
    const plan = pathProbePlan('dpc-abc123-probe-a', 'dpc-abc123-probe-b');
    expect(plan.slice(0, 2)).toEqual([
      ['ip', 'netns', 'add', 'dpc-abc123-probe-a'],
      ['ip', 'netns', 'add', 'dpc-abc123-probe-b'],
    ]);
    for (const argv of plan.slice(2)) {
      expect(argv.slice(0, 2), argv.join(' ')).toEqual(['ip', '-n']);
      expect(['dpc-abc123-probe-a', 'dpc-abc123-probe-b']).toContain(argv[2]);
    }
    // The peer of the underlay veth is moved straight into the receiving namespace.
    expect(plan.flat().join(' ')).toContain('peer name u1 netns dpc-abc123-probe-b');
  });
});
