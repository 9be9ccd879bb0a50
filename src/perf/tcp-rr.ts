/**
 * The project's request/response program (`tcp-rr.c` beside this file): compiled with clang on
 * first use and kept under `build/perf/<hash>/`, keyed by its source and flags, so that a changed
 * source is compiled again and an unchanged one never is. Also its command lines and its report.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from '../sys/exec.ts';
import { pathExists } from '../sys/fs.ts';

/** The program's source, beside this file. */
export const TCP_RR_SOURCE = fileURLToPath(new URL('./tcp-rr.c', import.meta.url));

/** Where compiled performance programs are kept. */
const OUT_ROOT = fileURLToPath(new URL('../../build/perf', import.meta.url));

const CFLAGS = ['-O2', '-Wall', '-Wextra', '-Werror'];

/** What the server prints once it accepts connections. */
export const TCP_RR_LISTENING = 'listening on';

/** The compiled program's path, compiling it first when this source was never compiled here. */
export async function tcpRrProgram(outRoot: string = OUT_ROOT): Promise<string> {
  const source = await readFile(TCP_RR_SOURCE);
  const key = createHash('sha256').update(JSON.stringify(CFLAGS)).update(source).digest('hex').slice(0, 16);
  const dir = join(outRoot, key);
  const out = join(dir, 'tcp-rr');
  if (await pathExists(out)) return out;
  await mkdir(dir, { recursive: true });
  // Another run may compile at the same time: each writes its own file, the rename is atomic.
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    await run(['clang', ...CFLAGS, '-o', tmp, TCP_RR_SOURCE], { timeoutMs: 120_000 });
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

/** The server's command line: it serves on `port` until stopped. */
export function tcpRrServerArgv(program: string, port: number): string[] {
  return [program, 'server', String(port)];
}

/** What a client run measures: `rr` on one kept-alive connection, `crr` a connection per exchange. */
export type TcpRrMode = 'rr' | 'crr';

/** A client's command line. */
export function tcpRrClientArgv(
  program: string,
  opts: { mode: TcpRrMode; host: string; port: number; seconds: number },
): string[] {
  return [program, opts.mode, opts.host, String(opts.port), String(opts.seconds)];
}

/** The command line of `count` connects, one after another, each one's time printed. */
export function tcpRrConnectArgv(
  program: string,
  opts: { host: string; port: number; count: number },
): string[] {
  return [program, 'connect', opts.host, String(opts.port), String(opts.count)];
}

/** The connect times (ns) a `connect` run printed, one a line. */
export function parseConnectTimes(stdout: string): number[] {
  const lines = stdout
    .trim()
    .split('\n')
    .filter((l) => l !== '');
  const times = lines.map(Number);
  const bad = lines.find((l, i) => !/^\d+$/.test(l) || !Number.isFinite(times[i]));
  if (bad !== undefined)
    throw new Error(`tcp-rr connect printed ${JSON.stringify(bad.slice(0, 80))}, not a time`);
  return times;
}

/** One client run, as the program reports it. */
export interface TcpRrRun {
  mode: TcpRrMode;
  /** Exchanges that completed. */
  exchanges: number;
  seconds: number;
  /** Completed exchanges per second (for `crr`, new connections per second). */
  perSecond: number;
  /** Percentiles of one exchange's time, microseconds. */
  p50Us: number;
  p99Us: number;
  /** The longest exchange, microseconds: a stall (a SYN sent again) shows here. */
  maxUs: number;
  /** Exchanges that failed. */
  errors: number;
  /** The first failure: step and cause (`connect: Connection refused`). */
  error?: string;
}

/** Reads a client's report; throws with what it printed when there is none. */
export function parseTcpRr(stdout: string): TcpRrRun {
  const line = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    throw new Error(`tcp-rr printed no report: ${JSON.stringify(stdout.slice(0, 200))}`);
  }
  const r = parsed as Partial<TcpRrRun>;
  const numbers = ['exchanges', 'seconds', 'perSecond', 'p50Us', 'p99Us', 'maxUs', 'errors'] as const;
  if ((r.mode !== 'rr' && r.mode !== 'crr') || numbers.some((k) => typeof r[k] !== 'number')) {
    throw new Error(`tcp-rr report is not what it should be: ${line.slice(0, 200)}`);
  }
  return r as TcpRrRun;
}
