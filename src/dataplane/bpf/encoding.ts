/**
 * Map keys and values to and from the bytes the kernel holds, and the hex words `bpftool`
 * reads and prints. Addresses and ports are network byte order; counters, ids, ordinals,
 * prefix lengths and timestamps are host byte order (this module writes little-endian, which is
 * what x86-64 and arm64 run; `HOST_LITTLE_ENDIAN` says so and the loader checks it).
 */
import { endianness } from 'node:os';
import type { Protocol } from '../../k8s/model.ts';
import {
  CT_TYPE,
  HOOK,
  type HookName,
  POLICY_ANY_PROTO,
  POLICY_DIR,
  POLICY_ISOLATED,
  POLICY_PORTS,
  REASONS,
  type Reason,
  ROUTE_TYPE,
  type RouteTypeName,
  SIZE,
} from './layout.ts';

/** True when this machine stores integers little-endian, as the encodings here assume. */
export const HOST_LITTLE_ENDIAN = endianness() === 'LE';

/** IP protocol numbers. */
export const IPPROTO: Readonly<Record<Protocol, number>> = { TCP: 6, UDP: 17 };

/** NAT frontend key. `addr` 0.0.0.0 is a NodePort: it answers on the node's own addresses. */
export interface FrontendKey {
  addr: string;
  port: number;
  proto: Protocol;
}

/** NAT frontend value. */
export interface FrontendValue {
  svcId: number;
  count: number;
  flags: number;
  /** The Service's ClientIP affinity timeout in seconds; 0 or absent leaves it to the config's default. */
  affinityS?: number;
}

/** NAT backend key. */
export interface BackendKey {
  svcId: number;
  ordinal: number;
}

/** NAT backend value. */
export interface BackendValue {
  addr: string;
  port: number;
  nodeIp: string;
}

/** Conntrack key: the packet's own tuple. */
export interface CtKey {
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  proto: Protocol;
}

/** Conntrack value. */
export interface CtValue {
  lastSeenNs: bigint;
  type: 'fwd' | 'rev';
  flags: number;
  natIp: string;
  natPort: number;
  tunIp: string;
  ordinal: number;
  /** FWD entries: the service id (backend set) the flow was balanced in. */
  svcId: number;
  /** SNAT flag: FWD, the source the flow gets; REV, the client's own address and port. */
  snatIp?: string;
  snatPort?: number;
}

/** Routes map key (an IPv4 CIDR). */
export interface RouteKey {
  cidr: string;
}

/** Routes map value. */
export interface RouteValue {
  type: RouteTypeName;
  ifindex: number;
  nodeIp: string;
}

/** Counter key. */
export interface CounterKey {
  ifindex: number;
  hook: HookName;
  reason: Reason;
}

/** The per-node configuration record. */
export interface NodeConfig {
  nodeIp: string;
  vxIfindex: number;
  flags: number;
  tcpTimeoutS: number;
  udpTimeoutS: number;
  affinityTimeoutS: number;
  /** The largest IP packet the tunnel carries whole; bigger ones get ICMP (0: no check). */
  tunnelMtu?: number;
  /** bpfPSNATPorts, inclusive. */
  psnatLo?: number;
  psnatHi?: number;
  /** bpfLogLevel as the programs read it (LOG_LEVEL). */
  logLevel?: number;
}

/** Parses a dotted quad, throwing on anything else. */
export function ipv4Bytes(ip: string): Uint8Array {
  const parts = ip.split('.');
  if (parts.length !== 4) throw new Error(`not an IPv4 address: ${ip}`);
  const out = new Uint8Array(4);
  parts.forEach((p, i) => {
    const n = Number(p);
    if (!/^\d{1,3}$/.test(p) || n > 255) throw new Error(`not an IPv4 address: ${ip}`);
    out[i] = n;
  });
  return out;
}

/** Formats 4 network-order bytes at `off` as a dotted quad. */
export function ipv4String(bytes: Uint8Array, off = 0): string {
  return `${bytes[off]}.${bytes[off + 1]}.${bytes[off + 2]}.${bytes[off + 3]}`;
}

function proto(p: Protocol): number {
  return IPPROTO[p];
}

function protoName(n: number): Protocol {
  if (n === 6) return 'TCP';
  if (n === 17) return 'UDP';
  throw new Error(`unknown IP protocol ${n}`);
}

function view(size: number): [Uint8Array, DataView] {
  const bytes = new Uint8Array(size);
  return [bytes, new DataView(bytes.buffer)];
}

function dv(bytes: Uint8Array, size: number, what: string): DataView {
  if (bytes.length !== size) throw new Error(`${what}: expected ${size} bytes, got ${bytes.length}`);
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function checkPort(port: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`bad port ${port}`);
  return port;
}

/** Encodes a NAT frontend key. */
export function encodeFrontendKey(k: FrontendKey): Uint8Array {
  const [b, d] = view(SIZE.feKey);
  b.set(ipv4Bytes(k.addr), 0);
  d.setUint16(4, checkPort(k.port), false);
  d.setUint8(6, proto(k.proto));
  return b;
}

/** Decodes a NAT frontend key. */
export function decodeFrontendKey(b: Uint8Array): FrontendKey {
  const d = dv(b, SIZE.feKey, 'frontend key');
  return { addr: ipv4String(b, 0), port: d.getUint16(4, false), proto: protoName(d.getUint8(6)) };
}

/** Encodes a NAT frontend value. */
export function encodeFrontendValue(v: FrontendValue): Uint8Array {
  const [b, d] = view(SIZE.feVal);
  d.setUint32(0, v.svcId, true);
  d.setUint16(4, v.count, true);
  d.setUint16(6, v.flags, true);
  d.setUint32(8, v.affinityS ?? 0, true);
  return b;
}

/** Decodes a NAT frontend value. */
export function decodeFrontendValue(b: Uint8Array): FrontendValue {
  const d = dv(b, SIZE.feVal, 'frontend value');
  return {
    svcId: d.getUint32(0, true),
    count: d.getUint16(4, true),
    flags: d.getUint16(6, true),
    affinityS: d.getUint32(8, true),
  };
}

/** Encodes a NAT backend key. */
export function encodeBackendKey(k: BackendKey): Uint8Array {
  const [b, d] = view(SIZE.beKey);
  d.setUint32(0, k.svcId, true);
  d.setUint32(4, k.ordinal, true);
  return b;
}

/** Decodes a NAT backend key. */
export function decodeBackendKey(b: Uint8Array): BackendKey {
  const d = dv(b, SIZE.beKey, 'backend key');
  return { svcId: d.getUint32(0, true), ordinal: d.getUint32(4, true) };
}

/** Encodes a NAT backend value. */
export function encodeBackendValue(v: BackendValue): Uint8Array {
  const [b, d] = view(SIZE.beVal);
  b.set(ipv4Bytes(v.addr), 0);
  d.setUint16(4, checkPort(v.port), false);
  b.set(ipv4Bytes(v.nodeIp), 8);
  return b;
}

/** Decodes a NAT backend value. */
export function decodeBackendValue(b: Uint8Array): BackendValue {
  const d = dv(b, SIZE.beVal, 'backend value');
  return { addr: ipv4String(b, 0), port: d.getUint16(4, false), nodeIp: ipv4String(b, 8) };
}

/** Encodes a conntrack key. */
/** A `dpc_nat_aff` key: the service id (backend set) and the client address. */
export interface AffinityKey {
  svcId: number;
  client: string;
}
/** A `dpc_nat_aff` value: the backend ordinal the client sticks to and when it was last used. */
export interface AffinityValue {
  lastSeenNs: bigint;
  ordinal: number;
}
export function decodeAffinityKey(b: Uint8Array): AffinityKey {
  const d = dv(b, SIZE.affKey, 'affinity key');
  return { svcId: d.getUint32(0, true), client: ipv4String(b, 4) };
}
export function decodeAffinityValue(b: Uint8Array): AffinityValue {
  const d = dv(b, SIZE.affVal, 'affinity value');
  return { lastSeenNs: d.getBigUint64(0, true), ordinal: d.getUint32(8, true) };
}
export function encodeCtKey(k: CtKey): Uint8Array {
  const [b, d] = view(SIZE.ctKey);
  b.set(ipv4Bytes(k.saddr), 0);
  b.set(ipv4Bytes(k.daddr), 4);
  d.setUint16(8, checkPort(k.sport), false);
  d.setUint16(10, checkPort(k.dport), false);
  d.setUint8(12, proto(k.proto));
  return b;
}

/** Decodes a conntrack key. */
export function decodeCtKey(b: Uint8Array): CtKey {
  const d = dv(b, SIZE.ctKey, 'conntrack key');
  return {
    saddr: ipv4String(b, 0),
    daddr: ipv4String(b, 4),
    sport: d.getUint16(8, false),
    dport: d.getUint16(10, false),
    proto: protoName(d.getUint8(12)),
  };
}

/** Encodes a conntrack value. */
export function encodeCtValue(v: CtValue): Uint8Array {
  const [b, d] = view(SIZE.ctVal);
  d.setBigUint64(0, v.lastSeenNs, true);
  d.setUint8(8, CT_TYPE[v.type]);
  d.setUint8(9, v.flags);
  b.set(ipv4Bytes(v.natIp), 12);
  d.setUint16(16, checkPort(v.natPort), false);
  b.set(ipv4Bytes(v.tunIp), 20);
  d.setUint32(24, v.ordinal, true);
  d.setUint32(28, v.svcId, true);
  b.set(ipv4Bytes(v.snatIp ?? '0.0.0.0'), 32);
  d.setUint16(36, checkPort(v.snatPort ?? 0), false);
  return b;
}

/** Decodes a conntrack value. */
export function decodeCtValue(b: Uint8Array): CtValue {
  const d = dv(b, SIZE.ctVal, 'conntrack value');
  const t = d.getUint8(8);
  if (t !== CT_TYPE.fwd && t !== CT_TYPE.rev) throw new Error(`unknown conntrack type ${t}`);
  return {
    lastSeenNs: d.getBigUint64(0, true),
    type: t === CT_TYPE.fwd ? 'fwd' : 'rev',
    flags: d.getUint8(9),
    natIp: ipv4String(b, 12),
    natPort: d.getUint16(16, false),
    tunIp: ipv4String(b, 20),
    ordinal: d.getUint32(24, true),
    svcId: d.getUint32(28, true),
    snatIp: ipv4String(b, 32),
    snatPort: d.getUint16(36, false),
  };
}

/** Splits `a.b.c.d/len` (a bare address is /32), masking host bits. */
export function parseCidr(cidr: string): { addr: string; prefixLen: number } {
  const [ip, len] = cidr.split('/');
  const prefixLen = len === undefined ? 32 : Number(len);
  if (
    !Number.isInteger(prefixLen) ||
    prefixLen < 0 ||
    prefixLen > 32 ||
    (len !== undefined && !/^\d+$/.test(len))
  )
    throw new Error(`bad CIDR ${cidr}`);
  const bytes = ipv4Bytes(ip ?? '');
  const n = new DataView(bytes.buffer).getUint32(0, false);
  const mask = prefixLen === 0 ? 0 : (0xffffffff << (32 - prefixLen)) >>> 0;
  new DataView(bytes.buffer).setUint32(0, (n & mask) >>> 0, false);
  return { addr: ipv4String(bytes), prefixLen };
}

/** Encodes a routes map key (LPM trie: host-order prefix length, then the address). */
export function encodeRouteKey(k: RouteKey): Uint8Array {
  const { addr, prefixLen } = parseCidr(k.cidr);
  const [b, d] = view(SIZE.routeKey);
  d.setUint32(0, prefixLen, true);
  b.set(ipv4Bytes(addr), 4);
  return b;
}

/** Decodes a routes map key. */
export function decodeRouteKey(b: Uint8Array): RouteKey {
  const d = dv(b, SIZE.routeKey, 'route key');
  return { cidr: `${ipv4String(b, 4)}/${d.getUint32(0, true)}` };
}

/** Encodes a `dpc_dsr_optout` key: the same LPM layout as a route key. */
export function encodeDsrOptoutKey(cidr: string): Uint8Array {
  return encodeRouteKey({ cidr });
}

/** Decodes a `dpc_dsr_optout` key to its CIDR. */
export function decodeDsrOptoutKey(b: Uint8Array): string {
  const d = dv(b, SIZE.dsrOptoutKey, 'dsr optout key');
  return `${ipv4String(b, 4)}/${d.getUint32(0, true)}`;
}

/** Encodes a routes map value. */
export function encodeRouteValue(v: RouteValue): Uint8Array {
  const [b, d] = view(SIZE.routeVal);
  d.setUint32(0, ROUTE_TYPE[v.type], true);
  d.setUint32(4, v.ifindex, true);
  b.set(ipv4Bytes(v.nodeIp), 8);
  return b;
}

/** Decodes a routes map value. */
export function decodeRouteValue(b: Uint8Array): RouteValue {
  const d = dv(b, SIZE.routeVal, 'route value');
  const code = d.getUint32(0, true);
  const type = (Object.keys(ROUTE_TYPE) as RouteTypeName[]).find((k) => ROUTE_TYPE[k] === code);
  if (!type) throw new Error(`unknown route type ${code}`);
  return { type, ifindex: d.getUint32(4, true), nodeIp: ipv4String(b, 8) };
}

/** Encodes a counter key. */
export function encodeCounterKey(k: CounterKey): Uint8Array {
  const [b, d] = view(SIZE.counterKey);
  const reason = REASONS.indexOf(k.reason);
  if (reason < 0) throw new Error(`unknown reason ${k.reason}`);
  d.setUint32(0, k.ifindex, true);
  d.setUint8(4, HOOK[k.hook]);
  d.setUint8(5, reason);
  return b;
}

/** Decodes a counter key; an unknown reason code is reported as `reason <n>`. */
export function decodeCounterKey(b: Uint8Array): { ifindex: number; hook: HookName; reason: string } {
  const d = dv(b, SIZE.counterKey, 'counter key');
  const code = d.getUint8(5);
  return {
    ifindex: d.getUint32(0, true),
    hook: d.getUint8(4) === HOOK.egress ? 'egress' : 'ingress',
    reason: REASONS[code] ?? `reason ${code}`,
  };
}

/** Decodes a counter value (a host-order u64). */
export function decodeCounterValue(b: Uint8Array): bigint {
  return dv(b, SIZE.counterVal, 'counter value').getBigUint64(0, true);
}

/** Encodes the node configuration record. */
export function encodeConfig(c: NodeConfig): Uint8Array {
  const [b, d] = view(SIZE.cfg);
  b.set(ipv4Bytes(c.nodeIp), 0);
  d.setUint32(4, c.vxIfindex, true);
  d.setUint32(8, c.flags, true);
  d.setUint32(12, c.tcpTimeoutS, true);
  d.setUint32(16, c.udpTimeoutS, true);
  d.setUint32(20, c.affinityTimeoutS, true);
  d.setUint32(24, c.tunnelMtu ?? 0, true);
  d.setUint16(28, c.psnatLo ?? 0, true);
  d.setUint16(30, c.psnatHi ?? 0, true);
  d.setUint32(32, c.logLevel ?? 0, true);
  return b;
}

/** Decodes the node configuration record. */
export function decodeConfig(b: Uint8Array): NodeConfig {
  const d = dv(b, SIZE.cfg, 'config');
  return {
    nodeIp: ipv4String(b, 0),
    vxIfindex: d.getUint32(4, true),
    flags: d.getUint32(8, true),
    tcpTimeoutS: d.getUint32(12, true),
    udpTimeoutS: d.getUint32(16, true),
    affinityTimeoutS: d.getUint32(20, true),
    tunnelMtu: d.getUint32(24, true),
    psnatLo: d.getUint16(28, true),
    psnatHi: d.getUint16(30, true),
    logLevel: d.getUint32(32, true),
  };
}

/** One record of the programs' log (`cali_log`, bpfLogLevel). */
export interface LogRecord {
  /** CLOCK_MONOTONIC nanoseconds, as the programs stamp it. */
  ts: bigint;
  /** Per-CPU sequence number; 0 is an empty slot. */
  seq: number;
  ifindex: number;
  saddr: string;
  daddr: string;
  sport: number;
  dport: number;
  /** IP protocol number. */
  proto: number;
  hook: HookName;
  /** Event code (LOG_EVENTS). */
  event: number;
  /** Drop reason, for drops. */
  reason: string;
  /** tc verdict the program returned. */
  verdict: number;
  /** The backend a new flow was given. */
  natIp: string;
  natPort: number;
}

/** Decodes a log record. */
export function decodeLogRecord(b: Uint8Array): LogRecord {
  const d = dv(b, SIZE.logRec, 'log record');
  const reason = d.getUint8(31);
  return {
    ts: d.getBigUint64(0, true),
    seq: d.getUint32(8, true),
    ifindex: d.getUint32(12, true),
    saddr: ipv4String(b, 16),
    daddr: ipv4String(b, 20),
    sport: d.getUint16(24, false),
    dport: d.getUint16(26, false),
    proto: d.getUint8(28),
    hook: d.getUint8(29) === HOOK.egress ? 'egress' : 'ingress',
    event: d.getUint8(30),
    reason: REASONS[reason] ?? `reason ${reason}`,
    verdict: d.getInt32(32, true),
    natIp: ipv4String(b, 36),
    natPort: d.getUint16(40, false),
  };
}

/** Isolation of one workload veth (`dpc_pol_ep` value). */
export interface PolicyEndpoint {
  ingress: boolean;
  egress: boolean;
}

/** A `dpc_pol_rules` key: the pod's veth, the direction, the peer prefix. */
export interface PolicyRuleKey {
  ifindex: number;
  direction: 'ingress' | 'egress';
  cidr: string;
}

/** One admitted destination port range; protocol `any` admits every protocol and port. */
export interface PolicyPortRange {
  protocol: Protocol | 'any';
  lo: number;
  hi: number;
}

/** Encodes a `dpc_pol_ep` value. */
export function encodePolicyEndpoint(e: PolicyEndpoint): Uint8Array {
  const [b, d] = view(SIZE.policyEndpointVal);
  d.setUint32(0, (e.ingress ? POLICY_ISOLATED.ingress : 0) | (e.egress ? POLICY_ISOLATED.egress : 0), true);
  return b;
}

/** Decodes a `dpc_pol_ep` value. */
export function decodePolicyEndpoint(b: Uint8Array): PolicyEndpoint {
  const flags = dv(b, SIZE.policyEndpointVal, 'policy endpoint').getUint32(0, true);
  return { ingress: (flags & POLICY_ISOLATED.ingress) !== 0, egress: (flags & POLICY_ISOLATED.egress) !== 0 };
}

/** Encodes a `dpc_pol_rules` key: prefix length 64 (ifindex, direction) + the CIDR's. */
export function encodePolicyRuleKey(k: PolicyRuleKey): Uint8Array {
  const { addr, prefixLen } = parseCidr(k.cidr);
  const [b, d] = view(SIZE.policyKey);
  d.setUint32(0, 64 + prefixLen, true);
  d.setUint32(4, k.ifindex, true);
  d.setUint32(8, POLICY_DIR[k.direction], true);
  b.set(ipv4Bytes(addr), 12);
  return b;
}

/** Decodes a `dpc_pol_rules` key. */
export function decodePolicyRuleKey(b: Uint8Array): PolicyRuleKey {
  const d = dv(b, SIZE.policyKey, 'policy key');
  return {
    ifindex: d.getUint32(4, true),
    direction: d.getUint32(8, true) === POLICY_DIR.egress ? 'egress' : 'ingress',
    cidr: `${ipv4String(b, 12)}/${d.getUint32(0, true) - 64}`,
  };
}

/** Encodes a `dpc_pol_rules` value; more than POLICY_PORTS ranges is an error. */
export function encodePolicyRuleValue(ranges: readonly PolicyPortRange[]): Uint8Array {
  if (ranges.length > POLICY_PORTS) throw new Error(`${ranges.length} port ranges; at most ${POLICY_PORTS}`);
  const [b, d] = view(SIZE.policyVal);
  d.setUint32(0, ranges.length, true);
  ranges.forEach((r, i) => {
    const off = 8 + i * SIZE.policyPort;
    d.setUint16(off, checkPort(r.lo), true);
    d.setUint16(off + 2, checkPort(r.hi), true);
    d.setUint8(off + 4, r.protocol === 'any' ? POLICY_ANY_PROTO : proto(r.protocol));
  });
  return b;
}

/** Decodes a `dpc_pol_rules` value. */
export function decodePolicyRuleValue(b: Uint8Array): PolicyPortRange[] {
  const d = dv(b, SIZE.policyVal, 'policy value');
  const n = Math.min(d.getUint32(0, true), POLICY_PORTS);
  return Array.from({ length: n }, (_, i) => {
    const off = 8 + i * SIZE.policyPort;
    const code = d.getUint8(off + 4);
    return {
      protocol: code === POLICY_ANY_PROTO ? 'any' : protoName(code),
      lo: d.getUint16(off, true),
      hi: d.getUint16(off + 2, true),
    };
  });
}

/** Encodes a host-order u32 (array map keys). */
export function encodeU32(n: number): Uint8Array {
  const [b, d] = view(4);
  d.setUint32(0, n, true);
  return b;
}

/** Bytes as bpftool reads them after `hex`: two lowercase digits per byte, space separated. */
export function toHexWords(bytes: Uint8Array): string {
  // Hot at scale (every key of every sync): a table beats toString/padStart/join by ~10x.
  let out = '';
  for (let i = 0; i < bytes.length; i++) out += i === 0 ? HEX[bytes[i]!] : ` ${HEX[bytes[i]!]}`;
  return out;
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Bytes from bpftool's JSON (`["0x0a", ...]`) or from hex words (`0a 00 ...`). */
export function fromHexWords(words: readonly string[] | string): Uint8Array {
  const list = typeof words === 'string' ? words.trim().split(/\s+/).filter(Boolean) : words;
  return Uint8Array.from(list, (w) => {
    const n = Number.parseInt(w.replace(/^0x/i, ''), 16);
    if (!/^(0x)?[0-9a-f]{1,2}$/i.test(w) || Number.isNaN(n)) throw new Error(`not a hex byte: ${w}`);
    return n;
  });
}
