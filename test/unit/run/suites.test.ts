import { describe, expect, it } from 'vitest';
import { defaultAreas, selectAreas } from '../../../src/run/suites.ts';

const available = ['nodeport', 'dsr', 'mtu', 'performance'];

describe('selectAreas', () => {
  it('runs every area but the on-request ones when none is named, or "all"', () => {
    expect(selectAreas(undefined, available)).toEqual(['nodeport', 'dsr', 'mtu']);
    expect(selectAreas('all', available)).toEqual(defaultAreas(available));
  });

  it('runs an on-request area when it is named', () => {
    expect(selectAreas('performance,dsr', available)).toEqual(['dsr', 'performance']);
  });

  it('names every unknown suite', () => {
    expect(() => selectAreas('nodeport,bogus,nope', available)).toThrow(
      'unknown suite "bogus", "nope" (suites: nodeport, dsr, mtu, performance)',
    );
  });
});
