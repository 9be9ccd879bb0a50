/**
 * Evidence files end to end without a cluster: what a suite writes through src/report/evidence.ts
 * lands in `evidence/<pass>/<requirement>/` and reaches the report through a real vitest run;
 * the run then settles them (policy, size cap, sizes and checksums, strays removed).
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import { startVitest } from 'vitest/node';
import {
  appendText,
  attachFile,
  attachJson,
  attachmentsOf,
  attachText,
  dropStaging,
  evidenceDir,
  recordSummary,
  stagingDir,
  summaryOf,
} from '../../../src/report/evidence.ts';
import {
  EVIDENCE_PASS_ENV,
  EVIDENCE_ROOT_ENV,
  passDirName,
  settleEvidence,
} from '../../../src/report/evidence-files.ts';
import {
  allRequirements,
  finalizeRun,
  type Pass,
  type Requirement,
  type Run,
} from '../../../src/report/model.ts';
import { ConformanceReporter } from '../../../src/report/reporter.ts';
import { conformantRun } from '../../unit/report/sample-run.ts';

const SRC = new URL('../../../src/', import.meta.url).pathname;

let dir = '';

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-evidence-'));
});

afterEach(() => {
  delete process.env[EVIDENCE_ROOT_ENV];
  delete process.env[EVIDENCE_PASS_ENV];
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

async function tree(root: string): Promise<string[]> {
  const entries = await readdir(root, { recursive: true, withFileTypes: true }).catch(() => []);
  return entries
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name).slice(root.length + 1))
    .sort();
}

function sha256(path: string): string {
  return createHash('sha256').update(readFileSync(path)).digest('hex');
}

describe('what a suite writes', () => {
  test('files go to evidence/<pass>/<requirement>/, recorded once each, with unique names', async () => {
    const root = join(dir, 'suite-side');
    process.env[EVIDENCE_ROOT_ENV] = root;
    process.env[EVIDENCE_PASS_ENV] = passDirName({ dataplane: 'bpf', serviceMode: 'DSR' });
    const task = { name: 'DSR-002: the reply leaves the backend node', meta: {} };
    attachText(task, { name: 'metrics dpc-worker.prom', kind: 'metrics', title: 'scrape' }, 'a 1');
    attachJson(
      task,
      { name: 'ct.json', kind: 'map-dump', title: 'ct', where: 'dpc-worker' },
      { packets: 5n },
    );
    attachJson(task, { name: 'ct.json', kind: 'map-dump', title: 'ct again' }, []);
    appendText(task, { name: 'probes.txt', kind: 'transcript', title: 'probes' }, 'one');
    appendText(task, { name: 'probes.txt', kind: 'transcript', title: 'probes' }, 'two');
    const staging = stagingDir(task);
    expect(staging).toBeDefined();
    await writeFile(join(staging!, 'onA.pcap'), 'pcap bytes');
    attachFile(task, join(staging!, 'onA.pcap'), {
      name: 'dpc-worker-eth0.pcap',
      kind: 'pcap',
      title: 'capture',
    });
    // A file that was never written is not recorded.
    expect(
      attachFile(task, join(staging!, 'onB.pcap'), { name: 'x.pcap', kind: 'pcap', title: 'x' }),
    ).toBeUndefined();
    dropStaging(staging);
    recordSummary(task, '0 of 5 reply packets\ncrossed dpc-worker');

    const base = 'evidence/bpf-DSR/DSR-002';
    expect(attachmentsOf(task).map((a) => `${a.path} ${a.kind} ${a.mediaType}`)).toEqual([
      `${base}/metrics-dpc-worker.prom metrics text/plain; version=0.0.4`,
      `${base}/ct.json map-dump application/json`,
      `${base}/ct-2.json map-dump application/json`,
      `${base}/probes.txt transcript text/plain`,
      `${base}/dpc-worker-eth0.pcap pcap application/vnd.tcpdump.pcap`,
    ]);
    expect(await tree(root)).toEqual(
      ['ct-2.json', 'ct.json', 'dpc-worker-eth0.pcap', 'metrics-dpc-worker.prom', 'probes.txt'].map(
        (f) => `${base}/${f}`,
      ),
    );
    expect(await readFile(join(root, base, 'probes.txt'), 'utf8')).toBe('one\ntwo\n');
    expect(JSON.parse(await readFile(join(root, base, 'ct.json'), 'utf8'))).toEqual({ packets: '5' });
    expect(summaryOf(task)).toBe('0 of 5 reply packets crossed dpc-worker');
  });

  test('a file on another filesystem is moved in all the same', async () => {
    const root = join(dir, 'other-fs');
    process.env[EVIDENCE_ROOT_ENV] = root;
    process.env[EVIDENCE_PASS_ENV] = 'bpf-Tunnel';
    // /dev/shm is a tmpfs: a rename from there into the report fails with EXDEV.
    const elsewhere = await mkdtemp('/dev/shm/dpc-evidence-');
    try {
      await writeFile(join(elsewhere, 'kept.pcap'), 'bytes');
      const task = { name: 'DSR-004: Tunnel', meta: {} };
      const a = attachFile(task, join(elsewhere, 'kept.pcap'), { name: 'x.pcap', kind: 'pcap', title: 'x' });
      expect(a?.path).toBe('evidence/bpf-Tunnel/DSR-004/x.pcap');
      expect(await readFile(join(root, a!.path), 'utf8')).toBe('bytes');
      expect(existsSync(join(elsewhere, 'kept.pcap'))).toBe(false);
    } finally {
      await rm(elsewhere, { recursive: true, force: true });
    }
  });

  test('a run that keeps no evidence files gets none written, and nothing recorded', () => {
    const task = { name: 'NP-001: x', meta: {} };
    expect(evidenceDir(task)).toBeUndefined();
    expect(stagingDir(task)).toBeUndefined();
    expect(attachText(task, { name: 'a.txt', kind: 'other', title: 'a' }, 'a')).toBeUndefined();
    expect(attachmentsOf(task)).toEqual([]);
  });
});

describe('through vitest to the reporter', () => {
  let pass: Pass;
  const root = () => join(dir, 'reporter');

  beforeAll(async () => {
    const suites = join(dir, 'suites-src', 'suites');
    await mkdir(suites, { recursive: true });
    await writeFile(
      join(suites, 'dsr.test.ts'),
      `
import { attachText, recordSummary, ConformanceFailure } from '${SRC}report/evidence.ts';
test('DSR-002: replies skip the entry node', (ctx) => {
  attachText(ctx, { name: 'onA.txt', kind: 'other', title: 'what A saw' }, 'nothing');
  recordSummary(ctx, '0 of 3 replies crossed A');
});
test('DSR-003: the VIP is the source', (ctx) => {
  attachText(ctx, { name: 'onB.txt', kind: 'other', title: 'what B saw' }, 'replies');
  throw new ConformanceFailure('wrong source', { expected: 'the VIP', seen: 'the pod', where: 'B eth0' });
});
`,
    );
    const mode = { dataplane: 'bpf', serviceMode: 'DSR' } as const;
    const conformance = new ConformanceReporter({ mode });
    const vitest = await startVitest([], {
      root: join(dir, 'suites-src'),
      config: false,
      watch: false,
      globals: true,
      include: ['suites/*.test.ts'],
      reporters: [conformance],
      env: { [EVIDENCE_ROOT_ENV]: root(), [EVIDENCE_PASS_ENV]: passDirName(mode) },
    });
    await vitest.close();
    process.exitCode = 0;
    pass = conformance.pass();
  });

  test('each requirement carries its files and summary, and the files are where they say', () => {
    const [ok, bad] = pass.areas[0]!.requirements;
    expect(ok?.summary).toBe('0 of 3 replies crossed A');
    expect(ok?.attachments?.map((a) => a.path)).toEqual(['evidence/bpf-DSR/DSR-002/onA.txt']);
    expect(bad?.verdict).toBe('non-conformant');
    expect(bad?.attachments?.map((a) => a.path)).toEqual(['evidence/bpf-DSR/DSR-003/onB.txt']);
    for (const r of [ok, bad]) {
      for (const a of r?.attachments ?? []) expect(existsSync(join(root(), a.path))).toBe(true);
    }
  });
});

describe('settleEvidence', () => {
  /** A run whose two first requirements have files on disk: one conformant, one non-conformant. */
  async function runWithFiles(name: string): Promise<{ run: Run; reportDir: string }> {
    const reportDir = join(dir, name);
    const base = conformantRun();
    const reqs = base.passes[0]!.areas[0]!.requirements;
    const files: [Requirement, string, number][] = [
      [reqs[0]!, 'evidence/bpf-Tunnel/NP-001/ok.pcap', 3000],
      [reqs[1]!, 'evidence/bpf-Tunnel/NP-002/bad.pcap', 2000],
      [reqs[1]!, 'evidence/bpf-Tunnel/NP-002/bad.txt', 10],
    ];
    for (const { requirement } of allRequirements(base)) delete requirement.attachments;
    for (const [r, path, bytes] of files) {
      await mkdir(join(reportDir, path, '..'), { recursive: true });
      await writeFile(join(reportDir, path), 'x'.repeat(bytes));
      r.attachments = [
        ...(r.attachments ?? []),
        { path, kind: 'pcap', title: path, mediaType: 'application/vnd.tcpdump.pcap' },
      ];
    }
    Object.assign(reqs[1]!, { verdict: 'non-conformant', failure: { message: 'broken' } });
    // What an interrupted test left behind.
    await mkdir(join(reportDir, 'evidence/bpf-Tunnel/NP-002/.staging-x'), { recursive: true });
    await writeFile(join(reportDir, 'evidence/bpf-Tunnel/NP-002/.staging-x/onA.pcap'), 'partial');
    const { evidenceFiles: _e, ...rest } = base;
    return { run: finalizeRun(rest), reportDir };
  }

  function kept(run: Run): string[] {
    return [...allRequirements(run)].flatMap(({ requirement: r }) =>
      (r.attachments ?? []).map(
        (a) => `${r.id} ${a.path.split('/').pop()} ${a.bytes} ${a.omitted ? 'omitted' : 'kept'}`,
      ),
    );
  }

  test('all: every file kept with its size and checksum; strays removed', async () => {
    const { run, reportDir } = await runWithFiles('settle-all');
    const settled = await settleEvidence(run, reportDir, { policy: 'all', capBytes: 1 << 20 });
    expect(kept(settled)).toEqual([
      'NP-001 ok.pcap 3000 kept',
      'NP-002 bad.pcap 2000 kept',
      'NP-002 bad.txt 10 kept',
    ]);
    const a = settled.passes[0]!.areas[0]!.requirements[0]!.attachments![0]!;
    expect(a.sha256).toBe(sha256(join(reportDir, a.path)));
    expect(settled.evidenceFiles).toEqual({
      policy: 'all',
      capBytes: 1 << 20,
      files: 3,
      bytes: 5010,
      omittedFiles: 0,
      omittedBytes: 0,
    });
    expect(await tree(join(reportDir, 'evidence'))).toEqual([
      'bpf-Tunnel/NP-001/ok.pcap',
      'bpf-Tunnel/NP-002/bad.pcap',
      'bpf-Tunnel/NP-002/bad.txt',
    ]);
  });

  test('failures: only the failing requirements keep their files', async () => {
    const { run, reportDir } = await runWithFiles('settle-failures');
    const settled = await settleEvidence(run, reportDir, { policy: 'failures', capBytes: 1 << 20 });
    expect(kept(settled)).toEqual(['NP-002 bad.pcap 2000 kept', 'NP-002 bad.txt 10 kept']);
    expect(await tree(join(reportDir, 'evidence'))).toEqual([
      'bpf-Tunnel/NP-002/bad.pcap',
      'bpf-Tunnel/NP-002/bad.txt',
    ]);
  });

  test('the cap keeps the failing requirements’ files first and records what it left out', async () => {
    const { run, reportDir } = await runWithFiles('settle-cap');
    // Room for either the passing requirement's file or the failing one's, not both.
    const settled = await settleEvidence(run, reportDir, { policy: 'all', capBytes: 4000 });
    expect(kept(settled)).toEqual([
      'NP-001 ok.pcap 3000 omitted',
      'NP-002 bad.pcap 2000 kept',
      'NP-002 bad.txt 10 kept',
    ]);
    expect(settled.passes[0]!.areas[0]!.requirements[0]!.attachments![0]!.omitted).toBe(
      "the run's evidence size cap (3.9 KiB) was reached",
    );
    expect(settled.evidenceFiles).toMatchObject({
      files: 2,
      bytes: 2010,
      omittedFiles: 1,
      omittedBytes: 3000,
    });
    expect(await tree(join(reportDir, 'evidence'))).toEqual([
      'bpf-Tunnel/NP-002/bad.pcap',
      'bpf-Tunnel/NP-002/bad.txt',
    ]);
  });

  test('a file a test never finished writing is recorded as such, not silently dropped', async () => {
    const { run, reportDir } = await runWithFiles('settle-missing');
    await rm(join(reportDir, 'evidence/bpf-Tunnel/NP-001/ok.pcap'));
    const settled = await settleEvidence(run, reportDir, { policy: 'all', capBytes: 1 << 20 });
    expect(settled.passes[0]!.areas[0]!.requirements[0]!.attachments).toEqual([
      {
        path: 'evidence/bpf-Tunnel/NP-001/ok.pcap',
        kind: 'pcap',
        title: 'evidence/bpf-Tunnel/NP-001/ok.pcap',
        mediaType: 'application/vnd.tcpdump.pcap',
        omitted: 'not written: the test stopped before the file was complete',
      },
    ]);
  });

  test('none: no file is left, and no empty folder', async () => {
    const { run, reportDir } = await runWithFiles('settle-none');
    const settled = await settleEvidence(run, reportDir, { policy: 'none', capBytes: 1 << 20 });
    expect(kept(settled)).toEqual([]);
    expect(existsSync(join(reportDir, 'evidence'))).toBe(false);
  });
});
