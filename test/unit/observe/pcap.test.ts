import { describe, expect, it } from 'vitest';
import { LINKTYPE, PcapFormatError, readPcap, writePcap } from '../../../src/observe/pcap.ts';
import { pcapFixture } from './fixtures.ts';

describe('pcap reader', () => {
  it('reads the global header of a tcpdump file on Ethernet', () => {
    const file = readPcap(pcapFixture('tcp-handshake'));
    expect(file.header).toEqual({
      byteOrder: 'little',
      nanosecond: false,
      versionMajor: 2,
      versionMinor: 4,
      snaplen: 262144,
      linkType: LINKTYPE.EN10MB,
    });
    expect(file.records).toHaveLength(12);
    expect(file.trailingBytes).toBe(0);
  });

  it('reads records with microsecond timestamps as exact nanoseconds', () => {
    const [first, second] = readPcap(pcapFixture('tcp-handshake')).records;
    expect(first).toMatchObject({
      index: 0,
      time: { sec: 1795319633, nsec: 512918000 },
      capturedLength: 42,
      originalLength: 42,
    });
    expect(first?.data.byteLength).toBe(42);
    expect(second?.time).toEqual({ sec: 1795319633, nsec: 512962000 });
  });

  it('reads the nanosecond magic', () => {
    const file = readPcap(pcapFixture('udp-port-unreachable-ns'));
    expect(file.header.nanosecond).toBe(true);
    expect(file.records.map((r) => r.time)).toEqual([
      { sec: 1795319633, nsec: 907927451 },
      { sec: 1795319633, nsec: 908141289 },
    ]);
  });

  it('reads the link types of -i any captures', () => {
    expect(readPcap(pcapFixture('any-sll2')).header.linkType).toBe(LINKTYPE.LINUX_SLL2);
    expect(readPcap(pcapFixture('any-sll')).header.linkType).toBe(LINKTYPE.LINUX_SLL);
  });

  it('reads a big-endian file as the same records', () => {
    const le = readPcap(pcapFixture('udp-port-unreachable-ns'));
    const bytes = writePcap({ ...le.header, byteOrder: 'big' }, le.records);
    // The magic is stored in the writer's byte order: big-endian reads a1 b2 3c 4d in the file.
    expect([...bytes.subarray(0, 4)]).toEqual([0xa1, 0xb2, 0x3c, 0x4d]);
    const be = readPcap(bytes);
    expect(be.header).toEqual({ ...le.header, byteOrder: 'big' });
    expect(be.records.map((r) => [r.time, r.capturedLength, r.originalLength, [...r.data]])).toEqual(
      le.records.map((r) => [r.time, r.capturedLength, r.originalLength, [...r.data]]),
    );
  });

  it('writes and reads back a file unchanged, byte for byte', () => {
    const original = pcapFixture('vxlan-tcp');
    const file = readPcap(original);
    expect([...writePcap(file.header, file.records)]).toEqual([...original]);
  });

  it('keeps microseconds when a nanosecond capture is written with microsecond precision', () => {
    const file = readPcap(pcapFixture('udp-port-unreachable-ns'));
    const us = readPcap(writePcap({ ...file.header, nanosecond: false }, file.records));
    expect(us.header.nanosecond).toBe(false);
    expect(us.records[0]?.time).toEqual({ sec: 1795319633, nsec: 907927000 });
  });

  it('keeps the whole records of a file cut short and says how much was cut', () => {
    const bytes = pcapFixture('tcp-handshake');
    const cut = readPcap(bytes.subarray(0, bytes.byteLength - 10));
    expect(cut.records).toHaveLength(11);
    // The last record is 16 bytes of header and 66 bytes of frame; 10 of them are gone.
    expect(cut.trailingBytes).toBe(16 + 66 - 10);
  });

  it('refuses pcapng, other files and short files with a reason', () => {
    const pcapng = Uint8Array.from([0x0a, 0x0d, 0x0d, 0x0a, ...new Array(28).fill(0)]);
    expect(() => readPcap(pcapng)).toThrow(/pcapng/);
    expect(() => readPcap(new TextEncoder().encode('this is not a capture file at all'))).toThrow(
      /not a pcap file: magic 0x74686973/,
    );
    expect(() => readPcap(new Uint8Array(10))).toThrow(PcapFormatError);
  });

  it('refuses a record whose length cannot be right', () => {
    const bytes = Uint8Array.from(pcapFixture('tcp-handshake'));
    new DataView(bytes.buffer).setUint32(24 + 8, 0x7fffffff, true);
    expect(() => readPcap(bytes)).toThrow(/record 0 at byte 24 claims 2147483647 bytes/);
  });
});
