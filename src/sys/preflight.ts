/**
 * Checks, before a run starts, that this machine can run it at all: root, Linux, bpffs, and the
 * tools the harness calls. Each problem is one line that says what to do about it.
 */
import { readFile } from 'node:fs/promises';
import { haveCommand } from './exec.ts';

/** What the coming work needs. */
export interface PreflightNeeds {
  /** Which provider will build the cluster (docker needs docker; kind, docker and kind). Default `netns`. */
  provider?: 'netns' | 'docker' | 'kind';
  /**
   * `run` (default): a conformance run, which builds the dataplane and captures packets;
   * `cluster`: a command acting on a cluster that is up (or bringing one up without a run).
   */
  scope?: 'run' | 'cluster';
  /** Commands needed beyond the usual ones. */
  tools?: readonly string[];
}

/** Every host command the harness calls, with the Debian package that brings it. */
export const HOST_TOOLS: Readonly<Record<string, string>> = {
  clang: 'clang',
  bpftool: 'bpftool',
  tc: 'iproute2',
  ip: 'iproute2',
  tcpdump: 'tcpdump',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
  nsenter: 'util-linux',
  sysctl: 'procps',
};

/** The commands every run calls. */
export const REQUIRED_TOOLS: readonly string[] = Object.keys(HOST_TOOLS);

/** The commands a cluster command calls (no build, no capture). */
export const CLUSTER_TOOLS: readonly string[] = [
  'ip',
  'nsenter',
  'sysctl',
  'iptables',
  'iptables-restore',
  'bpftool',
  'tc',
];

/** What to do when a command is missing. */
function installHint(tool: string): string {
  const pkg = HOST_TOOLS[tool];
  if (pkg) return `run scripts/setup.sh (installs ${pkg} from Debian)`;
  if (tool === 'docker')
    return 'run scripts/setup.sh (installs docker.io and mmdebstrap from Debian), or use the netns provider (`--provider netns`)';
  if (tool === 'kind')
    return 'install kind (https://kind.sigs.k8s.io), or use the netns provider (`--provider netns`)';
  return `install ${tool} and make sure it is on PATH`;
}

/** What was found on the machine. */
export interface MachineFacts {
  platform: string;
  /** Effective uid, or undefined where there is none (not POSIX). */
  uid: number | undefined;
  bpffsMounted: boolean;
  /** Commands asked for that are not on PATH. */
  missing: readonly string[];
}

/** The commands a run with these needs calls. */
export function toolsFor(needs: PreflightNeeds = {}): string[] {
  const base = needs.scope === 'cluster' ? CLUSTER_TOOLS : REQUIRED_TOOLS;
  const extra =
    needs.provider === 'kind' ? ['docker', 'kind'] : needs.provider === 'docker' ? ['docker'] : [];
  return [...new Set([...base, ...extra, ...(needs.tools ?? [])])];
}

/** The problems with a machine, one actionable line each (empty when it is ready). */
export function preflightProblems(facts: MachineFacts): string[] {
  if (facts.platform !== 'linux') {
    return [`dpconform needs Linux with eBPF (this is ${facts.platform}): run it on a Linux machine or VM`];
  }
  const problems: string[] = [];
  if (facts.uid !== 0) {
    problems.push(
      `not running as root (uid ${facts.uid ?? 'unknown'}): run dpconform with sudo, it creates network namespaces, loads BPF programs and pins maps`,
    );
  }
  if (!facts.bpffsMounted) {
    problems.push('bpffs is not mounted at /sys/fs/bpf: run `mount -t bpf bpf /sys/fs/bpf` as root');
  }
  for (const tool of facts.missing) {
    problems.push(`${tool} not found: ${installHint(tool)}`);
  }
  return problems;
}

/** Checks this machine for a run; returns one line per problem, empty when it is ready. */
export async function preflight(needs: PreflightNeeds = {}): Promise<string[]> {
  const platform = process.platform;
  if (platform !== 'linux')
    return preflightProblems({ platform, uid: undefined, bpffsMounted: false, missing: [] });
  const tools = toolsFor(needs);
  const [mounts, found] = await Promise.all([
    readFile('/proc/mounts', 'utf8').catch(() => ''),
    Promise.all(tools.map((t) => haveCommand(t).catch(() => false))),
  ]);
  const bpffsMounted = mounts.split('\n').some((line) => {
    const [, mountPoint, type] = line.split(' ');
    return mountPoint === '/sys/fs/bpf' && type === 'bpf';
  });
  return preflightProblems({
    platform,
    uid: process.geteuid?.(),
    bpffsMounted,
    missing: tools.filter((_, i) => !found[i]),
  });
}
