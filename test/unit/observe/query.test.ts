import { describe, expect, it } from 'vitest';
import { decodePcap } from '../../../src/observe/decode.ts';
import {
  countPackets,
  type Flow,
  filterPackets,
  firstPacket,
  flowPackets,
  icmpErrorsFor,
  layersOf,
  matches,
  mergeByTime,
  replyPackets,
  requestPackets,
} from '../../../src/observe/query.ts';
import { pcapFixture } from './fixtures.ts';

const plain = decodePcap(pcapFixture('tcp-handshake'), { label: 'node-b', iface: 'eth0' });
const tunnelled = decodePcap(pcapFixture('vxlan-tcp'), { label: 'node-a', iface: 'eth0' });
const plainFlow: Flow = {
  client: { ip: '172.18.0.2', port: 40000 },
  frontend: { ip: '172.18.0.3', port: 8080 },
};
const innerFlow: Flow = {
  client: { ip: '10.244.0.1', port: 40002 },
  frontend: { ip: '10.244.0.2', port: 8080 },
  proto: 'tcp',
};
const indexes = (ps: { index: number }[]) => ps.map((p) => p.index);

describe('matching packets', () => {
  it('matches TCP flags exactly, at least, or not at all', () => {
    expect(indexes(filterPackets(plain, { flags: 'S' }))).toEqual([2]);
    expect(indexes(filterPackets(plain, { flags: '.S' }))).toEqual([3]);
    expect(indexes(filterPackets(plain, { withFlags: 'S' }))).toEqual([2, 3]);
    expect(indexes(filterPackets(plain, { withFlags: 'F' }))).toEqual([9, 10]);
    expect(indexes(filterPackets(plain, { proto: 'tcp', withoutFlags: '.' }))).toEqual([2]);
    expect(countPackets(plain, { flags: 'R' })).toBe(0);
  });

  it('never matches flags on packets that have none', () => {
    expect(matches(plain[0]!, { proto: 'arp' })).toBe(true);
    expect(matches(plain[0]!, { withoutFlags: 'R' })).toBe(false);
  });

  it('matches addresses, ports, label and interface', () => {
    expect(countPackets(plain, { src: '172.18.0.3', sport: 8080 })).toBe(4);
    expect(countPackets(plain, { host: '172.18.0.2', port: 40000 })).toBe(10);
    expect(countPackets(plain, { label: 'node-b', iface: 'eth0' })).toBe(12);
    expect(countPackets(plain, { label: 'node-a' })).toBe(0);
    expect(firstPacket(plain, { dport: 40000 })?.index).toBe(3);
    expect(firstPacket(plain, { dport: 1 })).toBeUndefined();
  });

  it('looks inside VXLAN unless told to keep to one layer', () => {
    expect(countPackets(tunnelled, { src: '10.244.0.1' })).toBe(7);
    expect(countPackets(tunnelled, { src: '10.244.0.1', layer: 'outer' })).toBe(0);
    expect(countPackets(tunnelled, { src: '10.244.0.1', layer: 'inner' })).toBe(7);
    expect(countPackets(tunnelled, { dport: 4789, layer: 'inner' })).toBe(0);
    expect(countPackets(tunnelled, { dport: 4789, layer: 'outer' })).toBe(12);
    expect(countPackets(plain, { src: '172.18.0.2', layer: 'inner' })).toBe(0);
  });

  it('matches the VNI of the tunnel that carries the packet', () => {
    expect(countPackets(tunnelled, { vni: 7 })).toBe(12);
    expect(countPackets(tunnelled, { vni: 8 })).toBe(0);
    expect(indexes(filterPackets(tunnelled, { vni: 7, flags: 'S' }))).toEqual([2]);
    expect(countPackets(plain, { vni: 7 })).toBe(0);
  });

  it('returns the whole wire packet when an inner packet matched', () => {
    const [syn] = filterPackets(tunnelled, { flags: 'S' });
    expect(syn?.dport).toBe(4789);
    expect(layersOf(syn!).map((l) => [l.depth, l.vni, l.packet.proto])).toEqual([
      [0, undefined, 'udp'],
      [1, 7, 'tcp'],
    ]);
  });
});

describe('flows', () => {
  it('splits a flow into request and reply packets', () => {
    expect(indexes(requestPackets(plain, plainFlow))).toEqual([2, 4, 5, 8, 9, 11]);
    expect(indexes(replyPackets(plain, plainFlow))).toEqual([3, 6, 7, 10]);
    expect(indexes(flowPackets(plain, plainFlow))).toEqual([2, 3, 4, 5, 6, 7, 8, 9, 10, 11]);
  });

  it('finds reply packets inside a tunnel, or only on the wire when asked', () => {
    expect(indexes(replyPackets(tunnelled, innerFlow))).toEqual([3, 6, 7, 10]);
    expect(replyPackets(tunnelled, innerFlow, 'outer')).toEqual([]);
    expect(indexes(replyPackets(tunnelled, innerFlow, 'inner'))).toEqual([3, 6, 7, 10]);
    expect(replyPackets(plain, plainFlow, 'inner')).toEqual([]);
  });

  it('does not take a packet of another flow or protocol for a reply', () => {
    expect(replyPackets(plain, { ...plainFlow, client: { ip: '172.18.0.2', port: 40001 } })).toEqual([]);
    expect(replyPackets(plain, { ...plainFlow, proto: 'udp' })).toEqual([]);
  });

  it('finds the ICMP errors that quote a flow', () => {
    const packets = decodePcap(pcapFixture('udp-port-unreachable-ns'));
    const flow: Flow = {
      client: { ip: '172.18.0.2', port: 40001 },
      frontend: { ip: '172.18.0.3', port: 9999 },
    };
    expect(indexes(icmpErrorsFor(packets, flow))).toEqual([1]);
    expect(icmpErrorsFor(packets, { ...flow, proto: 'udp' })).toHaveLength(1);
    expect(icmpErrorsFor(packets, { ...flow, proto: 'tcp' })).toEqual([]);
    expect(icmpErrorsFor(packets, { ...flow, frontend: { ip: '172.18.0.3', port: 9998 } })).toEqual([]);
  });
});

describe('mergeByTime', () => {
  it('puts packets of several captures in time order', () => {
    const merged = mergeByTime(tunnelled, plain);
    expect(merged).toHaveLength(24);
    expect(merged.slice(0, 12).map((p) => p.label)).toEqual(new Array(12).fill('node-b'));
    const times = merged.map((p) => p.time.sec * 1e9 + p.time.nsec);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it('keeps the given order for packets of the same time', () => {
    const a = { ...plain[0]!, label: 'first' };
    const b = { ...plain[0]!, label: 'second' };
    expect(mergeByTime([a], [b]).map((p) => p.label)).toEqual(['first', 'second']);
  });
});
