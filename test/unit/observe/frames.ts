/**
 * Hand-built frames for the cases real captures rarely show: fragments, IPv6, VLAN tags, bad
 * headers. Checksums are left zero: the decoder does not verify them.
 */

/** Bytes from a list of numbers and byte arrays. */
export function bytes(...parts: Array<number | number[] | Uint8Array>): Uint8Array {
  const flat: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') flat.push(p);
    else flat.push(...p);
  }
  return Uint8Array.from(flat);
}

/** A 16-bit big-endian value. */
export function u16(n: number): number[] {
  return [(n >> 8) & 0xff, n & 0xff];
}

/** A 32-bit big-endian value. */
export function u32(n: number): number[] {
  return [(n >>> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff];
}

/** An Ethernet frame from 02:00:00:00:00:01 to 02:00:00:00:00:02. */
export function ether(type: number, payload: Uint8Array): Uint8Array {
  return bytes([2, 0, 0, 0, 0, 2], [2, 0, 0, 0, 0, 1], u16(type), payload);
}

/** An IPv4 packet (20-byte header). */
export function ipv4(init: {
  protocol: number;
  src: number[];
  dst: number[];
  payload: Uint8Array;
  id?: number;
  fragment?: number;
  ttl?: number;
  totalLength?: number;
  ihlWords?: number;
}): Uint8Array {
  return bytes(
    0x40 | (init.ihlWords ?? 5),
    0,
    u16(init.totalLength ?? 20 + init.payload.byteLength),
    u16(init.id ?? 1),
    u16(init.fragment ?? 0),
    init.ttl ?? 64,
    init.protocol,
    0,
    0,
    init.src,
    init.dst,
    init.payload,
  );
}

/** An IPv6 packet with no extension headers unless `next` says otherwise. */
export function ipv6(init: {
  next: number;
  src: number[];
  dst: number[];
  payload: Uint8Array;
  hopLimit?: number;
}) {
  return bytes(
    0x60,
    0,
    0,
    0,
    u16(init.payload.byteLength),
    init.next,
    init.hopLimit ?? 64,
    init.src,
    init.dst,
    init.payload,
  );
}

/** A TCP header (no options) and payload. */
export function tcp(init: {
  sport: number;
  dport: number;
  seq?: number;
  ack?: number;
  flags: number;
  payload?: number[];
}) {
  return bytes(
    u16(init.sport),
    u16(init.dport),
    u32(init.seq ?? 1000),
    u32(init.ack ?? 0),
    0x50,
    init.flags,
    u16(512),
    0,
    0,
    0,
    0,
    init.payload ?? [],
  );
}

/** A UDP header and payload. */
export function udp(sport: number, dport: number, payload: Uint8Array | number[]): Uint8Array {
  const body = Uint8Array.from(payload);
  return bytes(u16(sport), u16(dport), u16(8 + body.byteLength), 0, 0, body);
}

/** fe80::1-style address: the given last byte, everything else zero except the first group. */
export function v6(first: number, last: number): number[] {
  return [...u16(first), ...new Array(13).fill(0), last];
}
