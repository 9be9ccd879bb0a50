import { describe, expect, it } from 'vitest';
import { planDsrOptout } from '../../../src/dataplane/bpf/dsr-optout.ts';
import { decodeDsrOptoutKey, encodeDsrOptoutKey, toHexWords } from '../../../src/dataplane/bpf/encoding.ts';

const cidrsOf = (cidrs: string[], limit?: number) =>
  [...planDsrOptout(cidrs, limit).entries.values()].map((e) => decodeDsrOptoutKey(e.key));

describe('cali_v4_dsr_opt keys', () => {
  it('DSRO-U-001 encode an LPM key (host-order prefix length, network-order address) and back', () => {
    expect(toHexWords(encodeDsrOptoutKey('172.18.1.0/24'))).toBe('18 00 00 00 ac 12 01 00');
    expect(decodeDsrOptoutKey(encodeDsrOptoutKey('172.18.1.10/32'))).toBe('172.18.1.10/32');
    expect(decodeDsrOptoutKey(encodeDsrOptoutKey('0.0.0.0/0'))).toBe('0.0.0.0/0');
    expect(() => decodeDsrOptoutKey(new Uint8Array(4))).toThrow('expected 8 bytes');
  });
});

describe('planDsrOptout', () => {
  it('DSRO-U-002 one entry per CIDR, value 1, host bits masked, duplicates collapsed', () => {
    const plan = planDsrOptout(['10.0.0.0/8', '172.18.1.10/32', '10.1.2.3/8', '172.18.1.10/32']);
    expect(plan.errors).toEqual([]);
    expect([...plan.entries.values()].map((e) => decodeDsrOptoutKey(e.key))).toEqual([
      '10.0.0.0/8',
      '172.18.1.10/32',
    ]);
    for (const e of plan.entries.values()) expect(toHexWords(e.value)).toBe('01 00 00 00');
  });

  it('DSRO-U-003 an empty list plans an empty map', () => {
    expect(planDsrOptout([])).toEqual({ entries: new Map(), errors: [] });
  });

  it('DSRO-U-004 beyond the map size the rest is refused and named, never dropped silently', () => {
    const plan = planDsrOptout(
      ['10.0.0.0/24', '10.0.1.0/24', '10.0.0.0/24', '10.0.2.0/24', '10.0.3.0/24'],
      2,
    );
    expect([...plan.entries.values()].map((e) => decodeDsrOptoutKey(e.key))).toEqual([
      '10.0.0.0/24',
      '10.0.1.0/24',
    ]);
    expect(plan.errors).toEqual([
      'bpfDSROptoutCIDRs: cali_v4_dsr_opt holds 2 entries; not programmed (these clients get DSR): 10.0.2.0/24, 10.0.3.0/24',
    ]);
  });

  it('DSRO-U-005 a malformed CIDR is reported and skipped, the rest still programmed', () => {
    const plan = planDsrOptout(['10.0.0.0/33', '192.168.0.0/16']);
    expect(plan.errors).toEqual(['bpfDSROptoutCIDRs: bad CIDR 10.0.0.0/33; ignored']);
    expect(cidrsOf(['10.0.0.0/33', '192.168.0.0/16'])).toEqual(['192.168.0.0/16']);
  });

  it('DSRO-U-006 the default limit is the map size', () => {
    const many = Array.from({ length: 1025 }, (_, i) => `10.${i >> 8}.${i & 255}.0/24`);
    const plan = planDsrOptout(many);
    expect(plan.entries.size).toBe(1024);
    expect(plan.errors).toHaveLength(1);
    expect(plan.errors[0]).toContain('10.4.0.0/24');
  });
});
