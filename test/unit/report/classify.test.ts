import { describe, expect, test } from 'vitest';
import {
  areaFromFile,
  classify,
  compareAreas,
  failureFrom,
  isConformanceError,
  MISSING_ID,
  parseTestName,
} from '../../../src/report/classify.ts';

describe('names', () => {
  test('a test name gives the requirement id and statement', () => {
    expect(parseTestName("NP-003: a NodePort answers on every node's IP")).toEqual({
      id: 'NP-003',
      statement: "a NodePort answers on every node's IP",
    });
    expect(parseTestName('SRC-IP-001:  keeps the client source ')).toEqual({
      id: 'SRC-IP-001',
      statement: 'keeps the client source',
    });
    expect(parseTestName('MAPFULL-002b: x').id).toBe('MAPFULL-002b');
  });

  test('a name without an id keeps the whole name as its statement', () => {
    expect(parseTestName('answers on every node')).toEqual({
      id: MISSING_ID,
      statement: 'answers on every node',
    });
    expect(parseTestName('np-003: lower case is not an id').id).toBe(MISSING_ID);
    expect(parseTestName('NP: no number').id).toBe(MISSING_ID);
  });

  test('the area is the suite file name', () => {
    expect(areaFromFile('/work/main/suites/nodeport.test.ts')).toBe('nodeport');
    expect(areaFromFile('suites/source-ip.test.ts')).toBe('source-ip');
    expect(areaFromFile('suites/map-full.spec.mts')).toBe('map-full');
  });

  test('known areas come in their documented order, others after, alphabetically', () => {
    expect(['zeta', 'rollback', 'alpha', 'nodeport', 'dsr'].sort(compareAreas)).toEqual([
      'nodeport',
      'dsr',
      'rollback',
      'alpha',
      'zeta',
    ]);
  });
});

describe('classify', () => {
  const assertion = { name: 'AssertionError', message: 'expected 1 to be 2', expected: '2', actual: '1' };
  const conformance = {
    name: 'ConformanceFailure',
    message: 'no reply from the frontend',
    expected: 'reply from 172.18.0.2:30080',
    seen: 'reply from 10.244.1.5:8080',
    where: 'dpc-client eth0',
    stacks: [{ file: '/repo/suites/dsr.test.ts', line: 42, column: 7 }],
  };
  const command = {
    name: 'CommandError',
    message: 'command exited 1: ip link add x',
    stderr: 'RTNETLINK answers: File exists\n',
  };

  test('a passed test is conformant', () => {
    expect(classify({ state: 'passed' })).toEqual({ verdict: 'conformant' });
  });

  test('a failed expect is non-conformant, with expected and seen', () => {
    const r = classify({ state: 'failed', errors: [assertion] });
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure).toMatchObject({
      message: 'expected 1 to be 2',
      expected: '2',
      seen: '1',
      type: 'AssertionError',
    });
  });

  test('a ConformanceFailure is non-conformant, with expected, seen, where and the suite line', () => {
    const r = classify({ state: 'failed', errors: [conformance] }, '/repo');
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure).toEqual({
      message: 'no reply from the frontend',
      expected: 'reply from 172.18.0.2:30080',
      seen: 'reply from 10.244.1.5:8080',
      where: 'dpc-client eth0',
      source: 'suites/dsr.test.ts:42:7',
      type: 'ConformanceFailure',
    });
  });

  test('any other error is an error, with its first line as the reason', () => {
    const r = classify({ state: 'failed', errors: [command] });
    expect(r.verdict).toBe('error');
    expect(r.reason).toBe('command exited 1: ip link add x');
    expect(r.failure?.seen).toBe('RTNETLINK answers: File exists\n');
    const timeout = classify({
      state: 'failed',
      errors: [{ name: 'TestTimeoutError', message: 'Test timed out in 100ms.\nmore' }],
    });
    expect(timeout).toMatchObject({ verdict: 'error', reason: 'Test timed out in 100ms.' });
  });

  test('the first error decides; the others are listed', () => {
    const r = classify({ state: 'failed', errors: [assertion, command] });
    expect(r.verdict).toBe('non-conformant');
    expect(r.failure?.message).toContain('…and 1 more: command exited 1: ip link add x');
    expect(classify({ state: 'failed', errors: [command, assertion] }).verdict).toBe('error');
  });

  test('a skip keeps its note as the reason', () => {
    expect(
      classify({ state: 'skipped', note: 'docker not installed', mode: 'run', setupErrors: [] }),
    ).toEqual({
      verdict: 'skipped',
      reason: 'docker not installed',
    });
    expect(classify({ state: 'skipped', mode: 'skip', setupErrors: [] }).reason).toBe('no reason given');
    expect(classify({ state: 'skipped', mode: 'todo', setupErrors: [] }).reason).toBe(
      'not written yet (todo)',
    );
  });

  test('a test vitest skipped because its beforeAll failed is an error, not a skip', () => {
    const r = classify({
      state: 'skipped',
      mode: 'run',
      setupErrors: [{ name: 'Error', message: 'setup broke' }],
    });
    expect(r.verdict).toBe('error');
    expect(r.reason).toBe('setup failed: setup broke');
  });

  test('a test that never finished is an error', () => {
    expect(classify({ state: 'pending' }).verdict).toBe('error');
  });

  test('only assertion-like errors count as conformance failures', () => {
    expect(isConformanceError({ name: 'AssertionError', message: '' })).toBe(true);
    expect(isConformanceError({ name: 'JestAssertionError', message: '' })).toBe(true);
    expect(isConformanceError({ name: 'ConformanceFailure', message: '' })).toBe(true);
    expect(isConformanceError({ name: 'CommandError', message: '' })).toBe(false);
    expect(isConformanceError({ message: 'no name' })).toBe(false);
  });

  test('a failure without errors still says something', () => {
    expect(failureFrom([]).message).toBe('failed without an error');
  });
});
