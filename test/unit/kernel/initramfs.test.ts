import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { INITRAMFS_MODULES, initScript, MARK, moduleLoadOrder } from '../../../src/kernel/initramfs.ts';
import { run } from '../../../src/sys/exec.ts';

// As depmod writes it for Debian's 6.1: every dependency listed, indirect ones too.
const DEP = `kernel/fs/overlayfs/overlay.ko:
kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/fscache/fscache.ko kernel/fs/netfs/netfs.ko
kernel/drivers/virtio/virtio_pci.ko: kernel/drivers/virtio/virtio_pci_legacy_dev.ko kernel/drivers/virtio/virtio_pci_modern_dev.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/net/9p/9pnet.ko:
kernel/fs/fscache/fscache.ko: kernel/fs/netfs/netfs.ko
kernel/fs/netfs/netfs.ko:
kernel/drivers/virtio/virtio.ko:
kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio_pci_legacy_dev.ko:
kernel/drivers/virtio/virtio_pci_modern_dev.ko:
`;

const dir = mkdtempSync(join(tmpdir(), 'dpconform-initramfs-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('the initramfs', () => {
  test('modules load after what they depend on, each once', () => {
    const order = moduleLoadOrder(DEP, '', INITRAMFS_MODULES);
    const name = (p: string) => p.replace(/^.*\//, '');
    expect(order.map(name)).toEqual([
      'virtio_ring.ko',
      'virtio.ko',
      'virtio_pci_modern_dev.ko',
      'virtio_pci_legacy_dev.ko',
      'virtio_pci.ko',
      '9pnet.ko',
      '9pnet_virtio.ko',
      'netfs.ko',
      'fscache.ko',
      '9p.ko',
      'overlay.ko',
    ]);
    for (const [i, m] of order.entries()) {
      const deps =
        DEP.split('\n')
          .find((l) => l.startsWith(`${m}:`))
          ?.split(':')[1]
          ?.trim()
          .split(/\s+/) ?? [];
      for (const d of deps.filter(Boolean)) expect(order.indexOf(d)).toBeLessThan(i);
    }
  });

  test('built-in modules need nothing; a module the kernel lacks is named', () => {
    const builtin =
      'kernel/drivers/virtio/virtio_pci.ko\nkernel/drivers/virtio/virtio.ko\nkernel/drivers/virtio/virtio_ring.ko\n';
    const compressed = DEP.replaceAll('.ko', '.ko.xz');
    expect(moduleLoadOrder(compressed, builtin, ['virtio_pci', 'overlay'])).toEqual([
      'kernel/fs/overlayfs/overlay.ko.xz',
    ]);
    expect(() => moduleLoadOrder(DEP, '', ['zram'])).toThrow(/has no zram module/);
  });

  test('the init is valid shell, quotes the job command, and names the job from the kernel command line', async () => {
    const script = initScript({
      modules: ['/modules/00-virtio_ring.ko'],
      command: ['/usr/bin/env', '-i', 'PATH=/bin', '/opt/my node/bin/node', "/it's/guest-main.ts"],
    });
    expect(script.startsWith('#!/bin/busybox sh\n')).toBe(true);
    expect(script).toContain(
      "chroot /mnt/root /usr/bin/env -i PATH=/bin '/opt/my node/bin/node' '/it'\\''s/guest-main.ts' \"/dpconform-results/$job\"",
    );
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    expect(script).toContain('dpc.job=*) job=${word#dpc.job=}');
    expect(script).toContain(`say() { echo "${MARK.prefix}$*"; }`);
    const file = join(dir, 'init');
    writeFileSync(file, script);
    const r = await run(['busybox', 'sh', '-n', file], { reject: false });
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
  });

  test('with a snapshot of the checkout, it lies over the host root in the overlay', () => {
    const plain = initScript({ modules: [], command: ['true'] });
    expect(plain).toContain('lowerdir=/mnt/lower,');
    expect(plain).not.toContain('dpcsnap');
    const snap = initScript({ modules: [], command: ['true'], snapshot: true });
    expect(snap).toContain('dpcsnap /mnt/snap');
    expect(snap).toContain('lowerdir=/mnt/snap:/mnt/lower,');
  });
});
