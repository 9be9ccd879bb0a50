/**
 * Kernel features probed by doing rather than by name: a kernel that has a helper can still
 * refuse the way the dataplane calls it (a struct size it does not know), and only running the
 * dataplane's own code says so. Also the kernel floor of `bpf/` and the prerequisites a kernel
 * must meet before the suites are worth running on it. Only src/sys and the dataplane's build
 * flags are used here, so the report's environment probe can call it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildKey,
  clangArgv,
  listBpfSources,
  multiarchIncludeDir,
  REPO_ROOT,
  sizeDefines,
} from '../dataplane/bpf/build.ts';
import { run } from '../sys/exec.ts';
import { pathExists } from '../sys/fs.ts';

/** The oldest kernel `bpf/` runs on: `bpf_redirect_neigh` came in 5.10 (see bpf/README.md). */
export const BPF_KERNEL_FLOOR = '5.10';

/** What the guide asks of a kernel, before anything `bpf/` uses in particular. */
export const GUIDE_KERNEL_FLOOR = '5.3';

/** True when `release` (`6.1.0-57-amd64`) is at least `floor` (`5.10`). */
export function meetsFloor(release: string, floor: string = BPF_KERNEL_FLOOR): boolean {
  const [a = 0, b = 0] = (/^(\d+)\.(\d+)/.exec(release)?.slice(1) ?? []).map(Number);
  const [x = 0, y = 0] = floor.split('.').map(Number);
  return a > x || (a === x && b >= y);
}

/** What a kernel offers that the suites cannot do without. */
export interface KernelBasics {
  release: string;
  btf: boolean;
  bpffsMounted: boolean;
}

/** The prerequisites a kernel misses, one phrase each (empty when the suites can run on it). */
export function missingPrerequisites(k: KernelBasics): string[] {
  const missing: string[] = [];
  if (!meetsFloor(k.release)) {
    missing.push(
      `Linux ${BPF_KERNEL_FLOOR} or later (the floor of bpf/; the guide asks ${GUIDE_KERNEL_FLOOR})`,
    );
  }
  if (!k.btf) missing.push('BTF (/sys/kernel/btf/vmlinux)');
  if (!k.bpffsMounted) missing.push('bpffs mounted at /sys/fs/bpf');
  return missing;
}

/** The result of a probe: what the kernel did, in the report's terms. */
export interface ProbeOutcome {
  state: 'yes' | 'no' | 'unknown';
  detail: string;
}

/** The probe program's source, beside this file. */
export const TUNNEL_KEY_PROBE_SOURCE = fileURLToPath(new URL('./tunnel-key-probe.c', import.meta.url));

// The probe object creates every dpc_* map; small sizes keep that cheap in a small VM.
const PROBE_SIZES = { natFrontend: 16, natBackend: 16, natAffinity: 16, route: 16, conntrack: 16 };

/** Reads the probe's return value: the key size the dataplane passes, and what the kernel did. */
export function readTunnelKeyProbe(retval: number): ProbeOutcome {
  const size = retval >> 8;
  const status = retval & 0xff;
  const helpers = `the dataplane's tunnel_send() and get_tunnel(), key size ${size} bytes`;
  switch (status) {
    case 0:
      return { state: 'yes', detail: `set and read back by ${helpers}` };
    case 1:
      return {
        state: 'no',
        detail: `bpf_skb_set_tunnel_key refused ${helpers}: every tunnelled flow would drop`,
      };
    case 2:
      return { state: 'no', detail: `bpf_skb_get_tunnel_key refused ${helpers}` };
    case 3:
      return { state: 'no', detail: `the key read back carried another VNI (${helpers})` };
    default:
      return { state: 'unknown', detail: `the probe returned ${retval}, which it never does` };
  }
}

/** Where the compiled probe is kept: keyed like the dataplane's build, by everything it includes. */
async function probeObject(bpfDir: string, outRoot: string): Promise<string> {
  const defines = sizeDefines(PROBE_SIZES);
  const files = await listBpfSources(bpfDir);
  const contents = await Promise.all(
    files.map(async (path) => ({ path, content: await readFile(join(bpfDir, path)) })),
  );
  contents.push({ path: 'probe:tunnel-key', content: await readFile(TUNNEL_KEY_PROBE_SOURCE) });
  const dir = join(outRoot, buildKey(defines, contents));
  const out = join(dir, 'tunnel-key-probe.o');
  if (await pathExists(out)) return out;
  await mkdir(dir, { recursive: true });
  const tmp = `${out}.${process.pid}.tmp`;
  try {
    // The dataplane's own compiler flags and include path: the probe is built the way bpf/ is.
    await run(clangArgv(TUNNEL_KEY_PROBE_SOURCE, tmp, defines, [bpfDir, multiarchIncludeDir()]), {
      timeoutMs: 300_000,
    });
    await rename(tmp, out);
  } finally {
    await rm(tmp, { force: true });
  }
  return out;
}

/** Where the probe finds the dataplane and keeps its object. */
export interface TunnelKeyProbeOptions {
  /** The dataplane's sources (default `<repo>/bpf`). */
  bpfDir?: string;
  /** Where compiled probes are kept (default `<repo>/build/probes`). */
  outDir?: string;
  /** Where the probe program is pinned while it runs (default /sys/fs/bpf). */
  bpffs?: string;
  /** Names the probe's pins and namespaces `dpc-<id>-probe*` (default: a fresh random id). */
  id?: string;
}

/** Compiles the tunnel-key probe (cached), so that a slower machine sharing this tree need not. */
export function buildTunnelKeyProbe(opts: TunnelKeyProbeOptions = {}): Promise<string> {
  return probeObject(
    opts.bpfDir ?? join(REPO_ROOT, 'bpf'),
    opts.outDir ?? join(REPO_ROOT, 'build', 'probes'),
  );
}

/** What the tunnel probes found: the key at the dataplane's size, and one packet through a tunnel. */
export interface TunnelProbes {
  key: ProbeOutcome;
  path: ProbeOutcome;
}

/**
 * Runs the dataplane's tunnel code on this kernel: on a test packet (BPF_PROG_TEST_RUN), the key
 * at the size `bpf/` passes; then one real packet through a collect-metadata VXLAN device into
 * another namespace. Never throws: a probe that could not run is `unknown`, with why. Everything
 * is named `dpc-<id>-probe*`, so `dpconform down --all` finds what a killed probe left.
 */
export async function probeTunnel(opts: TunnelKeyProbeOptions = {}): Promise<TunnelProbes> {
  let object: string;
  try {
    object = await buildTunnelKeyProbe(opts);
  } catch (err) {
    const why: ProbeOutcome = { state: 'unknown', detail: `the probe did not build: ${firstLine(err)}` };
    return { key: why, path: why };
  }
  const id = opts.id ?? randomBytes(3).toString('hex');
  const pins = join(opts.bpffs ?? '/sys/fs/bpf', `dpc-${id}-probe`);
  try {
    await run(
      ['bpftool', 'prog', 'loadall', object, pins, 'type', 'classifier', 'pinmaps', join(pins, 'maps')],
      {
        timeoutMs: 120_000,
      },
    );
  } catch (err) {
    await rm(pins, { recursive: true, force: true });
    const why: ProbeOutcome = { state: 'unknown', detail: `the probe did not load: ${firstLine(err)}` };
    return { key: why, path: why };
  }
  try {
    const key = await keyProbe(join(pins, 'dpc_probe_tunnel_key'));
    const path = key.state === 'no' ? skippedPath(key) : await pathProbe(id, pins);
    return { key, path };
  } finally {
    // The pins hold the programs and maps; the namespaces held the devices they were attached to.
    await rm(pins, { recursive: true, force: true });
  }
}

function skippedPath(key: ProbeOutcome): ProbeOutcome {
  return { state: 'no', detail: `not tried: the key itself was refused (${key.detail})` };
}

async function keyProbe(pin: string): Promise<ProbeOutcome> {
  const scratch = await mkdtemp(join(tmpdir(), 'dpconform-probe-'));
  try {
    const packet = join(scratch, 'packet');
    await writeFile(packet, probePacket());
    const r = await run(['bpftool', 'prog', 'run', 'pinned', pin, 'data_in', packet, 'repeat', '1']);
    const retval = /Return value:\s*(\d+)/.exec(r.stdout)?.[1];
    if (retval === undefined)
      return { state: 'unknown', detail: `bpftool prog run said: ${r.stdout.trim()}` };
    return readTunnelKeyProbe(Number(retval));
  } catch (err) {
    return { state: 'unknown', detail: `the probe could not run: ${firstLine(err)}` };
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Packets the path probe sends into the tunnel. */
const PATH_PACKETS = 3;

/** The namespaces, links and addresses of the path probe, as `ip -n` commands (pure). */
export function pathProbePlan(sender: string, receiver: string): string[][] {
  const ip = (ns: string, ...args: string[]) => ['ip', '-n', ns, ...args];
  return [
    ['ip', 'netns', 'add', sender],
    ['ip', 'netns', 'add', receiver],
    ip(sender, 'link', 'add', 'u0', 'type', 'veth', 'peer', 'name', 'u1', 'netns', receiver),
    ip(sender, 'addr', 'add', '10.255.254.1/30', 'dev', 'u0'),
    ip(receiver, 'addr', 'add', '10.255.254.2/30', 'dev', 'u1'),
    ...[sender, receiver].flatMap((ns) => [
      ip(ns, 'link', 'set', 'lo', 'up'),
      ip(ns, 'link', 'add', 'vx', 'type', 'vxlan', 'external', 'dstport', '4789'),
      ip(ns, 'link', 'set', 'vx', 'up'),
    ]),
    ip(sender, 'link', 'set', 'u0', 'up'),
    ip(receiver, 'link', 'set', 'u1', 'up'),
    // The packets to tunnel leave through a veth of their own, whose egress the sending program holds.
    ip(sender, 'link', 'add', 'd0', 'type', 'veth', 'peer', 'name', 'd1'),
    ip(sender, 'addr', 'add', '10.255.253.1/24', 'dev', 'd0'),
    ip(sender, 'link', 'set', 'd1', 'up'),
    ip(sender, 'link', 'set', 'd0', 'up'),
  ];
}

function inNetns(ns: string, argv: readonly string[]): string[] {
  // nsenter switches the network only: tc keeps seeing the bpffs pins (ip netns exec would not).
  return ['nsenter', `--net=/run/netns/${ns}`, ...argv];
}

/** Little-endian bytes of a u32, as bpftool takes keys and values. */
function u32Bytes(n: number): string[] {
  return [0, 8, 16, 24].map((shift) => String((n >>> shift) & 0xff));
}

async function pathProbe(id: string, pins: string): Promise<ProbeOutcome> {
  const sender = `dpc-${id}-probe-a`;
  const receiver = `dpc-${id}-probe-b`;
  const map = join(pins, 'maps', 'dpc_probe_path');
  try {
    for (const argv of pathProbePlan(sender, receiver)) await run(argv);
    const links = JSON.parse((await run(['ip', '-n', sender, '-j', 'link', 'show', 'vx'])).stdout) as {
      ifindex: number;
    }[];
    const vx = links[0]?.ifindex;
    if (vx === undefined) return { state: 'unknown', detail: `no vx device in ${sender}` };
    await run(['bpftool', 'map', 'update', 'pinned', map, 'key', ...u32Bytes(0), 'value', ...u32Bytes(vx)]);
    await run(inNetns(sender, ['tc', 'qdisc', 'add', 'dev', 'd0', 'clsact']));
    await run(
      inNetns(sender, [
        'tc',
        'filter',
        'add',
        'dev',
        'd0',
        'egress',
        'bpf',
        'da',
        'object-pinned',
        join(pins, 'dpc_probe_tunnel_send'),
      ]),
    );
    await run(inNetns(receiver, ['tc', 'qdisc', 'add', 'dev', 'vx', 'clsact']));
    await run(
      inNetns(receiver, [
        'tc',
        'filter',
        'add',
        'dev',
        'vx',
        'ingress',
        'bpf',
        'da',
        'object-pinned',
        join(pins, 'dpc_probe_tunnel_recv'),
      ]),
    );
    // No answer can come (the tunnel ends in the receiver's program): only what arrives counts.
    await run(inNetns(sender, ['ping', '-c', String(PATH_PACKETS), '-i', '0.2', '-W', '1', '10.255.253.2']), {
      reject: false,
      timeoutMs: 60_000,
    });
    const seen = JSON.parse(
      (await run(['bpftool', '-j', 'map', 'lookup', 'pinned', map, 'key', ...u32Bytes(1)])).stdout,
    ) as { value: string[] };
    const arrived = seen.value.reduce((n, b, i) => n + Number.parseInt(b, 16) * 2 ** (8 * i), 0);
    const how = `with the dataplane's tunnel_send() through a collect-metadata VXLAN device, read with get_tunnel()`;
    // What the pings make the stack send (ARP requests first) is what crosses: any of it will do.
    return arrived > 0
      ? {
          state: 'yes',
          detail: `${arrived} packet(s) arrived with their VNI in another namespace, sent ${how}`,
        }
      : { state: 'no', detail: `no packet arrived with its VNI (${PATH_PACKETS} pings), sent ${how}` };
  } catch (err) {
    return { state: 'unknown', detail: `the tunnel could not be built: ${firstLine(err)}` };
  } finally {
    await run(['ip', 'netns', 'del', sender], { reject: false });
    await run(['ip', 'netns', 'del', receiver], { reject: false });
  }
}

/** A minimal Ethernet + IPv4 + UDP frame for the probe to run on. */
export function probePacket(): Buffer {
  const p = Buffer.alloc(64);
  p.writeUInt16BE(0x0800, 12); // IPv4
  p.writeUInt8(0x45, 14); // version 4, 20-byte header
  p.writeUInt16BE(50, 16); // total length
  p.writeUInt8(64, 22); // ttl
  p.writeUInt8(17, 23); // UDP
  p.writeUInt32BE(0xac120101, 26); // 172.18.1.1
  p.writeUInt32BE(0xac120002, 30); // 172.18.0.2
  p.writeUInt16BE(40000, 34);
  p.writeUInt16BE(30080, 36);
  p.writeUInt16BE(30, 38);
  return p;
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  return text.split('\n')[0] ?? text;
}
