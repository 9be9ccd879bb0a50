/**
 * Checks, before a run starts, that this machine can run it at all: root, Linux, bpffs, and the
 * tools the harness calls. Each problem is one line that says what to do about it.
 */
import { readFile } from 'node:fs/promises';
import { haveCommand } from './exec.ts';

/** What the coming run needs. */
export interface PreflightNeeds {
  /** Which provider will build the cluster (kind also needs docker and kind). Default `netns`. */
  provider?: 'netns' | 'kind';
  /** Commands needed beyond the usual ones. */
  tools?: readonly string[];
}

/** The commands every run calls. */
export const REQUIRED_TOOLS: readonly string[] = [
  'clang',
  'bpftool',
  'tc',
  'ip',
  'tcpdump',
  'iptables',
  'nsenter',
];

/** What to do when a command is missing. */
const INSTALL_HINT: Record<string, string> = {
  clang: 'run scripts/setup.sh (installs clang from Debian)',
  bpftool: 'run scripts/setup.sh (installs bpftool from Debian)',
  tc: 'run scripts/setup.sh (installs iproute2 from Debian)',
  ip: 'run scripts/setup.sh (installs iproute2 from Debian)',
  tcpdump: 'run scripts/setup.sh (installs tcpdump from Debian)',
  iptables: 'run scripts/setup.sh (installs iptables from Debian)',
  nsenter: 'run scripts/setup.sh (installs util-linux from Debian)',
  docker: 'install Docker, or use the netns provider (`--provider netns`)',
  kind: 'install kind (https://kind.sigs.k8s.io), or use the netns provider (`--provider netns`)',
};

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
  const extra = needs.provider === 'kind' ? ['docker', 'kind'] : [];
  return [...new Set([...REQUIRED_TOOLS, ...extra, ...(needs.tools ?? [])])];
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
    problems.push(
      `${tool} not found: ${INSTALL_HINT[tool] ?? `install ${tool} and make sure it is on PATH`}`,
    );
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
