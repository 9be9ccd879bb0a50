/**
 * Arithmetic on exact capture times ({@link PacketTime}), which do not fit a float in nanoseconds.
 */
import type { PacketTime } from './pcap.ts';

/** Negative, zero or positive as `a` is before, at or after `b`. */
export function compareTime(a: PacketTime, b: PacketTime): number {
  return a.sec !== b.sec ? a.sec - b.sec : a.nsec - b.nsec;
}

/** Microseconds from `a` to `b` (negative when `b` is earlier). */
export function elapsedMicros(a: PacketTime, b: PacketTime): number {
  return (b.sec - a.sec) * 1e6 + (b.nsec - a.nsec) / 1000;
}

/** The time as a JavaScript Date (millisecond precision). */
export function toDate(t: PacketTime): Date {
  return new Date(t.sec * 1000 + Math.floor(t.nsec / 1e6));
}
