/**
 * The machine's CPU time, read from /proc/stat in a place of the cluster. The places share one
 * kernel, so this counts everything traffic costs wherever it runs: the senders and receivers,
 * and the softirq work of every namespace's stack and dataplane on the way.
 */
import type { Cluster } from '../../src/cluster/types.ts';

/**
 * Jiffies all CPUs spent busy, from /proc/stat's `cpu` line: user, nice, system, irq and softirq.
 * Idle and iowait are waiting; steal is time the hypervisor gave to someone else; guest time is
 * already inside user and nice.
 */
export function busyJiffies(procStat: string): number {
  const line = procStat.split('\n').find((l) => /^cpu\s/.test(l));
  const f = line?.trim().split(/\s+/).slice(1).map(Number) ?? [];
  if (f.length < 7 || f.some((n) => !Number.isFinite(n))) {
    throw new Error(
      `/proc/stat has no cpu line of at least 7 numbers: ${JSON.stringify(line ?? procStat.slice(0, 80))}`,
    );
  }
  const [user, nice, system, , , irq, softirq] = f as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return user + nice + system + irq + softirq;
}

/** A reading of the CPU seconds the whole machine has spent busy so far. */
export type CpuClock = () => Promise<number>;

/** The machine's busy CPU clock, read in `place` (its clock tick asked once). */
export async function cpuClock(c: Cluster, place: string): Promise<CpuClock> {
  const hz = Number((await c.exec(place, ['getconf', 'CLK_TCK'])).stdout.trim());
  if (!(hz > 0)) throw new Error(`getconf CLK_TCK in ${place} gave no clock tick`);
  return async () => busyJiffies((await c.exec(place, ['cat', '/proc/stat'])).stdout) / hz;
}
