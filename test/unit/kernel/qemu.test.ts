import { describe, expect, test } from 'vitest';
import { kernelCommandLine, qemuArgv, type VmSpec } from '../../../src/kernel/qemu.ts';

const spec: VmSpec = {
  accel: 'tcg',
  kernel: { image: '/c/6.1/boot/vmlinuz', modulesDir: '/c/6.1/lib/modules/6.1.0-57-amd64' },
  initrd: '/tmp/w/initrd.cpio',
  resultsDir: '/tmp/w,odd/results',
  job: 'job.json',
  consoleFile: '/tmp/w/console.log',
  memoryMiB: 4096,
  cpus: 2,
};

describe('qemu', () => {
  test('software emulation: multi-threaded TCG with every CPU feature, no network, console to a file', () => {
    const argv = qemuArgv(spec);
    expect(argv.slice(0, 5)).toEqual(['qemu-system-x86_64', '-accel', 'tcg,thread=multi', '-cpu', 'max']);
    expect(argv).toContain('-nodefaults');
    expect(argv).toContain('-no-reboot');
    expect(argv[argv.indexOf('-serial') + 1]).toBe('file:/tmp/w/console.log');
    expect(argv[argv.indexOf('-append') + 1]).toBe('console=ttyS0 panic=-1 quiet dpc.job=job.json');
    const shares = argv.flatMap((a, i) => (argv[i - 1] === '-virtfs' ? [a] : []));
    expect(shares).toEqual([
      'local,path=/,mount_tag=dpcroot,security_model=none,readonly=on,multidevs=remap',
      'local,path=/c/6.1/lib/modules/6.1.0-57-amd64,mount_tag=dpcmods,security_model=none,readonly=on',
      // qemu reads a doubled comma as one inside a value.
      'local,path=/tmp/w,,odd/results,mount_tag=dpcresults,security_model=none',
    ]);
    expect(argv).not.toContain('-netdev');
  });

  test('a snapshot of the checkout is one more read-only share', () => {
    const argv = qemuArgv({ ...spec, snapshotDir: '/tmp/s/tree' });
    expect(argv.slice(-2)).toEqual([
      '-virtfs',
      'local,path=/tmp/s/tree,mount_tag=dpcsnap,security_model=none,readonly=on',
    ]);
    expect(qemuArgv(spec).join(' ')).not.toContain('dpcsnap');
  });

  test('KVM: the host CPU', () => {
    expect(qemuArgv({ ...spec, accel: 'kvm' }).slice(1, 5)).toEqual(['-accel', 'kvm', '-cpu', 'host']);
  });

  test('a job name that the kernel command line cannot carry is refused', () => {
    expect(() => kernelCommandLine('job one.json')).toThrow(/not usable/);
    expect(() => kernelCommandLine('a=b')).toThrow(/not usable/);
  });
});
