import { describe, expect, it } from 'vitest';
import { buildPacket, internetChecksum, parsePacket, TCP_FLAG } from '../../../src/dataplane/bpf/packet.ts';

describe('packet builder and parser', () => {
  it('computes the RFC 1071 example checksum', () => {
    // RFC 1071 section 3: the one's complement sum of these words is 0xddf2.
    const words = Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
    expect(internetChecksum(words)).toBe(~0xddf2 & 0xffff);
  });

  it('matches a known IPv4 header checksum', () => {
    // A textbook header (Wikipedia's IPv4 checksum example): checksum 0xb861.
    const h = Uint8Array.from([
      0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8, 0x00, 0x01, 0xc0,
      0xa8, 0x00, 0xc7,
    ]);
    expect(internetChecksum(h)).toBe(0xb861);
  });

  it('builds TCP and UDP frames that parse back with valid checksums', () => {
    const tcp = parsePacket(
      buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 'TCP',
        sport: 1234,
        dport: 80,
        payload: 'abc',
        tcpFlags: TCP_FLAG.syn,
      }),
    );
    expect(tcp).toMatchObject({
      src: '10.0.0.1',
      dst: '10.0.0.2',
      proto: 'TCP',
      sport: 1234,
      dport: 80,
      tcpFlags: 2,
    });
    expect(tcp.ipChecksumOk && tcp.l4ChecksumOk).toBe(true);
    expect(new TextDecoder().decode(tcp.payload)).toBe('abc');
    const udp = parsePacket(
      buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 5, dport: 53, payload: 'odd' }),
    );
    expect(udp.ipChecksumOk && udp.l4ChecksumOk).toBe(true);
    expect(udp.l4Checksum).not.toBe(0);
  });

  it('detects a corrupted address or port', () => {
    const frame = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'TCP', sport: 1, dport: 2 });
    const badDst = frame.slice();
    badDst[33] = 3; // last byte of the destination address
    expect(parsePacket(badDst)).toMatchObject({ ipChecksumOk: false, l4ChecksumOk: false });
    const badPort = frame.slice();
    badPort[37] = 9; // low byte of the destination port
    expect(parsePacket(badPort)).toMatchObject({ ipChecksumOk: true, l4ChecksumOk: false });
  });

  it('keeps a zero UDP checksum as "none"', () => {
    const p = parsePacket(
      buildPacket({
        src: '10.0.0.1',
        dst: '10.0.0.2',
        proto: 'UDP',
        sport: 5,
        dport: 53,
        udpZeroChecksum: true,
      }),
    );
    expect(p).toMatchObject({ l4Checksum: 0, l4ChecksumOk: true });
  });

  it('refuses non-IPv4 frames', () => {
    const f = buildPacket({ src: '10.0.0.1', dst: '10.0.0.2', proto: 'UDP', sport: 5, dport: 53 });
    f[12] = 0x86;
    f[13] = 0xdd;
    expect(() => parsePacket(f)).toThrow(/not IPv4/);
  });
});
