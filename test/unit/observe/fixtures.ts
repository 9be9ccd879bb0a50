/**
 * Loads the pcap files of fixtures/pcap/ (how each was made: fixtures/pcap/README.md).
 */
import { readFileSync } from 'node:fs';

/** The names of the fixture files, without `.pcap`. */
export type PcapFixture = 'tcp-handshake' | 'vxlan-tcp' | 'udp-port-unreachable-ns' | 'any-sll2' | 'any-sll';

/** The bytes of one fixture file. */
export function pcapFixture(name: PcapFixture): Uint8Array {
  return readFileSync(new URL(`../../../fixtures/pcap/${name}.pcap`, import.meta.url));
}
