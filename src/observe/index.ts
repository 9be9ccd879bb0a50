/**
 * Packet-level evidence: tcpdump captures in nodes, pods and clients, decoded into typed
 * packets, summarised the way tcpdump prints them, and queried by suites.
 */
export {
  type Capture,
  type CapturedRun,
  CaptureError,
  type CaptureSpec,
  type CaptureStats,
  parseTcpdumpStats,
  startCapture,
  tcpdumpArgv,
  type WithCapturesOptions,
  withCaptures,
} from './capture.ts';
export {
  type DecodeOptions,
  decodePcap,
  decodeRecord,
  ETHERTYPE,
  IPPROTO,
  ipv4String,
  ipv6String,
  macString,
  tcpFlagLetters,
  VXLAN_PORT,
} from './decode.ts';
export {
  LINKTYPE,
  type PacketTime,
  type PcapFile,
  PcapFormatError,
  type PcapHeader,
  type PcapRecord,
  readPcap,
  writePcap,
} from './pcap.ts';
export {
  countPackets,
  type Endpoint,
  type Flow,
  filterPackets,
  firstPacket,
  flowPackets,
  icmpErrorsFor,
  type Layer,
  layersOf,
  matches,
  mergeByTime,
  type PacketMatch,
  replyPackets,
  requestPackets,
} from './query.ts';
export { body, describePackets, formatTime, type SummaryOptions, summarize } from './summary.ts';
export { compareTime, elapsedMicros, toDate } from './time.ts';
export type {
  ArpInfo,
  IcmpInfo,
  IcmpQuote,
  IpHeader,
  Packet,
  PacketDirection,
  PacketProto,
  VxlanInfo,
} from './types.ts';
