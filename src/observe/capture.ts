/**
 * Packet captures with tcpdump in a place (a node, pod or client): started before the traffic,
 * proven to be listening, stopped after it with nothing left unread, decoded.
 */
import { rmSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Place } from '../node/place.ts';
import { type Started, shellQuote } from '../sys/exec.ts';
import { signalProcess } from '../sys/process.ts';
import { decodePcap } from './decode.ts';
import { readPcap } from './pcap.ts';
import type { Packet } from './types.ts';

/** What to capture and where. */
export interface CaptureSpec {
  /** Where to capture: tcpdump runs in this place's network and writes to this machine's files. */
  place: Place;
  /** Interface inside that place; `any` for all of them (Linux cooked capture). */
  iface: string;
  /** A pcap filter expression, as one string or as words (`['tcp', 'port', '80']`). */
  filter?: string | readonly string[];
  /** Names the capture in summaries and errors (default: the place's name). */
  label?: string;
  /**
   * Bytes kept of each packet (default 1600: a whole frame at the fabric's MTU, VXLAN included).
   * Larger packets (GRO-merged) are cut, and keep their headers and lengths. tcpdump's own
   * default, 262144, makes the kernel's ring hold a few dozen packets, and bursts are lost.
   */
  snaplen?: number;
  /** Kernel buffer for packets not yet written, in KiB (default 8192, four times tcpdump's). */
  bufferKiB?: number;
  /** Hand each packet to tcpdump as it arrives (default true); off, packets arrive in batches. */
  immediate?: boolean;
  /** Record nanosecond timestamps (default: microseconds, as tcpdump does). */
  nanosecond?: boolean;
  /** Link type for tcpdump's `-y`, e.g. `LINUX_SLL` with `iface: 'any'`. */
  linkType?: string;
  /** UDP ports decoded as VXLAN (default 4789). */
  vxlanPorts?: readonly number[];
  /** How long tcpdump may take to start listening (default 10 s). */
  startTimeoutMs?: number;
  /** Return the packets even if the kernel dropped some (default: an incomplete capture is an error). */
  allowLoss?: boolean;
}

/** tcpdump's own account of a capture, from its statistics lines. */
export interface CaptureStats {
  captured: number;
  receivedByFilter: number;
  droppedByKernel: number;
  droppedByInterface: number;
  exitCode: number;
  /** Everything tcpdump wrote to standard error. */
  stderr: string;
}

/** A running capture. */
export interface Capture extends AsyncDisposable {
  readonly label: string;
  readonly spec: Readonly<CaptureSpec>;
  /** The command that runs tcpdump in the place, as started. */
  readonly argv: readonly string[];
  /** tcpdump's process id. */
  readonly pid: number;
  /** Where tcpdump writes (removed when the capture stops). */
  readonly file: string;
  /** Stops tcpdump, decodes what it wrote and removes the file. Calling it again returns the same packets. */
  stop(): Promise<Packet[]>;
  /** Like {@link Capture.stop}, and keeps the pcap at `path` as evidence. */
  stopAndKeep(path: string): Promise<Packet[]>;
  /** tcpdump's statistics, once stopped. */
  stats(): CaptureStats | undefined;
}

/** A capture that could not start, died, or lost packets; carries tcpdump's own words. */
export class CaptureError extends Error {
  readonly label: string;
  readonly argv: readonly string[];
  readonly commandLine: string;
  readonly stderr: string;
  /** What was captured before the failure, when anything was. */
  declare readonly packets: Packet[];

  constructor(init: {
    message: string;
    label: string;
    argv: readonly string[];
    stderr: string;
    packets?: Packet[];
  }) {
    const quoted = init.stderr.trim().split('\n').slice(-5).join(' | ');
    super(`capture ${init.label}: ${init.message}${quoted ? ` — tcpdump said: ${quoted}` : ''}`);
    this.name = 'CaptureError';
    this.label = init.label;
    this.argv = init.argv;
    this.commandLine = shellQuote(init.argv);
    this.stderr = init.stderr;
    // Not enumerable: an error printed whole (an uncaught error, a test failure) must not dump every packet.
    Object.defineProperty(this, 'packets', { value: init.packets ?? [], enumerable: false });
  }
}

const DEFAULT_START_TIMEOUT_MS = 10_000;
const DEFAULT_BUFFER_KIB = 8192;
const DEFAULT_SNAPLEN = 1600;
const POLL_MS = 10;
// A capture counts as drained when tcpdump's counters stand still over this long.
const QUIET_MS = 50;
const DRAIN_TIMEOUT_MS = 3_000;
const SIGNAL_REPLY_TIMEOUT_MS = 1_000;
const EXIT_GRACE_MS = 5_000;

/** Builds tcpdump's own argv (the place adds whatever enters it). Pure, exported for tests. */
export function tcpdumpArgv(spec: CaptureSpec, file: string): string[] {
  // -Z root: Debian's tcpdump otherwise drops to the tcpdump user, which then owns our file.
  const argv = ['tcpdump', '-i', spec.iface, '-n', '-U', '-Z', 'root', '-w', file];
  if (spec.immediate !== false) argv.push('--immediate-mode');
  argv.push('-s', String(spec.snaplen ?? DEFAULT_SNAPLEN));
  // tcpdump writes each packet as it comes (-U); a burst outruns it, and a larger buffer absorbs more.
  argv.push('-B', String(spec.bufferKiB ?? DEFAULT_BUFFER_KIB));
  if (spec.nanosecond) argv.push('--time-stamp-precision=nano');
  if (spec.linkType !== undefined) argv.push('-y', spec.linkType);
  if (typeof spec.filter === 'string') {
    if (spec.filter.trim() !== '') argv.push(spec.filter);
  } else if (spec.filter) {
    argv.push(...spec.filter);
  }
  return argv;
}

/** Reads tcpdump's statistics lines (the last set printed wins). Pure, exported for tests. */
export function parseTcpdumpStats(stderr: string): Omit<CaptureStats, 'exitCode' | 'stderr'> | undefined {
  const last = (re: RegExp): number | undefined => {
    const all = [...stderr.matchAll(re)];
    const m = all[all.length - 1];
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };
  const captured = last(/(\d+) packets? captured/g);
  if (captured === undefined) return undefined;
  return {
    captured,
    receivedByFilter: last(/(\d+) packets? received by filter/g) ?? 0,
    droppedByKernel: last(/(\d+) packets? dropped by kernel/g) ?? 0,
    droppedByInterface: last(/(\d+) packets? dropped by interface/g) ?? 0,
  };
}

// Directories of captures not yet stopped. A capture never stopped (a test that forgot) would
// leave its directory behind; they are removed when the process exits normally (not when it is
// killed). Its tcpdump dies with us (execa kills children on exit) or when its interface goes.
const liveDirs = new Set<string>();
let exitHookInstalled = false;

function trackDir(dir: string): void {
  liveDirs.add(dir);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const d of liveDirs) rmSync(d, { recursive: true, force: true });
  });
}

async function removeDir(dir: string): Promise<void> {
  liveDirs.delete(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Starts tcpdump in the spec's place and returns once it is listening: a packet sent after this
 * resolves is in the capture.
 */
export async function startCapture(spec: CaptureSpec): Promise<Capture> {
  const { place } = spec;
  const label = spec.label ?? place.name;
  const dir = await mkdtemp(join(tmpdir(), 'dpc-cap-'));
  trackDir(dir);
  const file = join(dir, 'capture.pcap');
  const logFile = join(dir, 'tcpdump.log');
  const program = tcpdumpArgv(spec, file);
  const argv = place.spawnArgv(program);
  const fail = (message: string, stderr: string, packets?: Packet[]): never => {
    throw new CaptureError({ message, label, argv, stderr, ...(packets ? { packets } : {}) });
  };

  let proc: Started;
  try {
    // Standard error goes to a file we can read while tcpdump runs: that is where it says it listens.
    proc = place.spawn(program, { logFile });
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
  let exitCode: number | undefined;
  void proc.exited.then((r) => {
    exitCode = r.exitCode;
  });

  try {
    await waitForListening(logFile, () => exitCode, spec.startTimeoutMs ?? DEFAULT_START_TIMEOUT_MS);
  } catch (err) {
    if (exitCode === undefined) await proc.stop('SIGKILL', 1000).catch(() => {});
    const stderr = await readText(logFile);
    await removeDir(dir);
    throw new CaptureError({
      message: `tcpdump on ${spec.iface} in ${place.where} ${(err as Error).message}`,
      label,
      argv,
      stderr,
    });
  }

  const ifnames = spec.iface === 'any' ? await interfaceNames(place) : undefined;
  let stopped: Promise<Packet[]> | undefined;
  let bytes: Uint8Array | undefined;
  let stats: CaptureStats | undefined;

  const doStop = async (): Promise<Packet[]> => {
    if (exitCode === undefined) {
      await drain(proc, logFile, () => exitCode);
      await proc.stop('SIGINT', EXIT_GRACE_MS);
    }
    const result = await proc.exited;
    const stderr = await readText(logFile);
    const counted = parseTcpdumpStats(stderr);
    stats = {
      captured: counted?.captured ?? 0,
      receivedByFilter: counted?.receivedByFilter ?? 0,
      droppedByKernel: counted?.droppedByKernel ?? 0,
      droppedByInterface: counted?.droppedByInterface ?? 0,
      exitCode: result.exitCode,
      stderr,
    };
    try {
      bytes = await readFile(file).catch(() => new Uint8Array());
    } finally {
      await removeDir(dir);
    }
    if (bytes.byteLength === 0) {
      return fail(`tcpdump exited ${result.exitCode} and wrote no pcap file`, stderr);
    }
    if (ifnames && spec.iface === 'any') {
      for (const [k, v] of await interfaceNames(place)) if (!ifnames.has(k)) ifnames.set(k, v);
    }
    const packets = decodePcap(bytes, {
      iface: spec.iface,
      label,
      ...(spec.vxlanPorts ? { vxlanPorts: spec.vxlanPorts } : {}),
      ...(ifnames ? { ifnames } : {}),
    });
    // SIGINT is our own stop and exits 0; anything else means tcpdump died under the test.
    if (result.exitCode !== 0) {
      return fail(`tcpdump exited ${result.exitCode} before it was stopped`, stderr, packets);
    }
    if (!spec.allowLoss) {
      const lost = stats.droppedByKernel + stats.droppedByInterface;
      if (lost > 0)
        return fail(`the kernel dropped ${lost} packets: the capture is incomplete`, stderr, packets);
      // On loopback (and so with `any`) the kernel counts each packet twice and libpcap drops
      // one copy, so the count only adds up on other interfaces.
      const unread = stats.receivedByFilter - stats.droppedByKernel - stats.captured;
      if (unread > 0 && spec.iface !== 'lo' && spec.iface !== 'any') {
        return fail(
          `tcpdump exited with ${unread} packets still unread: the capture is incomplete`,
          stderr,
          packets,
        );
      }
      const trailing = readPcap(bytes).trailingBytes;
      if (trailing > 0)
        return fail(`the pcap file ends in ${trailing} bytes of a cut record`, stderr, packets);
    }
    return packets;
  };

  const capture: Capture = {
    label,
    spec,
    argv,
    pid: proc.pid,
    file,
    stop() {
      stopped ??= doStop();
      return stopped;
    },
    async stopAndKeep(path: string) {
      // Stop first (or reuse the first stop), so the kept file is the complete capture.
      const packets = await capture.stop().catch(async (err: unknown) => {
        if (bytes) await keep(path, bytes);
        throw err;
      });
      if (bytes) await keep(path, bytes);
      return packets;
    },
    stats: () => stats,
    async [Symbol.asyncDispose]() {
      await capture.stop().catch(() => {});
    },
  };
  return capture;
}

async function keep(path: string, bytes: Uint8Array): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, bytes);
}

async function readText(path: string): Promise<string> {
  return readFile(path, 'utf8').catch(() => '');
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// tcpdump prints "listening on IFACE" once the socket is bound and the filter set.
async function waitForListening(
  logFile: string,
  exitCode: () => number | undefined,
  timeoutMs: number,
): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if (/listening on /.test(await readText(logFile))) return;
    const code = exitCode();
    if (code !== undefined) throw new Error(`exited ${code} before it was listening`);
    if (Date.now() > until) throw new Error(`was not listening after ${timeoutMs} ms`);
    await sleep(POLL_MS);
  }
}

/**
 * Waits until tcpdump has written every packet it was handed: SIGINT makes it leave its loop
 * at once, and whatever is still in the kernel's ring is lost. SIGUSR1 makes tcpdump print its
 * counters; when two readings QUIET_MS apart are the same, nothing is arriving or pending.
 */
async function drain(proc: Started, logFile: string, exitCode: () => number | undefined): Promise<void> {
  const until = Date.now() + DRAIN_TIMEOUT_MS;
  let previous: string | undefined;
  while (Date.now() < until && exitCode() === undefined) {
    const reading = await requestStats(proc, logFile, exitCode);
    if (reading === undefined) return;
    if (reading === previous) return;
    previous = reading;
    await sleep(QUIET_MS);
  }
}

async function requestStats(
  proc: Started,
  logFile: string,
  exitCode: () => number | undefined,
): Promise<string | undefined> {
  const count = (text: string) => text.match(/packets? captured/g)?.length ?? 0;
  const before = count(await readText(logFile));
  if (!signalProcess(proc.pid, 'SIGUSR1')) return undefined;
  const until = Date.now() + SIGNAL_REPLY_TIMEOUT_MS;
  while (Date.now() < until && exitCode() === undefined) {
    const text = await readText(logFile);
    if (count(text) > before) {
      const lines = text.trim().split('\n');
      return lines[lines.length - 1];
    }
    await sleep(POLL_MS);
  }
  return undefined;
}

// Interface index -> name in the place, so `-i any` packets can say where they were seen.
async function interfaceNames(place: Place): Promise<Map<number, string>> {
  const links = await place
    .execJson<Array<{ ifindex: number; ifname: string }>>(['ip', '-j', 'link', 'show'], { timeoutMs: 10_000 })
    .catch(() => []);
  return new Map(links.map((l) => [l.ifindex, l.ifname]));
}

/** Packets of each capture of a {@link withCaptures} run, by the names the specs were given. */
export interface CapturedRun<K extends string, T> {
  result: T;
  packets: Record<K, Packet[]>;
}

/** Options of {@link withCaptures}. */
export interface WithCapturesOptions {
  /** Keep each capture as `DIR/<name>.pcap` (also when the action fails). */
  keepDir?: string;
}

/**
 * Starts every capture (in parallel, each listening before the action runs), runs the action,
 * and stops them all, also when the action throws (its error is then rethrown, unchanged).
 * Each capture is labelled with its name unless its spec has a label.
 */
export async function withCaptures<K extends string, T>(
  specs: Record<K, CaptureSpec>,
  action: (captures: Record<K, Capture>) => Promise<T> | T,
  opts: WithCapturesOptions = {},
): Promise<CapturedRun<K, T>> {
  const names = Object.keys(specs) as K[];
  const started = await Promise.allSettled(
    names.map((name) => startCapture({ ...specs[name], label: specs[name].label ?? name })),
  );
  const captures = {} as Record<K, Capture>;
  const failures: unknown[] = [];
  started.forEach((s, i) => {
    if (s.status === 'fulfilled') captures[names[i] as K] = s.value;
    else failures.push(s.reason);
  });
  const stopAll = async () => {
    const packets = {} as Record<K, Packet[]>;
    const errors: unknown[] = [];
    await Promise.all(
      (Object.keys(captures) as K[]).map(async (name) => {
        const cap = captures[name];
        try {
          packets[name] = opts.keepDir
            ? await cap.stopAndKeep(join(opts.keepDir, `${name}.pcap`))
            : await cap.stop();
        } catch (err) {
          errors.push(err);
          packets[name] = err instanceof CaptureError ? err.packets : [];
        }
      }),
    );
    return { packets, errors };
  };
  if (failures.length > 0) {
    await stopAll();
    throw failures[0];
  }
  let result: T;
  try {
    result = await action(captures);
  } catch (err) {
    await stopAll();
    throw err;
  }
  const { packets, errors } = await stopAll();
  if (errors.length > 0) throw errors[0];
  return { result, packets };
}
