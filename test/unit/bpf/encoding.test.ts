import { describe, expect, it } from 'vitest';
import {
  decodeBackendValue,
  decodeConfig,
  decodeCounterKey,
  decodeCtKey,
  decodeCtValue,
  decodeFrontendKey,
  decodeFrontendValue,
  decodeRouteKey,
  decodeRouteValue,
  encodeBackendKey,
  encodeBackendValue,
  encodeConfig,
  encodeCounterKey,
  encodeCtKey,
  encodeCtValue,
  encodeFrontendKey,
  encodeFrontendValue,
  encodeRouteKey,
  encodeRouteValue,
  fromHexWords,
  ipv4Bytes,
  parseCidr,
  toHexWords,
} from '../../../src/dataplane/bpf/encoding.ts';
import { CT_FLAG, FE_FLAG } from '../../../src/dataplane/bpf/layout.ts';

const hex = toHexWords;

describe('map encodings (byte order matches bpf/dpc.h)', () => {
  it('frontend key: address and port in network order, protocol byte, pad', () => {
    expect(hex(encodeFrontendKey({ addr: '10.96.0.1', port: 80, proto: 'TCP' }))).toBe(
      '0a 60 00 01 00 50 06 00',
    );
    expect(hex(encodeFrontendKey({ addr: '0.0.0.0', port: 30080, proto: 'UDP' }))).toBe(
      '00 00 00 00 75 80 11 00',
    );
  });

  it('frontend value: host-order (little-endian) id, count, flags, affinity seconds', () => {
    const v = { svcId: 0x01020304, count: 3, flags: FE_FLAG.local | FE_FLAG.affinity, affinityS: 0x0a0b };
    expect(hex(encodeFrontendValue(v))).toBe('04 03 02 01 03 00 03 00 0b 0a 00 00');
    expect(decodeFrontendValue(encodeFrontendValue(v))).toEqual(v);
  });

  it('backend key and value', () => {
    expect(hex(encodeBackendKey({ svcId: 7, ordinal: 258 }))).toBe('07 00 00 00 02 01 00 00');
    const v = { addr: '10.244.1.7', port: 8080, nodeIp: '172.18.0.3' };
    expect(hex(encodeBackendValue(v))).toBe('0a f4 01 07 1f 90 00 00 ac 12 00 03');
    expect(decodeBackendValue(encodeBackendValue(v))).toEqual(v);
  });

  it('conntrack key and value', () => {
    const k = {
      saddr: '172.18.1.10',
      daddr: '172.18.0.2',
      sport: 50000,
      dport: 30080,
      proto: 'TCP' as const,
    };
    expect(hex(encodeCtKey(k))).toBe('ac 12 01 0a ac 12 00 02 c3 50 75 80 06 00 00 00');
    expect(decodeCtKey(encodeCtKey(k))).toEqual(k);
    const v = {
      lastSeenNs: 0x0102030405060708n,
      type: 'rev' as const,
      flags: CT_FLAG.fromTunnel,
      natIp: '172.18.0.2',
      natPort: 30080,
      tunIp: '172.18.0.2',
      ordinal: 5,
      svcId: 0x0a0b0c0d,
      snatIp: '10.244.1.7',
      snatPort: 20001,
    };
    const b = encodeCtValue(v);
    expect(hex(b.subarray(0, 8))).toBe('08 07 06 05 04 03 02 01');
    expect(b[8]).toBe(2);
    expect(b[9]).toBe(CT_FLAG.fromTunnel);
    expect(hex(b.subarray(12, 18))).toBe('ac 12 00 02 75 80');
    expect(hex(b.subarray(20, 32))).toBe('ac 12 00 02 05 00 00 00 0d 0c 0b 0a');
    expect(hex(b.subarray(32, 40))).toBe('0a f4 01 07 4e 21 00 00');
    expect(decodeCtValue(b)).toEqual(v);
  });

  it('route key: host-order prefix length, masked network-order address', () => {
    expect(hex(encodeRouteKey({ cidr: '10.244.1.0/24' }))).toBe('18 00 00 00 0a f4 01 00');
    expect(hex(encodeRouteKey({ cidr: '10.244.1.77/24' }))).toBe('18 00 00 00 0a f4 01 00');
    expect(decodeRouteKey(encodeRouteKey({ cidr: '10.244.0.5' }))).toEqual({ cidr: '10.244.0.5/32' });
    const v = { type: 'localWorkload' as const, ifindex: 12, nodeIp: '172.18.0.2' };
    expect(hex(encodeRouteValue(v))).toBe('01 00 00 00 0c 00 00 00 ac 12 00 02 00 00 00 00');
    expect(decodeRouteValue(encodeRouteValue(v))).toEqual(v);
  });

  it('counter key names its reason', () => {
    const k = encodeCounterKey({ ifindex: 3, hook: 'egress', reason: 'packets with unknown route' });
    expect(hex(k)).toBe('03 00 00 00 01 04 00 00');
    expect(decodeCounterKey(k)).toEqual({ ifindex: 3, hook: 'egress', reason: 'packets with unknown route' });
    expect(decodeCounterKey(fromHexWords('03 00 00 00 00 63 00 00')).reason).toBe('reason 99');
  });

  it('config record', () => {
    const c = {
      nodeIp: '172.18.0.2',
      vxIfindex: 9,
      flags: 1,
      tcpTimeoutS: 3600,
      udpTimeoutS: 60,
      affinityTimeoutS: 10800,
      tunnelMtu: 1450,
      psnatLo: 20000,
      psnatHi: 29999,
      logLevel: 2,
    };
    expect(hex(encodeConfig(c).subarray(0, 8))).toBe('ac 12 00 02 09 00 00 00');
    expect(hex(encodeConfig(c).subarray(24, 36))).toBe('aa 05 00 00 20 4e 2f 75 02 00 00 00');
    expect(decodeConfig(encodeConfig(c))).toEqual(c);
  });

  it('frontend key round trip', () => {
    const k = { addr: '172.18.255.200', port: 443, proto: 'TCP' as const };
    expect(decodeFrontendKey(encodeFrontendKey(k))).toEqual(k);
  });

  it('rejects what it cannot encode', () => {
    expect(() => ipv4Bytes('10.0.0')).toThrow(/not an IPv4/);
    expect(() => ipv4Bytes('10.0.0.256')).toThrow(/not an IPv4/);
    expect(() => encodeFrontendKey({ addr: '10.0.0.1', port: 70000, proto: 'TCP' })).toThrow(/bad port/);
    expect(() => parseCidr('10.0.0.0/33')).toThrow(/bad CIDR/);
    expect(() => decodeFrontendValue(new Uint8Array(7))).toThrow(/expected 12 bytes/);
  });

  it('hex words both ways, including bpftool JSON style', () => {
    expect(hex(Uint8Array.from([0, 15, 255]))).toBe('00 0f ff');
    expect(Array.from(fromHexWords(['0x0a', '0xff']))).toEqual([10, 255]);
    expect(Array.from(fromHexWords('0a ff'))).toEqual([10, 255]);
    expect(() => fromHexWords(['zz'])).toThrow(/not a hex byte/);
  });
});
