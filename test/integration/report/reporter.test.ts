/**
 * Runs vitest for real on small throwaway suites (one pass, one fail, one skip with a reason,
 * one error, and the ways a file or hook can break) and checks what the reporters gathered.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { startVitest } from 'vitest/node';
import type { Pass } from '../../../src/report/model.ts';
import { ProgressReporter } from '../../../src/report/progress.ts';
import { ConformanceReporter } from '../../../src/report/reporter.ts';

const SRC = new URL('../../../src/', import.meta.url).pathname;

const SUITES: Record<string, string> = {
  'nodeport.test.ts': `
import { recordEvidence, ConformanceFailure, counterEvidence } from '${SRC}report/evidence.ts';
import { run } from '${SRC}sys/exec.ts';

test('NP-001: a NodePort answers on every node', ({ task }) => {
  recordEvidence(task, { kind: 'echo', from: 'dpc-client', target: '172.18.0.2:30080', protocol: 'http', ok: true, sourceSeen: '172.18.0.100' });
  recordEvidence(task, counterEvidence('calico_bpf_connections_total', 2, 5, { where: 'dpc-worker' }));
  expect(1 + 1).toBe(2);
});

test('NP-002: the reply comes from the frontend', ({ task }) => {
  recordEvidence(task, { kind: 'packet', where: 'dpc-client eth0', packets: ['IP 10.244.1.5.8080 > 172.18.0.100.4000'] });
  throw new ConformanceFailure('the reply came from the backend', {
    expected: '172.18.0.2:30080', seen: '10.244.1.5:8080', where: 'dpc-client eth0',
  });
});

test('NP-003: the source IP is kept', () => {
  expect('172.18.0.2').toBe('172.18.0.100');
});

test('NP-004: setup that runs a command', async () => {
  await run(['sh', '-c', 'echo broken >&2; exit 3']);
});

test('NP-005: needs docker', (ctx) => {
  ctx.skip('docker is not installed');
});

describe('with a broken fixture', () => {
  beforeAll(() => { throw new Error('fixture could not start'); });
  test('NP-006: never runs', () => {});
});

test('not named as a requirement', () => {});
`,
  'policy.test.ts': `
throw new Error('policy suite failed to load');
`,
  'dsr.test.ts': `
afterAll(() => { throw new Error('teardown left namespaces behind'); });
test('DSR-001: replies leave the backend node directly', () => {});
`,
};

class Sink extends Writable {
  text = '';
  override _write(chunk: Buffer, _enc: string, done: () => void): void {
    this.text += chunk.toString();
    done();
  }
}

let dir = '';
let pass: Pass;
let plain: Sink;
let tty: Sink;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-report-'));
  await mkdir(join(dir, 'suites'));
  for (const [name, text] of Object.entries(SUITES)) await writeFile(join(dir, 'suites', name), text);
  const mode = { dataplane: 'bpf', serviceMode: 'DSR' } as const;
  const conformance = new ConformanceReporter({ mode });
  plain = new Sink();
  tty = new Sink();
  const vitest = await startVitest([], {
    root: dir,
    config: false,
    watch: false,
    globals: true,
    include: ['suites/*.test.ts'],
    reporters: [
      conformance,
      new ProgressReporter({ mode, stream: plain, tty: false }),
      new ProgressReporter({ mode, stream: Object.assign(tty, { isTTY: true, columns: 100 }), color: true }),
    ],
  });
  await vitest.close();
  // The inner run sets the exit code of this worker; only the outer results count here.
  process.exitCode = 0;
  pass = conformance.pass();
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

function requirement(area: string, id: string) {
  const found = pass.areas.find((a) => a.name === area)?.requirements.find((r) => r.id === id);
  if (!found) throw new Error(`no ${id} in ${area}`);
  return found;
}

describe('ConformanceReporter', () => {
  test('gathers one area per suite file, in the documented order', () => {
    expect(pass.mode).toEqual({ dataplane: 'bpf', serviceMode: 'DSR' });
    expect(pass.areas.map((a) => a.name)).toEqual(['nodeport', 'dsr', 'policy']);
    expect(pass.areas.find((a) => a.name === 'nodeport')?.requirements.map((r) => r.id)).toEqual([
      '(no id)',
      'NP-001',
      'NP-002',
      'NP-003',
      'NP-004',
      'NP-005',
      'NP-006',
    ]);
  });

  test('a passing test is conformant and keeps its evidence', () => {
    const r = requirement('nodeport', 'NP-001');
    expect(r.verdict).toBe('conformant');
    expect(r.statement).toBe('a NodePort answers on every node');
    expect(r.evidence).toEqual([
      {
        kind: 'echo',
        from: 'dpc-client',
        target: '172.18.0.2:30080',
        protocol: 'http',
        ok: true,
        sourceSeen: '172.18.0.100',
      },
      {
        kind: 'counter',
        name: 'calico_bpf_connections_total',
        before: 2,
        after: 5,
        delta: 3,
        where: 'dpc-worker',
      },
    ]);
    expect(r.durationMs).toBeGreaterThanOrEqual(0);
  });

  test('a ConformanceFailure is non-conformant with expected, seen, where, and the evidence gathered before it', () => {
    const r = requirement('nodeport', 'NP-002');
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure).toMatchObject({
      message: 'the reply came from the backend',
      expected: '172.18.0.2:30080',
      seen: '10.244.1.5:8080',
      where: 'dpc-client eth0',
      type: 'ConformanceFailure',
    });
    expect(r.failure?.source).toMatch(/^suites\/nodeport\.test\.ts:\d+:\d+$/);
    expect(r.evidence).toHaveLength(1);
  });

  test('a failed expect is non-conformant with what was expected and seen', () => {
    const r = requirement('nodeport', 'NP-003');
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure).toMatchObject({ expected: '172.18.0.100', seen: '172.18.0.2', type: 'AssertionError' });
  });

  test('a CommandError is an error, not a non-conformance, and shows what the command printed', () => {
    const r = requirement('nodeport', 'NP-004');
    expect(r.verdict).toBe('error');
    expect(r.reason).toMatch(/^command exited 3: sh -c/);
    expect(r.failure).toMatchObject({ type: 'CommandError', seen: 'broken\n' });
  });

  test('ctx.skip(note) is skipped with the note as its reason', () => {
    expect(requirement('nodeport', 'NP-005')).toMatchObject({
      verdict: 'skipped',
      reason: 'docker is not installed',
    });
  });

  test('a test under a failed beforeAll is an error, not a silent skip', () => {
    expect(requirement('nodeport', 'NP-006')).toMatchObject({
      verdict: 'error',
      reason: 'setup failed: fixture could not start',
    });
    // Explained on the test, so not repeated as an area problem.
    expect(pass.areas.find((a) => a.name === 'nodeport')?.problems).toEqual([]);
  });

  test('a test without an id still shows up, under its full name', () => {
    expect(requirement('nodeport', '(no id)')).toMatchObject({
      statement: 'not named as a requirement',
      verdict: 'conformant',
    });
  });

  test('a suite that does not load and a failing afterAll are area problems', () => {
    const policy = pass.areas.find((a) => a.name === 'policy');
    expect(policy).toMatchObject({ verdict: 'error', requirements: [] });
    expect(policy?.problems).toEqual(['suites/policy.test.ts: policy suite failed to load']);
    const dsr = pass.areas.find((a) => a.name === 'dsr');
    expect(dsr?.requirements.map((r) => [r.id, r.verdict])).toEqual([['DSR-001', 'conformant']]);
    expect(dsr?.problems).toEqual(['suites/dsr.test.ts: teardown left namespaces behind']);
    expect(dsr?.verdict).toBe('error');
  });

  test('the pass verdict follows the worst requirement', () => {
    expect(pass.areas.find((a) => a.name === 'nodeport')?.verdict).toBe('non-conformant');
    expect(pass.verdict).toBe('non-conformant');
    expect(Date.parse(pass.startedAt)).not.toBeNaN();
  });
});

describe('ProgressReporter', () => {
  test('off a TTY: one plain line per requirement, problems and a summary', () => {
    const lines = plain.text.trim().split('\n');
    expect(lines[0]).toBe('== pass bpf/DSR');
    const results = lines
      .filter((l) => /^(PASS|FAIL|SKIP|ERROR) /.test(l))
      .map((l) => l.replace(/ \d+ms/, ' Tms'));
    expect(results.sort()).toEqual(
      [
        'PASS (no id) nodeport Tms',
        'PASS NP-001 nodeport Tms',
        'FAIL NP-002 nodeport Tms',
        'FAIL NP-003 nodeport Tms',
        "ERROR NP-004 nodeport Tms command exited 3: sh -c 'echo broken >&2; exit 3' — broken",
        'SKIP NP-005 nodeport Tms docker is not installed',
        'ERROR NP-006 nodeport Tms setup failed: fixture could not start',
        'PASS DSR-001 dsr Tms',
      ].sort(),
    );
    expect(lines).toContain('PROBLEM policy: suites/policy.test.ts: policy suite failed to load');
    expect(lines.at(-1)).toMatch(
      /^== bpf\/DSR: non-conformant — 3 conformant, 2 non-conformant, 1 skipped, 2 error in /,
    );
    expect(plain.text).not.toContain('\x1b[');
    expect(plain.text).not.toContain('\r');
  });

  test('on a TTY: coloured lines with failure details', () => {
    // Colour codes (SGR), not just the cursor control that clears the live line.
    expect(tty.text).toMatch(/\x1b\[3[0-9]m✘/);
    const clean = tty.text.replace(/\x1b\[[0-9;]*[A-Za-z]/g, '');
    expect(clean).toContain('dpconform bpf/DSR — 3 suites');
    expect(clean).toMatch(/✘ NP-002 +nodeport +the reply comes from the frontend/);
    expect(clean).toContain('expected: 172.18.0.2:30080');
    expect(clean).toMatch(/○ NP-005 +nodeport +skipped: docker is not installed/);
  });
});
