/**
 * Makes the pcap files under fixtures/pcap/ from real traffic between two namespaces (see
 * fixtures/pcap/README.md). Run as root: `npx node test/integration/observe/make-fixtures.ts [DIR]`.
 * The packets differ on every run (sequence numbers, MACs, times): re-making the fixtures means
 * updating the exact values the unit tests expect.
 */
import { join } from 'node:path';
import { type CaptureSpec, startCapture } from '../../../src/observe/capture.ts';
import { createLab, inNs, tcpExchange, udpSend } from './lab.ts';

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

const lab = await createLab();
try {
  await lab.tcpServer(lab.b.netns, 8080);
  // No filter: the ARP exchange that precedes the first SYN is part of the picture.
  await captureTo('tcp-handshake.pcap', { netns: lab.b.netns, iface: 'eth0' }, () =>
    tcpExchange(lab.a.netns, lab.b.ip, 8080, 40000),
  );
  await captureTo('vxlan-tcp.pcap', { netns: lab.a.netns, iface: 'eth0', filter: 'udp port 4789' }, () =>
    tcpExchange(lab.a.netns, lab.b.vxIp, 8080, 40002),
  );
  await captureTo(
    'udp-port-unreachable-ns.pcap',
    { netns: lab.a.netns, iface: 'eth0', filter: ['udp', 'or', 'icmp'], nanosecond: true },
    () => udpSend(lab.a.netns, lab.b.ip, 9999, 40001, 'ping\n'),
  );
  await captureTo('any-sll2.pcap', { netns: lab.b.netns, iface: 'any', filter: 'icmp' }, () =>
    inNs(lab.a.netns, ['ping', '-c', '1', '-W', '2', lab.b.ip]),
  );
  await captureTo(
    'any-sll.pcap',
    { netns: lab.b.netns, iface: 'any', filter: 'icmp', linkType: 'LINUX_SLL' },
    () => inNs(lab.a.netns, ['ping', '-c', '1', '-W', '2', lab.b.ip]),
  );
} finally {
  await lab.destroy();
}
