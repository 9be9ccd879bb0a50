/**
 * Makes the pcap files under fixtures/pcap/ from real traffic between the two nodes of an overlay
 * lab (see fixtures/pcap/README.md). Run as root:
 * `npx node test/integration/observe/make-fixtures.ts [DIR]`. The packets differ on every run
 * (sequence numbers, MACs, times): re-making the fixtures means updating the exact values the unit
 * tests expect.
 */
import { join } from 'node:path';
import { type CaptureSpec, startCapture } from '../../../src/observe/capture.ts';
import { ECHO_PORT, startOverlayLab, tcpExchange, udpSend } from './overlay-lab.ts';

// A directory given as the first argument takes the place of fixtures/pcap/ (to look before replacing).
const OUT = process.argv[2] ?? join(import.meta.dirname, '../../../fixtures/pcap');

async function captureTo(name: string, spec: CaptureSpec, traffic: () => Promise<unknown>): Promise<void> {
  // tcpdump's own default snap length, so the files' headers are what a plain `tcpdump -w` writes.
  const cap = await startCapture({ snaplen: 262144, ...spec });
  try {
    await traffic();
  } finally {
    const packets = await cap.stopAndKeep(join(OUT, name));
    console.log(`${name}: ${packets.length} packets`);
  }
}

await using lab = await startOverlayLab();
const { a, b } = lab;
// No filter: the ARP exchange that precedes the first SYN is part of the picture.
await captureTo('tcp-handshake.pcap', { place: b.place, iface: 'eth0' }, () =>
  tcpExchange(a, b.ip, ECHO_PORT, 40000),
);
await captureTo('vxlan-tcp.pcap', { place: a.place, iface: 'eth0', filter: 'udp port 4789' }, () =>
  tcpExchange(a, b.vxIp, ECHO_PORT, 40002),
);
await captureTo(
  'udp-port-unreachable-ns.pcap',
  { place: a.place, iface: 'eth0', filter: ['udp', 'or', 'icmp'], nanosecond: true },
  () => udpSend(a, b.ip, 9999, 40001, 'ping\n'),
);
await captureTo('any-sll2.pcap', { place: b.place, iface: 'any', filter: 'icmp' }, () =>
  a.place.exec(['ping', '-c', '1', '-W', '2', b.ip]),
);
await captureTo('any-sll.pcap', { place: b.place, iface: 'any', filter: 'icmp', linkType: 'LINUX_SLL' }, () =>
  a.place.exec(['ping', '-c', '1', '-W', '2', b.ip]),
);
