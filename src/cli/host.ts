/**
 * The host checks every cluster command makes before it touches anything.
 */
import { haveCommand } from '../sys/exec.ts';
import { CliError, EXIT } from './command.ts';

/** Tools a netns cluster cannot do without, with the Debian package that brings each. */
const CLUSTER_TOOLS: Record<string, string> = {
  ip: 'iproute2',
  nsenter: 'util-linux',
  sysctl: 'procps',
  iptables: 'iptables',
  'iptables-restore': 'iptables',
};

/** Fails with one line unless this is Linux, we are root, and the cluster's tools are present. */
export async function requireClusterHost(): Promise<void> {
  if (process.platform !== 'linux') {
    throw new CliError(
      `dpconform needs Linux (network namespaces, eBPF); this is ${process.platform}`,
      EXIT.cannotStart,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new CliError(
      'dpconform needs root to create network namespaces and load eBPF: run it with sudo',
      EXIT.cannotStart,
    );
  }
  for (const [tool, pkg] of Object.entries(CLUSTER_TOOLS)) {
    if (!(await haveCommand(tool))) {
      throw new CliError(
        `${tool} not found: run scripts/setup.sh (installs the Debian package ${pkg})`,
        EXIT.cannotStart,
      );
    }
  }
}
