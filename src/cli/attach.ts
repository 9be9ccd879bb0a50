/**
 * How a CLI command finds the cluster it acts on: host checks first, then the run named with
 * `--run` (or the only one up), attached through the provider that made it.
 */
import { attachCluster, resolveRun } from '../cluster/providers.ts';
import type { Cluster } from '../cluster/types.ts';
import { type Parsed, strOption } from './command.ts';
import { requireClusterHost } from './host.ts';

/** Progress and warnings go to standard error, results to standard output. */
export function logLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** The cluster a command means, attached. */
export async function attachFromArgs(args: Parsed): Promise<Cluster> {
  await requireClusterHost();
  return attachCluster(await resolveRun(strOption(args, 'run')), logLine);
}
