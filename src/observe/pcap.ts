/**
 * Reader for classic libpcap files, the format `tcpdump -w` writes: either byte order,
 * microsecond or nanosecond timestamps. Pure: bytes in, records out.
 */

/** Link types this project meets (the LINKTYPE_* values of the pcap file header). */
export const LINKTYPE = {
  /** Ethernet, what tcpdump records on a veth, bridge or VXLAN device. */
  EN10MB: 1,
  /** Bare IPv4/IPv6 packets, no link header. */
  RAW: 101,
  /** Linux "cooked" v1, `tcpdump -i any -y LINUX_SLL`. */
  LINUX_SLL: 113,
  /** Linux "cooked" v2, the default of `tcpdump -i any` since tcpdump 4.99. */
  LINUX_SLL2: 276,
} as const;

/** A capture time, exact: seconds since the Unix epoch and nanoseconds within that second. */
export interface PacketTime {
  sec: number;
  nsec: number;
}

/** The global header of a pcap file. */
export interface PcapHeader {
  byteOrder: 'little' | 'big';
  /** True for the nanosecond magic (0xa1b23c4d), false for microseconds. */
  nanosecond: boolean;
  versionMajor: number;
  versionMinor: number;
  snaplen: number;
  /** LINKTYPE_* value, with the FCS bits of the field masked off. */
  linkType: number;
}

/** One captured frame as the file has it. */
export interface PcapRecord {
  /** Position of the record in the file, from 0. */
  index: number;
  time: PacketTime;
  /** Bytes saved (at most the snap length). */
  capturedLength: number;
  /** Bytes the frame had on the wire. */
  originalLength: number;
  data: Uint8Array;
}

/** A whole pcap file read. */
export interface PcapFile {
  header: PcapHeader;
  records: PcapRecord[];
  /**
   * Bytes after the last whole record. A file cut short (a writer killed mid-record) keeps the
   * records before the cut and says here what was lost.
   */
  trailingBytes: number;
}

/** The input is not a pcap file this reader understands. */
export class PcapFormatError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PcapFormatError';
  }
}

const MAGIC_US = 0xa1b2c3d4;
const MAGIC_NS = 0xa1b23c4d;
const MAGIC_PCAPNG = 0x0a0d0d0a;
const GLOBAL_HEADER_LEN = 24;
const RECORD_HEADER_LEN = 16;
// Far above any real snap length; a larger record length means the file is corrupt.
const MAX_RECORD_LEN = 0x4000000;

/** Reads a classic pcap file. Throws {@link PcapFormatError} when the header is not one. */
export function readPcap(bytes: Uint8Array): PcapFile {
  if (bytes.byteLength < GLOBAL_HEADER_LEN) {
    throw new PcapFormatError(`not a pcap file: ${bytes.byteLength} bytes, shorter than the 24-byte header`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const header = readHeader(view);
  const little = header.byteOrder === 'little';
  const records: PcapRecord[] = [];
  let offset = GLOBAL_HEADER_LEN;
  while (offset + RECORD_HEADER_LEN <= bytes.byteLength) {
    const sec = view.getUint32(offset, little);
    const frac = view.getUint32(offset + 4, little);
    const capturedLength = view.getUint32(offset + 8, little);
    const originalLength = view.getUint32(offset + 12, little);
    if (capturedLength > MAX_RECORD_LEN) {
      throw new PcapFormatError(
        `record ${records.length} at byte ${offset} claims ${capturedLength} bytes: the file is corrupt`,
      );
    }
    const start = offset + RECORD_HEADER_LEN;
    if (start + capturedLength > bytes.byteLength) break;
    records.push({
      index: records.length,
      time: { sec, nsec: header.nanosecond ? frac : frac * 1000 },
      capturedLength,
      originalLength,
      data: bytes.subarray(start, start + capturedLength),
    });
    offset = start + capturedLength;
  }
  return { header, records, trailingBytes: bytes.byteLength - offset };
}

function readHeader(view: DataView): PcapHeader {
  const magicLE = view.getUint32(0, true);
  const magicBE = view.getUint32(0, false);
  let byteOrder: 'little' | 'big';
  let nanosecond: boolean;
  if (magicLE === MAGIC_US || magicLE === MAGIC_NS) {
    byteOrder = 'little';
    nanosecond = magicLE === MAGIC_NS;
  } else if (magicBE === MAGIC_US || magicBE === MAGIC_NS) {
    byteOrder = 'big';
    nanosecond = magicBE === MAGIC_NS;
  } else if (magicLE === MAGIC_PCAPNG) {
    throw new PcapFormatError(
      'this is a pcapng file; write captures with tcpdump -w, which writes classic pcap',
    );
  } else {
    throw new PcapFormatError(`not a pcap file: magic 0x${magicBE.toString(16).padStart(8, '0')}`);
  }
  const little = byteOrder === 'little';
  return {
    byteOrder,
    nanosecond,
    versionMajor: view.getUint16(4, little),
    versionMinor: view.getUint16(6, little),
    snaplen: view.getUint32(16, little),
    // The top bits of the field carry the FCS length; the link type is the low 16 bits.
    linkType: view.getUint32(20, little) & 0xffff,
  };
}

/**
 * Writes a classic pcap file: used to keep a chosen subset of packets as evidence, and to make
 * test inputs in either byte order.
 */
export function writePcap(
  header: Pick<PcapHeader, 'linkType' | 'snaplen'> & Partial<Pick<PcapHeader, 'byteOrder' | 'nanosecond'>>,
  records: ReadonlyArray<Pick<PcapRecord, 'time' | 'data'> & { originalLength?: number }>,
): Uint8Array {
  const little = (header.byteOrder ?? 'little') === 'little';
  const nano = header.nanosecond ?? false;
  const size = GLOBAL_HEADER_LEN + records.reduce((n, r) => n + RECORD_HEADER_LEN + r.data.byteLength, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, nano ? MAGIC_NS : MAGIC_US, little);
  v.setUint16(4, 2, little);
  v.setUint16(6, 4, little);
  v.setUint32(16, header.snaplen, little);
  v.setUint32(20, header.linkType, little);
  let offset = GLOBAL_HEADER_LEN;
  for (const r of records) {
    v.setUint32(offset, r.time.sec, little);
    v.setUint32(offset + 4, nano ? r.time.nsec : Math.floor(r.time.nsec / 1000), little);
    v.setUint32(offset + 8, r.data.byteLength, little);
    v.setUint32(offset + 12, r.originalLength ?? r.data.byteLength, little);
    out.set(r.data, offset + RECORD_HEADER_LEN);
    offset += RECORD_HEADER_LEN + r.data.byteLength;
  }
  return out;
}
