/**
 * The kernel matrix end to end without booting anything slow: a kernel that cannot be booted is
 * an error in its own column while the running kernel still runs its suite, and a `--kernel`
 * that names nothing bootable stops the run before anything is built.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import type { KernelMatrix } from '../../../src/report/matrix.ts';
import type { Run } from '../../../src/report/model.ts';
import { run } from '../../../src/sys/exec.ts';

const CLI = fileURLToPath(new URL('../../../src/cli.ts', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'dpconform-matrix-test-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the kernel matrix', () => {
  test('a kernel that cannot be booted is an error in its column; the host still runs', async () => {
    const bogus = join(scratch, 'vmlinuz-bogus');
    writeFileSync(bogus, 'not a kernel\n');
    const reports = join(scratch, 'reports');
    const r = await run(
      [
        process.execPath,
        CLI,
        'run',
        '--kernel',
        `${bogus},host`,
        '--suite',
        'source-ip',
        '--nodes',
        '2',
        '--report-dir',
        reports,
      ],
      { reject: false, timeoutMs: 5 * 60_000 },
    );
    expect(r.exitCode, r.stderr.slice(-2000)).toBe(1);
    const [id] = readdirSync(reports);
    const m = JSON.parse(readFileSync(join(reports, id!, 'matrix.json'), 'utf8')) as KernelMatrix;
    expect(m.verdict).toBe('error');
    expect(m.kernels[0]).toMatchObject({ label: 'vmlinuz-bogus', where: 'vm', verdict: 'error' });
    expect(m.kernels[0]?.error).toMatch(/is not an x86 bzImage/);
    expect(m.kernels[1], m.kernels[1]?.error).toMatchObject({
      label: 'host',
      where: 'host',
      verdict: 'conformant',
    });
    const host = JSON.parse(readFileSync(join(reports, id!, 'host', 'report.json'), 'utf8')) as Run;
    expect(host.environment.kernel.release).toBe(release());
    expect(host.config.timeScale).toEqual({ factor: 1, source: 'default' });
    const md = readFileSync(join(reports, id!, 'matrix.md'), 'utf8');
    expect(md).toContain('## Kernels that could not run');
    expect(md).toMatch(/\*\*vmlinuz-bogus\*\*: .*is not an x86 bzImage/);
    expect(r.stdout).toMatch(/vmlinuz-bogus +error: /);
  });

  test('a --kernel naming nothing bootable: one line, exit 2, nothing built or written', async () => {
    const reports = join(scratch, 'never');
    for (const [kernel, said] of [
      ['4.19', /kernel series 4\.19 is not one dpconform fetches from Debian/],
      ['6.1,6.1', /names 6\.1 twice/],
      ['/no/such/vmlinuz', /no such file/],
    ] as const) {
      const r = await run([process.execPath, CLI, 'run', '--kernel', kernel, '--report-dir', reports], {
        reject: false,
      });
      expect(r.exitCode, kernel).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(said);
    }
    const r = await run([process.execPath, CLI, 'run', '--accel', 'tcg', '--report-dir', reports], {
      reject: false,
    });
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(/--accel applies to --kernel VMs/);
    const scale = await run([process.execPath, CLI, 'run', '--time-scale', '0.5', '--report-dir', reports], {
      reject: false,
    });
    expect(scale.exitCode).toBe(2);
    expect(scale.stderr).toMatch(/--time-scale must be a number from 1 to 100, got "0\.5"/);
    expect(() => readdirSync(reports)).toThrow();
  });
});
