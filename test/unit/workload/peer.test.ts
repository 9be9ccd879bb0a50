import { describe, expect, it } from 'vitest';
import { formatPeer, plainAddress } from '../../../src/workload/peer.ts';

describe('clientip formatting', () => {
  it('strips the IPv4-mapped prefix', () => {
    expect(plainAddress('::ffff:10.244.1.5')).toBe('10.244.1.5');
    expect(plainAddress('::FFFF:172.18.0.2')).toBe('172.18.0.2');
    expect(formatPeer('::ffff:10.244.1.5', 41234)).toBe('10.244.1.5:41234');
  });

  it('leaves plain IPv4 alone', () => {
    expect(formatPeer('172.18.0.4', 80)).toBe('172.18.0.4:80');
  });

  it('brackets real IPv6 the way agnhost (Go) does', () => {
    expect(plainAddress('::ffff:abcd')).toBe('::ffff:abcd');
    expect(formatPeer('fd00::1', 8080)).toBe('[fd00::1]:8080');
  });

  it('still answers for a socket that lost its peer', () => {
    expect(formatPeer(undefined, undefined)).toBe(':0');
  });
});
