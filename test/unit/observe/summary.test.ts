import { describe, expect, it } from 'vitest';
import { decodePcap, decodeRecord } from '../../../src/observe/decode.ts';
import { LINKTYPE } from '../../../src/observe/pcap.ts';
import { describePackets, formatTime, summarize } from '../../../src/observe/summary.ts';
import type { Packet } from '../../../src/observe/types.ts';
import { pcapFixture } from './fixtures.ts';
import { bytes, ether, ipv4, u16 } from './frames.ts';

// Expected lines are tcpdump 4.99's own (`tcpdump -n -r FILE`, `-S` for the seq variant) with the
// TCP options left out and VXLAN's two lines joined, as our summaries print them.
const HANDSHAKE = [
  '03:53:53.512918 ARP, Request who-has 172.18.0.3 tell 172.18.0.2, length 28',
  '03:53:53.512962 ARP, Reply 172.18.0.3 is-at 7e:74:62:a1:cb:ab, length 28',
  '03:53:53.512971 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [S], seq 807400500, win 64240, length 0',
  '03:53:53.512989 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [S.], seq 800387589, ack 807400501, win 65160, length 0',
  '03:53:53.513009 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [.], ack 800387590, win 63, length 0',
  '03:53:53.515350 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [P.], seq 807400501:807400507, ack 800387590, win 63, length 6',
  '03:53:53.515394 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [.], ack 807400507, win 64, length 0',
  '03:53:53.516186 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [P.], seq 800387590:800387596, ack 807400507, win 64, length 6',
  '03:53:53.516220 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [.], ack 800387596, win 63, length 0',
  '03:53:53.517158 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [F.], seq 807400507, ack 800387596, win 63, length 0',
  '03:53:53.518085 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [F.], seq 800387596, ack 807400508, win 64, length 0',
  '03:53:53.518136 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [.], ack 800387597, win 63, length 0',
];

const VXLAN = [
  '03:53:53.705242 IP 172.18.0.2.33932 > 172.18.0.3.4789: VXLAN vni 7: ARP, Request who-has 10.244.0.2 tell 10.244.0.1, length 28',
  '03:53:53.705372 IP 172.18.0.3.33932 > 172.18.0.2.4789: VXLAN vni 7: ARP, Reply 10.244.0.2 is-at 86:5f:42:18:75:aa, length 28',
  '03:53:53.705396 IP 172.18.0.2.45601 > 172.18.0.3.4789: VXLAN vni 7: IP 10.244.0.1.40002 > 10.244.0.2.8080: Flags [S], seq 1175194174, win 64860, length 0',
  '03:53:53.705416 IP 172.18.0.3.45552 > 172.18.0.2.4789: VXLAN vni 7: IP 10.244.0.2.8080 > 10.244.0.1.40002: Flags [S.], seq 2276674871, ack 1175194175, win 64308, length 0',
];

describe('summaries', () => {
  it('print the TCP exchange as tcpdump -S prints it', () => {
    const lines = decodePcap(pcapFixture('tcp-handshake')).map((p) => summarize(p, { seq: true }));
    expect(lines).toEqual(HANDSHAKE);
  });

  it('print the short form by default, with label and interface first', () => {
    const [, , syn, synAck] = decodePcap(pcapFixture('tcp-handshake'), {
      label: 'dpc-worker',
      iface: 'eth0',
    });
    expect(summarize(syn!)).toBe(
      '03:53:53.512971 dpc-worker eth0 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [S], length 0',
    );
    expect(summarize(synAck!, { noLabel: true })).toBe(
      '03:53:53.512989 eth0 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [S.], length 0',
    );
  });

  it('print VXLAN and what it carries on one line', () => {
    const lines = decodePcap(pcapFixture('vxlan-tcp'))
      .slice(0, 4)
      .map((p) => summarize(p, { seq: true }));
    expect(lines).toEqual(VXLAN);
    expect(summarize(decodePcap(pcapFixture('vxlan-tcp'), { label: 'node-a', iface: 'eth0' })[2]!)).toBe(
      '03:53:53.705396 node-a eth0 IP 172.18.0.2.45601 > 172.18.0.3.4789: VXLAN vni 7: IP 10.244.0.1.40002 > 10.244.0.2.8080: Flags [S], length 0',
    );
  });

  it('print UDP and ICMP port unreachable, with nanoseconds when asked', () => {
    const lines = decodePcap(pcapFixture('udp-port-unreachable-ns')).map((p) =>
      summarize(p, { nanoseconds: true }),
    );
    expect(lines).toEqual([
      '03:53:53.907927451 IP 172.18.0.2.40001 > 172.18.0.3.9999: UDP, length 5',
      '03:53:53.908141289 IP 172.18.0.3 > 172.18.0.2: ICMP 172.18.0.3 udp port 9999 unreachable, length 41',
    ]);
  });

  it('print the direction of -i any captures as tcpdump does', () => {
    const lines = decodePcap(pcapFixture('any-sll2'), { iface: 'any', ifnames: new Map([[2, 'eth0']]) }).map(
      (p) => summarize(p),
    );
    expect(lines).toEqual([
      '03:53:54.045724 eth0 In IP 172.18.0.2 > 172.18.0.3: ICMP echo request, id 31263, seq 1, length 64',
      '03:53:54.045751 eth0 Out IP 172.18.0.3 > 172.18.0.2: ICMP echo reply, id 31263, seq 1, length 64',
    ]);
  });

  it('name ICMP unreachable codes in tcpdump words', () => {
    const unreachable = (code: number) => {
      const quoted = ipv4({
        protocol: 6,
        src: [10, 0, 0, 1],
        dst: [10, 96, 0, 10],
        payload: bytes(u16(5), u16(80), 0, 0, 0, 0),
      });
      const icmp = bytes(3, code, 0, 0, 0, 0, u16(1450), quoted);
      const frame = ether(
        0x0800,
        ipv4({ protocol: 1, src: [172, 18, 0, 2], dst: [10, 0, 0, 1], payload: icmp }),
      );
      const p = decodeRecord(LINKTYPE.EN10MB, {
        index: 0,
        time: { sec: 0, nsec: 0 },
        capturedLength: frame.length,
        originalLength: frame.length,
        data: frame,
      });
      return summarize(p);
    };
    expect(unreachable(1)).toBe(
      '00:00:00.000000 IP 172.18.0.2 > 10.0.0.1: ICMP host 10.96.0.10 unreachable, length 36',
    );
    expect(unreachable(3)).toBe(
      '00:00:00.000000 IP 172.18.0.2 > 10.0.0.1: ICMP 10.96.0.10 tcp port 80 unreachable, length 36',
    );
    expect(unreachable(4)).toBe(
      '00:00:00.000000 IP 172.18.0.2 > 10.0.0.1: ICMP 10.96.0.10 unreachable - need to frag (mtu 1450), length 36',
    );
    expect(unreachable(13)).toBe(
      '00:00:00.000000 IP 172.18.0.2 > 10.0.0.1: ICMP host 10.96.0.10 unreachable - admin prohibited filter, length 36',
    );
  });

  it('say when a packet was cut short', () => {
    const [, , syn] = decodePcap(pcapFixture('tcp-handshake'));
    expect(summarize({ ...syn!, flags: undefined, truncated: true } as Packet)).toBe(
      '03:53:53.512971 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [?], length 0 [|tcp]',
    );
  });
});

describe('formatTime', () => {
  it('prints UTC by default, with the date when asked', () => {
    expect(formatTime({ sec: 1795319633, nsec: 512971000 })).toBe('03:53:53.512971');
    expect(formatTime({ sec: 1795319633, nsec: 5 }, { nanoseconds: true, date: true })).toBe(
      '2026-11-22 03:53:53.000000005',
    );
  });
});

describe('describePackets', () => {
  const packets = decodePcap(pcapFixture('tcp-handshake'), { label: 'node-b', iface: 'eth0' });

  it('quotes at most max packets and says how many more there were', () => {
    expect(describePackets(packets.slice(2), 2)).toBe(
      [
        '  03:53:53.512971 node-b eth0 IP 172.18.0.2.40000 > 172.18.0.3.8080: Flags [S], length 0',
        '  03:53:53.512989 node-b eth0 IP 172.18.0.3.8080 > 172.18.0.2.40000: Flags [S.], length 0',
        '  ... and 8 more',
      ].join('\n'),
    );
  });

  it('quotes exactly max packets when there are max, and says one more when there is one', () => {
    expect(describePackets(packets.slice(0, 3), 3).split('\n')).toHaveLength(3);
    expect(describePackets(packets.slice(0, 4), 3).split('\n').at(-1)).toBe('  ... and 1 more');
  });

  it('quotes all of them when they fit, and says so when there are none', () => {
    expect(describePackets(packets.slice(0, 1))).toBe(
      '  03:53:53.512918 node-b eth0 ARP, Request who-has 172.18.0.3 tell 172.18.0.2, length 28',
    );
    expect(describePackets([])).toBe('  (no packets)');
  });
});
