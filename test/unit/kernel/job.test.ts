import { describe, expect, test } from 'vitest';
import { type GuestJob, parseGuestJob, parseGuestResult } from '../../../src/kernel/job.ts';

const JOB: GuestJob = {
  version: 1,
  label: '6.1',
  accel: 'tcg',
  areas: ['nodeport'],
  passes: [{ dataplane: 'bpf', serviceMode: 'Tunnel' }],
  nodes: 3,
  manifests: [],
  argv: ['run', '--kernel', '6.1'],
  hostCalibrationMs: 70,
};

describe('job and result files', () => {
  test('a job reads back as written', () => {
    expect(parseGuestJob(JSON.stringify(JOB))).toEqual(JOB);
    expect(parseGuestJob(JSON.stringify({ ...JOB, timeScale: 4 })).timeScale).toBe(4);
  });

  test('a job that is not one says what is wrong', () => {
    expect(() => parseGuestJob('[]')).toThrow(/not a JSON object/);
    expect(() => parseGuestJob(JSON.stringify({ ...JOB, version: 2 }))).toThrow(/version 2, expected 1/);
    expect(() => parseGuestJob(JSON.stringify({ ...JOB, accel: 'hvf' }))).toThrow(/accel/);
    expect(() => parseGuestJob(JSON.stringify({ ...JOB, passes: [] }))).toThrow(/no passes/);
    expect(() => parseGuestJob(JSON.stringify({ ...JOB, nodes: 0 }))).toThrow(/nodes/);
  });

  test('results', () => {
    expect(parseGuestResult('{"version":1,"release":"6.1.0-57-amd64","error":"x"}').error).toBe('x');
    expect(() => parseGuestResult('{"version":1}')).toThrow(/no release/);
  });
});
