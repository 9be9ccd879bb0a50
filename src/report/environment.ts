/**
 * What the run's machine is: kernel, BTF, bpffs, the kernel features the dataplane relies on,
 * tool versions and the revision of `bpf/`. Everything a kernel vendor needs to read a report
 * as "on this kernel, the dataplane does (not) work". A missing tool or an unreadable file is
 * recorded as such; probing never throws.
 */
import { access, readFile } from 'node:fs/promises';
import { arch, hostname, release, version } from 'node:os';
import {
  BPF_KERNEL_FLOOR,
  meetsFloor,
  type ProbeOutcome,
  probeTunnel,
  type TunnelProbes,
} from '../kernel/probes.ts';
import { CommandError, type RunResult, run } from '../sys/exec.ts';
import { cgroup2MountPoint, parseMountinfo } from '../sys/mounts.ts';
import type { Environment, FeatureState, KernelFeature, ToolVersion } from './model.ts';

/** The system calls the probe makes; tests replace them. */
export interface ProbeIO {
  /** Runs a command; `undefined` when it could not start (not installed). */
  run(argv: readonly string[], cwd?: string): Promise<RunResult | undefined>;
  /** Reads a file; `undefined` when it does not exist or cannot be read. */
  read(path: string): Promise<string | undefined>;
  /** True when the path exists. */
  exists(path: string): Promise<boolean>;
  /** Runs the dataplane's tunnel code on this kernel (probes by doing); absent: not probed. */
  tunnel?(): Promise<TunnelProbes>;
}

/** The real machine, through src/sys/exec.ts. */
export const systemIO: ProbeIO = {
  async run(argv, cwd) {
    try {
      return await run(argv, { reject: false, timeoutMs: 20_000, ...(cwd ? { cwd } : {}) });
    } catch (e) {
      if (e instanceof CommandError) return undefined;
      throw e;
    }
  },
  async read(path) {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return undefined;
    }
  },
  async exists(path) {
    return access(path).then(
      () => true,
      () => false,
    );
  },
  tunnel: () => probeTunnel(),
};

/** The part of `bpftool -j feature probe kernel` the report reads. */
export interface BpftoolFeatures {
  system_config?: Record<string, unknown>;
  program_types?: Record<string, boolean>;
  map_types?: Record<string, boolean>;
  helpers?: Record<string, string[]>;
}

function state(value: boolean | undefined): FeatureState {
  return value === undefined ? 'unknown' : value ? 'yes' : 'no';
}

/** Kernel features from bpftool's probe (or `undefined` when bpftool could not run) and /proc. */
export function kernelFeatures(
  probe: BpftoolFeatures | undefined,
  facts: {
    jitEnable?: string | undefined;
    vxlan: FeatureState;
    vxlanDetail?: string;
    cgroup2: boolean;
    /** Where cgroup v2 is mounted. */
    cgroup2Mount?: string;
    /** The kernel release, judged against the floor of bpf/. */
    release?: string;
    /** What the tunnel-key probe found by running the dataplane's code. */
    tunnelKey?: ProbeOutcome;
    /** What one packet sent through a VXLAN device with the dataplane's code did. */
    tunnelPath?: ProbeOutcome;
  },
): KernelFeature[] {
  const cfg = probe?.system_config ?? {};
  const prog = (name: string) => (probe ? state(probe.program_types?.[`have_${name}_prog_type`]) : 'unknown');
  const map = (name: string) => (probe ? state(probe.map_types?.[`have_${name}_map_type`]) : 'unknown');
  const helper = (name: string) => {
    const list = probe?.helpers?.sched_cls_available_helpers;
    return list ? state(list.includes(name)) : 'unknown';
  };
  const why = probe ? undefined : 'bpftool feature probe did not run';
  const features: KernelFeature[] = [];
  const add = (name: string, s: FeatureState, detail?: string) => {
    const d = detail ?? (s === 'unknown' ? why : undefined);
    features.push(d ? { name, state: s, detail: d } : { name, state: s });
  };
  const clsact = cfg.CONFIG_NET_SCH_INGRESS;
  add(
    'tc clsact + sched_cls programs',
    prog('sched_cls'),
    typeof clsact === 'string' ? `CONFIG_NET_SCH_INGRESS=${clsact}` : undefined,
  );
  add('BPF JIT', jitState(facts.jitEnable), jitDetail(facts.jitEnable, cfg.CONFIG_BPF_JIT_ALWAYS_ON));
  if (facts.release !== undefined) {
    add(
      `Linux ${BPF_KERNEL_FLOOR} or later (the floor of bpf/)`,
      meetsFloor(facts.release) ? 'yes' : 'no',
      facts.release,
    );
  }
  // Probed by doing: a kernel can have these helpers and still refuse the key size bpf/ passes.
  add(
    'tunnel key set and read back at the dataplane’s size (bpf_skb_set/get_tunnel_key)',
    facts.tunnelKey?.state ?? 'unknown',
    facts.tunnelKey?.detail ?? 'not probed',
  );
  add(
    'one packet through the dataplane’s tunnel path (collect-metadata VXLAN)',
    facts.tunnelPath?.state ?? 'unknown',
    facts.tunnelPath?.detail ?? 'not probed',
  );
  add('helper bpf_redirect_neigh (sched_cls)', helper('bpf_redirect_neigh'));
  add('LRU hash maps', map('lru_hash'));
  add('LPM trie maps', map('lpm_trie'));
  add('cgroup sock_addr programs', prog('cgroup_sock_addr'));
  add(
    'cgroup v2',
    facts.cgroup2 ? 'yes' : 'no',
    facts.cgroup2Mount ?? 'no cgroup2 mount in /proc/self/mountinfo',
  );
  add('VXLAN', facts.vxlan, facts.vxlanDetail);
  return features;
}

function jitState(value: string | undefined): FeatureState {
  if (value === undefined) return 'unknown';
  return value.trim() === '0' ? 'no' : 'yes';
}

function jitDetail(value: string | undefined, alwaysOn: unknown): string {
  const parts = [
    value === undefined ? '/proc/sys/net/core/bpf_jit_enable unreadable' : `bpf_jit_enable=${value.trim()}`,
  ];
  if (alwaysOn === 'y') parts.push('CONFIG_BPF_JIT_ALWAYS_ON=y');
  return parts.join(', ');
}

/** How each tool reports its version, and how to read it. */
const TOOLS: readonly { name: string; argv: string[] }[] = [
  { name: 'clang', argv: ['clang', '--version'] },
  { name: 'bpftool', argv: ['bpftool', 'version'] },
  { name: 'iproute2', argv: ['ip', '-V'] },
  { name: 'iptables', argv: ['iptables', '--version'] },
  { name: 'tcpdump', argv: ['tcpdump', '--version'] },
];

/** Reads a tool's version (and detail such as the iptables backend) from what it printed. */
export function parseToolVersion(name: string, output: string): { version?: string; detail?: string } {
  const first = output.split('\n').find((l) => l.trim() !== '') ?? '';
  const pick = (re: RegExp, text = output) => re.exec(text)?.[1];
  switch (name) {
    case 'clang':
      return withDefined({ version: pick(/clang version (\S+)/), detail: first.trim() || undefined });
    case 'bpftool':
      return withDefined({ version: pick(/bpftool v?(\S+)/), detail: pick(/using (libbpf \S+)/) });
    case 'iproute2':
      return withDefined({ version: pick(/iproute2-(?:ss)?(\S+?),?(?:\s|$)/), detail: pick(/(libbpf \S+)/) });
    case 'iptables':
      return withDefined({ version: pick(/iptables v(\S+)/), detail: pick(/\((nf_tables|legacy)\)/) });
    case 'tcpdump':
      return withDefined({ version: pick(/tcpdump version (\S+)/), detail: pick(/(libpcap version \S+)/) });
    default:
      return withDefined({ version: pick(/v?(\d+\.\d+(?:\.\d+)?)/, first) });
  }
}

function withDefined<T extends Record<string, string | undefined>>(o: T): { [K in keyof T]?: string } {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as {
    [K in keyof T]?: string;
  };
}

async function probeTool(io: ProbeIO, tool: { name: string; argv: string[] }): Promise<ToolVersion> {
  const r = await io.run(tool.argv);
  if (!r) return { name: tool.name, found: false };
  const text = `${r.stdout}\n${r.stderr}`;
  const parsed = parseToolVersion(tool.name, text);
  if (r.exitCode !== 0 && !parsed.version) {
    return { name: tool.name, found: true, detail: `\`${tool.argv.join(' ')}\` exited ${r.exitCode}` };
  }
  return { name: tool.name, found: true, ...parsed };
}

/** True when /proc/mounts shows a bpf filesystem at /sys/fs/bpf. */
export function bpffsMounted(procMounts: string | undefined): boolean {
  return (procMounts ?? '').split('\n').some((line) => {
    const [, mountPoint, type] = line.split(' ');
    return mountPoint === '/sys/fs/bpf' && type === 'bpf';
  });
}

async function probeVxlan(
  io: ProbeIO,
  kernelRelease: string,
): Promise<{ vxlan: FeatureState; vxlanDetail?: string }> {
  // A loadable module has an initstate; a built-in one only shows its directory.
  if (await io.exists('/sys/module/vxlan/initstate')) return { vxlan: 'yes', vxlanDetail: 'module loaded' };
  if (await io.exists('/sys/module/vxlan')) return { vxlan: 'yes', vxlanDetail: 'built in' };
  const builtin = await io.read(`/lib/modules/${kernelRelease}/modules.builtin`);
  if (builtin?.includes('/vxlan.ko')) return { vxlan: 'yes', vxlanDetail: 'built in' };
  const dep = await io.read(`/lib/modules/${kernelRelease}/modules.dep`);
  if (dep?.includes('/vxlan.ko')) return { vxlan: 'yes', vxlanDetail: 'module available, not loaded' };
  if (builtin !== undefined || dep !== undefined)
    return { vxlan: 'no', vxlanDetail: 'not built in, no module' };
  return { vxlan: 'unknown', vxlanDetail: 'not loaded and no module list to check' };
}

/** The revision of `bpf/` in a git checkout: last commit touching it, and uncommitted changes. */
export async function probeBpfSource(io: ProbeIO, repoRoot: string): Promise<Environment['bpfSource']> {
  const log = await io.run(['git', 'log', '-1', '--format=%H', '--', 'bpf'], repoRoot);
  if (!log) return { detail: 'git not found' };
  if (log.exitCode !== 0)
    return { detail: `not a git checkout: ${log.stderr.trim().split('\n')[0] ?? ''}`.trim() };
  const commit = log.stdout.trim();
  const status = await io.run(['git', 'status', '--porcelain', '--', 'bpf'], repoRoot);
  const dirty = status && status.exitCode === 0 ? status.stdout.trim() !== '' : undefined;
  const out: Environment['bpfSource'] = {};
  if (/^[0-9a-f]{7,64}$/.test(commit)) out.commit = commit;
  else out.detail = 'bpf/ has no commit yet';
  if (dirty !== undefined) out.dirty = dirty;
  return out;
}

/** Where to look and how. */
export interface EnvironmentOptions {
  /** The checkout whose `bpf/` revision is reported (default: the current directory). */
  repoRoot?: string;
  io?: ProbeIO;
}

/** Probes the machine the run is on. Never throws for a missing tool or file. */
export async function probeEnvironment(options: EnvironmentOptions = {}): Promise<Environment> {
  const io = options.io ?? systemIO;
  const repoRoot = options.repoRoot ?? process.cwd();
  const kernelRelease = release();
  const [mounts, mountinfo, btf, jit, probeRun, vxlan, bpfSource, tools, tunnel] = await Promise.all([
    io.read('/proc/mounts'),
    io.read('/proc/self/mountinfo'),
    io.exists('/sys/kernel/btf/vmlinux'),
    io.read('/proc/sys/net/core/bpf_jit_enable'),
    io.run(['bpftool', '-j', 'feature', 'probe', 'kernel']),
    probeVxlan(io, kernelRelease),
    probeBpfSource(io, repoRoot),
    Promise.all(TOOLS.map((t) => probeTool(io, t))),
    io.tunnel?.(),
  ]);
  const cgroup2Mount = cgroup2MountPoint(parseMountinfo(mountinfo ?? ''));
  let probe: BpftoolFeatures | undefined;
  if (probeRun && probeRun.exitCode === 0) {
    try {
      probe = JSON.parse(probeRun.stdout) as BpftoolFeatures;
    } catch {
      probe = undefined;
    }
  }
  return {
    hostname: hostname(),
    arch: arch(),
    kernel: { release: kernelRelease, version: version(), btf, bpffsMounted: bpffsMounted(mounts) },
    features: kernelFeatures(probe, {
      jitEnable: jit,
      ...vxlan,
      cgroup2: cgroup2Mount !== undefined,
      ...(cgroup2Mount !== undefined ? { cgroup2Mount } : {}),
      release: kernelRelease,
      ...(tunnel ? { tunnelKey: tunnel.key, tunnelPath: tunnel.path } : {}),
    }),
    tools: [...tools, { name: 'node', found: true, version: process.versions.node }],
    bpfSource,
  };
}
