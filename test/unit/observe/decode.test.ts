import { describe, expect, it } from 'vitest';
import {
  decodePcap,
  decodeRecord,
  ETHERTYPE,
  IPPROTO,
  ipv6String,
  tcpFlagLetters,
} from '../../../src/observe/decode.ts';
import { LINKTYPE, type PcapRecord, readPcap } from '../../../src/observe/pcap.ts';
import { pcapFixture } from './fixtures.ts';
import { bytes, ether, ipv4, ipv6, tcp, u16, u32, udp, v6 } from './frames.ts';

const A = [172, 18, 0, 2];
const B = [172, 18, 0, 3];

function record(data: Uint8Array, originalLength = data.byteLength): PcapRecord {
  return { index: 0, time: { sec: 1, nsec: 0 }, capturedLength: data.byteLength, originalLength, data };
}

describe('decoding a TCP exchange on Ethernet', () => {
  const packets = decodePcap(pcapFixture('tcp-handshake'), { iface: 'eth0', label: 'node-b' });

  it('decodes the ARP exchange before the first SYN', () => {
    expect(packets[0]).toEqual({
      index: 0,
      time: { sec: 1795319633, nsec: 512918000 },
      iface: 'eth0',
      label: 'node-b',
      etherType: ETHERTYPE.ARP,
      ether: { dst: 'ff:ff:ff:ff:ff:ff', src: '1a:21:40:8a:be:a1', type: ETHERTYPE.ARP },
      src: '172.18.0.2',
      dst: '172.18.0.3',
      proto: 'arp',
      length: 28,
      frameLength: 42,
      arp: {
        op: 1,
        senderMac: '1a:21:40:8a:be:a1',
        senderIp: '172.18.0.2',
        targetMac: '00:00:00:00:00:00',
        targetIp: '172.18.0.3',
      },
    });
    expect(packets[1]?.arp).toMatchObject({ op: 2, senderMac: '7e:74:62:a1:cb:ab', senderIp: '172.18.0.3' });
  });

  it('decodes the SYN with every field', () => {
    expect(packets[2]).toEqual({
      index: 2,
      time: { sec: 1795319633, nsec: 512971000 },
      iface: 'eth0',
      label: 'node-b',
      etherType: ETHERTYPE.IPV4,
      ether: { dst: '7e:74:62:a1:cb:ab', src: '1a:21:40:8a:be:a1', type: ETHERTYPE.IPV4 },
      src: '172.18.0.2',
      dst: '172.18.0.3',
      proto: 'tcp',
      ip: {
        version: 4,
        protocol: IPPROTO.TCP,
        ttl: 64,
        id: 31113,
        tos: 0,
        totalLength: 60,
        dontFragment: true,
        moreFragments: false,
        fragmentOffset: 0,
      },
      sport: 40000,
      dport: 8080,
      seq: 807400500,
      ack: 0,
      flags: 'S',
      win: 64240,
      length: 0,
      frameLength: 74,
    });
  });

  it('reads flags, sequence numbers and payload lengths through data and FIN', () => {
    expect(packets.slice(2).map((p) => [p.sport, p.flags, p.seq, p.ack, p.length])).toEqual([
      [40000, 'S', 807400500, 0, 0],
      [8080, 'S.', 800387589, 807400501, 0],
      [40000, '.', 807400501, 800387590, 0],
      [40000, 'P.', 807400501, 800387590, 6],
      [8080, '.', 800387590, 807400507, 0],
      [8080, 'P.', 800387590, 807400507, 6],
      [40000, '.', 807400507, 800387596, 0],
      [40000, 'F.', 807400507, 800387596, 0],
      [8080, 'F.', 800387596, 807400508, 0],
      [40000, '.', 807400508, 800387597, 0],
    ]);
  });
});

describe('decoding VXLAN', () => {
  const packets = decodePcap(pcapFixture('vxlan-tcp'));

  it('decodes the outer UDP packet, the VNI and the inner TCP SYN', () => {
    const syn = packets[2]!;
    expect(syn).toMatchObject({
      src: '172.18.0.2',
      dst: '172.18.0.3',
      proto: 'udp',
      sport: 45601,
      dport: 4789,
      length: 82,
      frameLength: 124,
    });
    expect(syn.vxlan?.vni).toBe(7);
    expect(syn.vxlan?.flags).toBe(0x08);
    expect(syn.vxlan?.inner).toMatchObject({
      index: 2,
      time: syn.time,
      ether: { src: '3a:33:8e:97:f0:c4', dst: '86:5f:42:18:75:aa', type: ETHERTYPE.IPV4 },
      src: '10.244.0.1',
      dst: '10.244.0.2',
      proto: 'tcp',
      sport: 40002,
      dport: 8080,
      seq: 1175194174,
      flags: 'S',
      win: 64860,
      length: 0,
      frameLength: 74,
    });
  });

  it('decodes ARP carried in VXLAN', () => {
    expect(packets[0]?.vxlan?.inner).toMatchObject({
      proto: 'arp',
      src: '10.244.0.1',
      dst: '10.244.0.2',
      arp: { op: 1, targetIp: '10.244.0.2' },
    });
  });

  it('decodes every inner packet of the exchange', () => {
    expect(
      packets.map((p) => `${p.vxlan?.vni} ${p.vxlan?.inner.proto} ${p.vxlan?.inner.flags ?? '-'}`),
    ).toEqual([
      '7 arp -',
      '7 arp -',
      '7 tcp S',
      '7 tcp S.',
      '7 tcp .',
      '7 tcp P.',
      '7 tcp .',
      '7 tcp P.',
      '7 tcp .',
      '7 tcp F.',
      '7 tcp F.',
      '7 tcp .',
    ]);
  });

  it('leaves UDP on other ports alone unless told they carry VXLAN', () => {
    const file = readPcap(pcapFixture('vxlan-tcp'));
    const r = file.records[2]!;
    expect(decodeRecord(file.header.linkType, r, { vxlanPorts: [8472] }).vxlan).toBeUndefined();
    expect(decodeRecord(file.header.linkType, r, { vxlanPorts: [8472, 4789] }).vxlan?.vni).toBe(7);
  });
});

describe('decoding ICMP', () => {
  it('decodes a port unreachable and the UDP datagram it quotes', () => {
    const [datagram, icmp] = decodePcap(pcapFixture('udp-port-unreachable-ns'));
    expect(datagram).toMatchObject({ proto: 'udp', sport: 40001, dport: 9999, length: 5, frameLength: 47 });
    expect(icmp).toMatchObject({
      time: { sec: 1795319633, nsec: 908141289 },
      src: '172.18.0.3',
      dst: '172.18.0.2',
      proto: 'icmp',
      length: 41,
      ip: { tos: 0xc0, ttl: 64, totalLength: 61 },
      icmp: {
        type: 3,
        code: 3,
        original: {
          src: '172.18.0.2',
          dst: '172.18.0.3',
          proto: 'udp',
          protocol: 17,
          sport: 40001,
          dport: 9999,
        },
      },
    });
  });

  it('decodes echo request and reply', () => {
    const [req, rep] = decodePcap(pcapFixture('any-sll'));
    expect(req?.icmp).toEqual({ type: 8, code: 0, id: 31271, seq: 1 });
    expect(rep?.icmp).toEqual({ type: 0, code: 0, id: 31271, seq: 1 });
    expect(req?.length).toBe(64);
  });

  it('reads the next-hop MTU of "fragmentation needed" and the TCP segment quoted', () => {
    const quoted = ipv4({
      protocol: IPPROTO.TCP,
      src: A,
      dst: B,
      payload: bytes(u16(40000), u16(80), u32(4242)),
    });
    const icmp = bytes(3, 4, 0, 0, 0, 0, u16(1400), quoted);
    const p = decodeRecord(
      LINKTYPE.EN10MB,
      record(ether(0x0800, ipv4({ protocol: 1, src: B, dst: A, payload: icmp }))),
    );
    expect(p.icmp).toEqual({
      type: 3,
      code: 4,
      mtu: 1400,
      original: {
        src: '172.18.0.2',
        dst: '172.18.0.3',
        proto: 'tcp',
        protocol: 6,
        sport: 40000,
        dport: 80,
        seq: 4242,
      },
    });
  });
});

describe('decoding Linux cooked captures', () => {
  it('reads direction and interface index from SLL2 and names the interface when told', () => {
    const packets = decodePcap(pcapFixture('any-sll2'), { ifnames: new Map([[2, 'eth0']]) });
    expect(packets.map((p) => [p.direction, p.ifindex, p.iface, p.src, p.dst, p.proto])).toEqual([
      ['in', 2, 'eth0', '172.18.0.2', '172.18.0.3', 'icmp'],
      ['out', 2, 'eth0', '172.18.0.3', '172.18.0.2', 'icmp'],
    ]);
    expect(packets[0]?.ether).toBeUndefined();
  });

  it('reads direction from SLL v1', () => {
    expect(decodePcap(pcapFixture('any-sll')).map((p) => [p.direction, p.proto, p.frameLength])).toEqual([
      ['in', 'icmp', 100],
      ['out', 'icmp', 100],
    ]);
  });

  it('decodes raw IP captures', () => {
    const frame = ipv4({ protocol: IPPROTO.UDP, src: A, dst: B, payload: udp(5000, 6000, [1, 2, 3]) });
    expect(decodeRecord(LINKTYPE.RAW, record(frame))).toMatchObject({
      proto: 'udp',
      sport: 5000,
      dport: 6000,
      length: 3,
    });
  });
});

describe('decoding what real captures rarely show', () => {
  it('marks a packet cut by the snap length as truncated and keeps what it could read', () => {
    const file = readPcap(pcapFixture('tcp-handshake'));
    const syn = file.records[2]!;
    // 14 Ethernet + 20 IP + 4 bytes of TCP: the ports are there, the rest is not.
    const cut = { ...syn, data: syn.data.subarray(0, 38), capturedLength: 38 };
    const p = decodeRecord(file.header.linkType, cut);
    expect(p).toMatchObject({ proto: 'tcp', sport: 40000, dport: 8080, truncated: true, frameLength: 74 });
    expect(p.flags).toBeUndefined();
  });

  it('takes payload lengths from the headers when the payload itself was cut', () => {
    const file = readPcap(pcapFixture('tcp-handshake'));
    const data = file.records[5]!;
    // Headers whole (66 bytes), 6 bytes of payload not captured: tcpdump still says length 6.
    const p = decodeRecord(file.header.linkType, {
      ...data,
      data: data.data.subarray(0, 66),
      capturedLength: 66,
    });
    expect(p).toMatchObject({ proto: 'tcp', flags: 'P.', length: 6, frameLength: 72 });
    expect(p.truncated).toBeUndefined();
  });

  it('marks a VXLAN packet whose inner frame was cut as truncated', () => {
    const file = readPcap(pcapFixture('vxlan-tcp'));
    const r = file.records[2]!;
    const p = decodeRecord(file.header.linkType, { ...r, data: r.data.subarray(0, 14 + 20 + 8 + 8 + 20) });
    expect(p.truncated).toBe(true);
    expect(p.vxlan?.vni).toBe(7);
    expect(p.vxlan?.inner.truncated).toBe(true);
  });

  it('does not read ports from a later IPv4 fragment', () => {
    const frag = ipv4({
      protocol: IPPROTO.UDP,
      src: A,
      dst: B,
      payload: new Uint8Array(16),
      id: 77,
      fragment: 185,
    });
    const p = decodeRecord(LINKTYPE.EN10MB, record(ether(0x0800, frag)));
    expect(p).toMatchObject({
      proto: 'ip',
      length: 16,
      ip: { id: 77, fragmentOffset: 1480, moreFragments: false },
    });
    expect(p.sport).toBeUndefined();
  });

  it('decodes the first fragment (more fragments set) down to its ports', () => {
    const frag = ipv4({
      protocol: IPPROTO.UDP,
      src: A,
      dst: B,
      payload: udp(1, 2, new Uint8Array(8)),
      fragment: 0x2000,
    });
    expect(decodeRecord(LINKTYPE.EN10MB, record(ether(0x0800, frag)))).toMatchObject({
      proto: 'udp',
      sport: 1,
      dport: 2,
      ip: { moreFragments: true, fragmentOffset: 0 },
    });
  });

  it('ignores Ethernet padding after a short IP packet', () => {
    const small = ipv4({
      protocol: IPPROTO.TCP,
      src: A,
      dst: B,
      payload: tcp({ sport: 1, dport: 2, flags: 0x14 }),
    });
    const padded = bytes(ether(0x0800, small), new Array(6).fill(0));
    expect(decodeRecord(LINKTYPE.EN10MB, record(padded))).toMatchObject({
      flags: 'R.',
      length: 0,
      frameLength: 60,
    });
  });

  it('reads through 802.1Q tags', () => {
    const inner = ipv4({ protocol: IPPROTO.UDP, src: A, dst: B, payload: udp(7, 8, [0]) });
    const frame = bytes([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], u16(0x8100), u16(42), u16(0x0800), inner);
    expect(decodeRecord(LINKTYPE.EN10MB, record(frame))).toMatchObject({
      ether: { vlans: [42], type: 0x0800 },
      proto: 'udp',
      sport: 7,
    });
  });

  it('decodes IPv6 with a hop-by-hop header, and ICMPv6 echo', () => {
    const echo = bytes(128, 0, 0, 0, u16(9), u16(3), [1, 2, 3, 4]);
    // 16 bytes: router alert and an 8-byte PadN, so the header's own length field must be read.
    const hopByHop = bytes(58, 1, 5, 2, 0, 0, 1, 8, new Array(8).fill(0));
    const p = decodeRecord(
      LINKTYPE.EN10MB,
      record(
        ether(
          0x86dd,
          ipv6({ next: 0, src: v6(0xfe80, 1), dst: v6(0xfe80, 2), payload: bytes(hopByHop, echo) }),
        ),
      ),
    );
    expect(p).toMatchObject({
      src: 'fe80::1',
      dst: 'fe80::2',
      proto: 'icmp6',
      ip: { version: 6, protocol: 58, ttl: 64, totalLength: 68 },
      icmp: { type: 128, code: 0, id: 9, seq: 3 },
      length: 12,
    });
  });

  it('decodes TCP over IPv6', () => {
    const seg = tcp({ sport: 443, dport: 5555, flags: 0x18, payload: [1, 2, 3] });
    const p = decodeRecord(
      LINKTYPE.EN10MB,
      record(ether(0x86dd, ipv6({ next: 6, src: v6(0xfd00, 1), dst: v6(0xfd00, 2), payload: seg }))),
    );
    expect(p).toMatchObject({
      proto: 'tcp',
      src: 'fd00::1',
      sport: 443,
      dport: 5555,
      flags: 'P.',
      length: 3,
    });
  });

  it('says what is wrong with a bad IPv4 header instead of throwing', () => {
    const bad = ipv4({ protocol: IPPROTO.TCP, src: A, dst: B, payload: new Uint8Array(20), ihlWords: 3 });
    expect(decodeRecord(LINKTYPE.EN10MB, record(ether(0x0800, bad))).malformed).toBe(
      'IPv4 header length 12, total length 40',
    );
    const v6InV4 = Uint8Array.from(bad);
    v6InV4[0] = 0x65;
    expect(decodeRecord(LINKTYPE.EN10MB, record(ether(0x0800, v6InV4))).malformed).toBe(
      'IP version 6 in an IPv4 frame',
    );
  });

  it('says which link types it does not decode', () => {
    expect(decodeRecord(147, record(new Uint8Array(4))).malformed).toBe('link type 147 is not decoded');
  });

  it('leaves unknown EtherTypes undecoded but counted', () => {
    const p = decodeRecord(LINKTYPE.EN10MB, record(ether(0x88cc, new Uint8Array(46))));
    expect(p).toMatchObject({ etherType: 0x88cc, proto: 'other', src: '', dst: '', frameLength: 60 });
  });
});

describe('helpers', () => {
  it('writes TCP flags in tcpdump order', () => {
    expect(tcpFlagLetters(0x02)).toBe('S');
    expect(tcpFlagLetters(0x12)).toBe('S.');
    expect(tcpFlagLetters(0x19)).toBe('FP.');
    expect(tcpFlagLetters(0x14)).toBe('R.');
    expect(tcpFlagLetters(0xff)).toBe('FSRP.UEW');
    expect(tcpFlagLetters(0)).toBe('none');
  });

  it('compresses IPv6 addresses as RFC 5952 says', () => {
    const addr = (...groups: number[]) => Uint8Array.from(groups.flatMap(u16));
    expect(ipv6String(addr(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1), 0)).toBe('2001:db8::1');
    expect(ipv6String(addr(0, 0, 0, 0, 0, 0, 0, 0), 0)).toBe('::');
    expect(ipv6String(addr(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1), 0)).toBe('2001:db8:0:1::1');
    expect(ipv6String(addr(0x2001, 0, 0, 1, 0, 0, 1, 1), 0)).toBe('2001::1:0:0:1:1');
    expect(ipv6String(addr(0x2001, 0xdb8, 0, 1, 1, 1, 1, 1), 0)).toBe('2001:db8:0:1:1:1:1:1');
  });
});
