/**
 * A Debian kernel, fetched with apt by the tool itself and booted under software emulation,
 * runs a short suite inside; the report comes back with the VM's own kernel in it. And a VM
 * interrupted by Ctrl-C leaves nothing behind. Bounded in time; the full kernel matrix is not
 * run here (see the README).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { release, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, test } from 'vitest';
import { VM_DIR_PREFIX } from '../../../src/kernel/matrix-run.ts';
import type { KernelMatrix } from '../../../src/report/matrix.ts';
import type { Run } from '../../../src/report/model.ts';
import { run, start } from '../../../src/sys/exec.ts';
import { processAlive, readPidFile } from '../../../src/sys/process.ts';

const CLI = fileURLToPath(new URL('../../../src/cli.ts', import.meta.url));
const reports = mkdtempSync(join(tmpdir(), 'dpc-kernel-test-'));
afterAll(() => rmSync(reports, { recursive: true, force: true }));

/** The most a smoke run may take here (software emulation on 2 loaded cores). */
const SMOKE_LIMIT_MS = 20 * 60_000;

/** VM working directories (and the matrix's snapshot directory) `pid` owns, with their qemu pid. */
function vmDirsOf(pid: number): { dir: string; qemu: number | undefined }[] {
  return readdirSync(tmpdir())
    .filter((n) => n.startsWith(VM_DIR_PREFIX))
    .map((n) => join(tmpdir(), n))
    .filter((dir) => {
      try {
        return readFileSync(join(dir, 'owner'), 'utf8').trim() === String(pid);
      } catch {
        return false;
      }
    })
    .map((dir) => {
      let qemu: number | undefined;
      try {
        qemu = Number(readFileSync(join(dir, 'qemu.pid'), 'utf8').trim()) || undefined;
      } catch {}
      return { dir, qemu };
    });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** What a file holds so far ('' before it exists). */
function readSoFar(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

describe('kernels in a VM', () => {
  test(
    'Debian 6.1 under software emulation runs the source-ip suite; the report is the VM kernel’s',
    async () => {
      const r = await run(
        [
          process.execPath,
          CLI,
          'run',
          '--kernel',
          '6.1',
          '--accel',
          'tcg',
          '--suite',
          'source-ip',
          // Two nodes prove as much here (a remote backend) and cost a third less to bring up.
          '--nodes',
          '2',
          '--report-dir',
          reports,
        ],
        { timeoutMs: SMOKE_LIMIT_MS, reject: false },
      );
      const matrixFile = /report: (\S+matrix\.json)/.exec(r.stdout)?.[1];
      expect(matrixFile, `${r.stdout}\n${r.stderr.slice(-3000)}`).toBeDefined();
      const m = JSON.parse(readFileSync(join(process.cwd(), matrixFile!), 'utf8')) as KernelMatrix;
      const k = m.kernels[0]!;
      expect(k, k.error).toMatchObject({ label: '6.1', where: 'vm', accel: 'tcg' });
      // The run happened inside the VM: its report names the Debian kernel, not this machine's.
      expect(k.release).toMatch(/^6\.1\.\d+-\d+-amd64$/);
      expect(k.release).not.toBe(release());
      const run61 = JSON.parse(readFileSync(join(reports, m.id, k.reportDir!, 'report.json'), 'utf8')) as Run;
      expect(run61.environment.kernel.release).toBe(k.release);
      expect(run61.environment.kernel.btf).toBe(true);
      // The VM mounts cgroup v2 alone at /sys/fs/cgroup, and the run found it there.
      const feature = (name: string) => run61.environment.features.find((f) => f.name.startsWith(name));
      expect(feature('cgroup v2')).toMatchObject({ state: 'yes', detail: '/sys/fs/cgroup' });
      expect(feature('tunnel key set and read back')?.state).toBe('yes');
      // Measured from the VM's speed, and stated in the run's report.
      expect(k.timeScale?.source).toBe('measured');
      expect(k.timeScale?.factor).toBeGreaterThan(1);
      expect(run61.config.timeScale).toEqual(k.timeScale);
      expect(k.results.map((x) => x.id).sort()).toEqual(
        run61.passes.flatMap((p) => p.areas.flatMap((a) => a.requirements.map((q) => q.id))).sort(),
      );
      expect(k.results.length).toBeGreaterThan(0);
      expect(k.verdict, JSON.stringify(k.results.filter((x) => x.verdict !== 'conformant'))).toBe(
        'conformant',
      );
      expect(r.exitCode).toBe(0);
    },
    SMOKE_LIMIT_MS + 60_000,
  );

  test(
    'Ctrl-C while the VM runs stops qemu and removes its directory',
    async () => {
      const log = join(reports, 'interrupted.log');
      const p = start(
        [
          process.execPath,
          CLI,
          'run',
          '--kernel',
          '6.1',
          '--accel',
          'tcg',
          '--suite',
          'source-ip',
          '--report-dir',
          reports,
        ],
        { logFile: log },
      );
      const deadline = Date.now() + 5 * 60_000;
      let vm = vmDirsOf(p.pid).find((d) => d.qemu !== undefined);
      while ((vm?.qemu === undefined || !/booting/.test(readSoFar(log))) && Date.now() < deadline) {
        await sleep(200);
        vm = vmDirsOf(p.pid).find((d) => d.qemu !== undefined);
      }
      expect(vm?.qemu, readSoFar(log)).toBeDefined();
      expect(processAlive(vm!.qemu!)).toBe(true);
      const exit = await p.stop('SIGINT', 30_000);
      expect(exit.exitCode, readSoFar(log).slice(-2000)).toBe(130);
      expect(processAlive(vm!.qemu!)).toBe(false);
      expect(vmDirsOf(p.pid)).toEqual([]);
      expect(await readPidFile(join(vm!.dir, 'qemu.pid'))).toBeUndefined();
    },
    6 * 60_000,
  );
});
