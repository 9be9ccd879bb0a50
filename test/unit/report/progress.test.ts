import { describe, expect, test } from 'vitest';
import { formatDuration } from '../../../src/report/format.ts';
import type { Requirement } from '../../../src/report/model.ts';
import {
  colour,
  noColour,
  plainLine,
  summaryLine,
  ttyFailureLines,
  ttyLine,
} from '../../../src/report/progress.ts';
import { sampleRun } from './sample-run.ts';

const pass: Requirement = {
  id: 'NP-003',
  statement: "a NodePort answers on every node's IP",
  verdict: 'conformant',
  durationMs: 120.4,
  evidence: [],
};

describe('plain lines (not a TTY)', () => {
  test('one line per requirement: WORD ID AREA TIME', () => {
    expect(plainLine('nodeport', pass)).toBe('PASS NP-003 nodeport 120ms');
    expect(plainLine('dsr', { ...pass, verdict: 'non-conformant', failure: { message: 'x' } })).toBe(
      'FAIL NP-003 dsr 120ms',
    );
  });

  test('a skip or an error adds its reason on the same line', () => {
    expect(plainLine('dsr', { ...pass, verdict: 'skipped', reason: 'no\ndocker', durationMs: 0 })).toBe(
      'SKIP NP-003 dsr 0ms no docker',
    );
    expect(plainLine('dsr', { ...pass, verdict: 'error', reason: 'command exited 1' })).toBe(
      'ERROR NP-003 dsr 120ms command exited 1',
    );
  });
});

describe('terminal lines', () => {
  test('fit the width and show symbol, id, area, statement and time', () => {
    const line = ttyLine('nodeport', pass, 100, noColour);
    expect(line).toMatch(/^ {2}✔ NP-003 {5}nodeport {5}a NodePort answers on every node's IP +120ms$/);
    expect(line.length).toBeLessThanOrEqual(100);
    const narrow = ttyLine('nodeport', pass, 50, noColour);
    expect(narrow).toContain('…');
    expect(narrow.length).toBeLessThanOrEqual(50);
  });

  test('colour paints with ANSI codes whatever the environment says; noColour leaves text alone', () => {
    expect(colour('red', 'x')).toBe('\x1b[31mx\x1b[39m');
    expect(ttyLine('nodeport', { ...pass, verdict: 'non-conformant' }, 100, colour)).toContain(
      '\x1b[31m✘\x1b[39m',
    );
    expect(ttyLine('nodeport', pass, 100, noColour)).not.toContain('\x1b[');
  });

  test('a failure shows expected, seen and where under the line', () => {
    const lines = ttyFailureLines(
      {
        ...pass,
        verdict: 'non-conformant',
        failure: { message: 'wrong source', expected: 'a', seen: 'b', where: 'n1 eth0' },
      },
      noColour,
    );
    expect(lines.map((l) => l.trim())).toEqual([
      'wrong source',
      'expected: a',
      'seen:     b',
      'where:    n1 eth0',
    ]);
    expect(ttyFailureLines(pass, noColour)).toEqual([]);
  });

  test('the summary line counts each verdict', () => {
    const [, dsr] = sampleRun().passes;
    expect(dsr && summaryLine(dsr)).toBe(
      'bpf/DSR: non-conformant — 1 conformant, 1 non-conformant, 1 skipped, 1 error in 1m16s',
    );
  });

  test('durations read like a person would say them', () => {
    expect([formatDuration(0), formatDuration(999), formatDuration(4200), formatDuration(125_000)]).toEqual([
      '0ms',
      '999ms',
      '4.2s',
      '2m05s',
    ]);
  });
});
