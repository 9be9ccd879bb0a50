import { describe, expect, test } from 'vitest';
import {
  factorFromCalibration,
  parseTimeScale,
  scaled,
  TIME_SCALE_ENV,
  timeScale,
  timeScaleInEffect,
} from '../../../src/sys/time-scale.ts';
import { scaledProbe } from '../../../src/workload/agent-client.ts';

describe('the time scale', () => {
  test('a factor from 1 to 100, read from the environment, 1 by default', () => {
    expect(parseTimeScale('11')).toBe(11);
    expect(parseTimeScale(' 2.5 ')).toBe(2.5);
    for (const bad of ['0.5', '0', '-3', 'x', '', '101', 'Infinity']) {
      expect(() => parseTimeScale(bad, '--time-scale')).toThrow(
        /--time-scale must be a number from 1 to 100/,
      );
    }
    expect(timeScale({})).toBe(1);
    expect(timeScale({ [TIME_SCALE_ENV]: '4' })).toBe(4);
    expect(() => timeScale({ [TIME_SCALE_ENV]: 'fast' })).toThrow(TIME_SCALE_ENV);
    expect(timeScaleInEffect({})).toEqual({ factor: 1, source: 'default' });
    expect(timeScaleInEffect({ [TIME_SCALE_ENV]: '3' })).toEqual({ factor: 3, source: 'given' });
  });

  test('budgets stretch by the factor, rounded up to whole milliseconds', () => {
    expect(scaled(600, 11)).toBe(6600);
    expect(scaled(10_000, 1.25)).toBe(12_500);
    expect(scaled(333, 1.5)).toBe(500);
  });

  test('measured: the ratio of the calibration times, up to a tenth, never below 1', () => {
    expect(factorFromCalibration(1100, 100)).toBe(11);
    expect(factorFromCalibration(1234, 100)).toBe(12.4);
    expect(factorFromCalibration(50, 100)).toBe(1);
    expect(factorFromCalibration(100, 0)).toBe(1);
    expect(factorFromCalibration(1e9, 1)).toBe(100);
  });

  test('probe timeouts stretch, unless the timeout is what the probe proves', () => {
    expect(scaledProbe({ kind: 'tcp', host: '10.0.0.1', port: 80, timeoutMs: 600 }, 11).timeoutMs).toBe(6600);
    // No timeout given: the agent's default (2000 ms), stretched.
    expect(scaledProbe({ kind: 'udp', host: '10.0.0.1', port: 80 }, 3).timeoutMs).toBe(6000);
    const fixed = scaledProbe(
      { kind: 'tcp', host: '10.0.0.1', port: 80, timeoutMs: 700, fixedTimeout: true },
      11,
    );
    expect(fixed).toEqual({ kind: 'tcp', host: '10.0.0.1', port: 80, timeoutMs: 700 });
    expect(scaledProbe({ kind: 'tcp', host: '10.0.0.1', port: 80, timeoutMs: 90_000 }, 11).timeoutMs).toBe(
      120_000,
    );
    expect(scaledProbe({ kind: 'tcp', host: '10.0.0.1', port: 80, timeoutMs: 600 }, 1).timeoutMs).toBe(600);
  });
});
