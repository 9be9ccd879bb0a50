/**
 * The bpftool commands the eBPF dataplane uses: load, map read/write (single and batched) and
 * BPF_PROG_TEST_RUN. Maps and programs are always addressed by their pinned path, and bpftool
 * always runs inside the node: that is where the node's bpffs pins are visible.
 */
import type { Place, PlaceRunOptions } from '../../node/place.ts';
import { CommandError } from '../../sys/exec.ts';
import { fromHexWords, toHexWords } from './encoding.ts';

/** One map entry as raw bytes. */
export interface MapEntry {
  key: Uint8Array;
  value: Uint8Array;
}

/** What `bpftool map show` says of a map. */
export interface MapInfo {
  id: number;
  name: string;
  type: string;
  keySize: number;
  valueSize: number;
  maxEntries: number;
}

/** One write of a batch. */
export type BatchOp =
  | { op: 'update'; pin: string; key: Uint8Array; value: Uint8Array }
  | { op: 'delete'; pin: string; key: Uint8Array };

/**
 * Loads every program of an object in a place, pinning programs in progDir and maps in mapDir.
 * `object` is a path the place can read. Maps named in `reuse` are not created: the programs
 * use the map already pinned there (same type, key, value and size).
 */
export async function loadAll(
  place: Place,
  object: string,
  progDir: string,
  mapDir: string,
  opts: PlaceRunOptions = {},
  reuse: readonly { name: string; pin: string }[] = [],
): Promise<void> {
  const maps = reuse.flatMap((m) => ['map', 'name', m.name, 'pinned', m.pin]);
  await place.exec(['bpftool', 'prog', 'loadall', object, progDir, ...maps, 'pinmaps', mapDir], {
    timeoutMs: 120_000,
    ...opts,
  });
}

interface JsonEntry {
  key: string[];
  value: string[];
}

/** Every entry of a map pinned in a place. */
export async function dumpMap(place: Place, pin: string, opts: PlaceRunOptions = {}): Promise<MapEntry[]> {
  const rows = await place.execJson<JsonEntry[]>(['bpftool', '-j', 'map', 'dump', 'pinned', pin], {
    timeoutMs: 120_000,
    ...opts,
  });
  return rows.map((r) => ({ key: fromHexWords(r.key), value: fromHexWords(r.value) }));
}

/** One entry of a per-CPU map: its value on each CPU, in CPU order. */
export interface PercpuEntry {
  key: Uint8Array;
  values: Uint8Array[];
}

/** Every entry of a per-CPU map pinned in a place. */
export async function dumpPercpuMap(
  place: Place,
  pin: string,
  opts: PlaceRunOptions = {},
): Promise<PercpuEntry[]> {
  const rows = await place.execJson<{ key: string[]; values: { cpu: number; value: string[] }[] }[]>(
    ['bpftool', '-j', 'map', 'dump', 'pinned', pin],
    { timeoutMs: 120_000, ...opts },
  );
  return rows.map((r) => ({
    key: fromHexWords(r.key),
    values: [...r.values].sort((x, y) => x.cpu - y.cpu).map((v) => fromHexWords(v.value)),
  }));
}

/** The value under `key` of a map pinned in a place, or undefined when there is none. */
export async function lookupMap(
  place: Place,
  pin: string,
  key: Uint8Array,
  opts: PlaceRunOptions = {},
): Promise<Uint8Array | undefined> {
  const r = await place.exec(
    ['bpftool', '-j', 'map', 'lookup', 'pinned', pin, 'key', 'hex', ...toHexWords(key).split(' ')],
    {
      ...opts,
      reject: false,
    },
  );
  if (r.exitCode !== 0) {
    if (/not found|No such file or directory/i.test(r.stdout + r.stderr) || r.stdout.trim() === 'null')
      return undefined;
    throw new CommandError({ argv: r.argv, exitCode: r.exitCode, stdout: r.stdout, stderr: r.stderr });
  }
  const row = JSON.parse(r.stdout) as JsonEntry | null;
  return row ? fromHexWords(row.value) : undefined;
}

/** The bpftool argv (without `bpftool`) of one batch operation. */
export function batchLine(op: BatchOp): string {
  const key = `key hex ${toHexWords(op.key)}`;
  if (op.op === 'delete') return `map delete pinned ${op.pin} ${key}`;
  return `map update pinned ${op.pin} ${key} value hex ${toHexWords(op.value)}`;
}

/** Writes one entry of a map pinned in a place. */
export async function updateMap(
  place: Place,
  pin: string,
  key: Uint8Array,
  value: Uint8Array,
  opts: PlaceRunOptions = {},
): Promise<void> {
  await runBatch(place, [{ op: 'update', pin, key, value }], opts);
}

/**
 * Runs many writes through one `bpftool batch` in a place, in order. bpftool stops at the first
 * failing command; the error then says how many went through.
 */
export async function runBatch(
  place: Place,
  ops: readonly BatchOp[],
  opts: PlaceRunOptions = {},
): Promise<void> {
  if (ops.length === 0) return;
  // Pinned paths never contain spaces (we name them), so a plain line is a safe argv.
  for (const op of ops) {
    if (/\s/.test(op.pin)) throw new Error(`pin path with whitespace: ${op.pin}`);
  }
  const input = `${ops.map(batchLine).join('\n')}\n`;
  await place.exec(['bpftool', 'batch', 'file', '-'], { timeoutMs: 300_000, input, ...opts });
}

interface JsonMapShow {
  id: number;
  name: string;
  type: string;
  bytes_key: number;
  bytes_value: number;
  max_entries: number;
}

/** Facts of one map pinned in a place. */
export async function mapInfo(place: Place, pin: string, opts: PlaceRunOptions = {}): Promise<MapInfo> {
  const m = await place.execJson<JsonMapShow>(['bpftool', '-j', 'map', 'show', 'pinned', pin], opts);
  return {
    id: m.id,
    name: m.name,
    type: m.type,
    keySize: m.bytes_key,
    valueSize: m.bytes_value,
    maxEntries: m.max_entries,
  };
}

/** Every map the place's kernel holds (id, name, type, size), for leak checks. */
export async function listMaps(place: Place, opts: PlaceRunOptions = {}): Promise<MapInfo[]> {
  const rows = await place.execJson<JsonMapShow[]>(['bpftool', '-j', 'map', 'show'], opts);
  return rows.map((m) => ({
    id: m.id,
    name: m.name,
    type: m.type,
    keySize: m.bytes_key,
    valueSize: m.bytes_value,
    maxEntries: m.max_entries,
  }));
}

/** The outcome of one BPF_PROG_TEST_RUN. */
export interface ProgRunResult {
  /** The program's return code (TC_ACT_*). */
  retval: number;
  /** The packet as the program left it. */
  dataOut: Uint8Array;
  durationNs: number;
}

/** tc return codes. */
export const TC_ACT = { ok: 0, shot: 2, redirect: 7 } as const;

/** How a test run is made: the place's run options, how many times and on which CPU the kernel runs the program. */
export interface ProgRunOptions extends PlaceRunOptions {
  /**
   * Runs of the program in the kernel, back to back on the same packet buffer (what one run
   * writes into the packet, the next one reads); `durationNs` is then their average.
   */
  repeat?: number;
  /**
   * The CPU to run on (bpftool is started under `taskset`). Timings taken on different CPUs of
   * one machine can differ by a fifth (interrupts, other jobs), so figures to be compared are
   * taken on one.
   */
  cpu?: number;
}

/**
 * Runs a program pinned in a place on `dataIn` with BPF_PROG_TEST_RUN (once, or `repeat` times);
 * the run sees the place's FIB and loopback. The packet goes in on bpftool's standard input and
 * the one the program leaves comes back on its standard output, so no file has to be shared with
 * the place (a node container has files of its own).
 */
export async function progRun(
  place: Place,
  pin: string,
  dataIn: Uint8Array,
  opts: ProgRunOptions = {},
): Promise<ProgRunResult> {
  const { repeat, cpu, ...runOpts } = opts;
  if (repeat !== undefined && !(Number.isInteger(repeat) && repeat >= 1))
    throw new Error(`test run repeat must be a positive integer, not ${repeat}`);
  if (cpu !== undefined && !(Number.isInteger(cpu) && cpu >= 0))
    throw new Error(`test run cpu must be a CPU number, not ${cpu}`);
  const r = await place.execJson<{ retval: number; duration: number; data_out?: number[] }>(
    [
      ...(cpu !== undefined ? ['taskset', '-c', String(cpu)] : []),
      'bpftool',
      '-j',
      'prog',
      'run',
      'pinned',
      pin,
      'data_in',
      '-',
      'data_out',
      '-',
      ...(repeat !== undefined ? ['repeat', String(repeat)] : []),
    ],
    { ...runOpts, input: dataIn },
  );
  return { retval: r.retval, dataOut: Uint8Array.from(r.data_out ?? []), durationNs: r.duration };
}
