/**
 * How a CLI command finds the cluster it acts on: host checks first, then the run named with
 * `--run` (or the only one up), attached through the provider that made it. A command that
 * changes the cluster is refused while the `dpconform run` that owns it is running.
 */
import {
  abandonedRuns,
  attachCluster,
  describeRun,
  reapAbandoned,
  resolveRun,
  runStatus,
  runStatuses,
} from '../cluster/providers.ts';
import type { Cluster } from '../cluster/types.ts';
import { CliError, EXIT, type Parsed, strOption } from './command.ts';
import { requireClusterHost } from './host.ts';

/** Progress and warnings go to standard error, results to standard output. */
export function logLine(line: string): void {
  process.stderr.write(`${line}\n`);
}

/** What a command does to the cluster: reading is always allowed, changing only if nobody is at work on it. */
export type Access = 'read' | 'change';

/** The run a command means: the one `--run` names (which must exist), or the only one up. */
export async function chooseRun(args: Parsed): Promise<string> {
  const asked = strOption(args, 'run');
  if (asked === undefined) {
    try {
      return await resolveRun(undefined);
    } catch (err) {
      throw new CliError(err instanceof Error ? err.message : String(err), EXIT.failed);
    }
  }
  const runs = await runStatuses();
  if (!runs.some((r) => r.runId === asked)) {
    const up = runs.length > 0 ? `clusters up: ${runs.map(describeRun).join(', ')}` : 'no cluster is up';
    throw new CliError(`no cluster with run id ${asked} (${up})`, EXIT.failed);
  }
  return asked;
}

/**
 * Refuses to change a cluster whose owner is still at work on it (a `dpconform run` in
 * progress, an `up` still bringing it up) unless `--run ID --force` names it.
 */
export async function requireFreeToChange(runId: string, args: Parsed, command: string): Promise<void> {
  const s = await runStatus(runId);
  if (s.state !== 'alive' || !s.owner || s.owner.kept) return;
  const owner = `${s.owner.command} (pid ${s.owner.pid})`;
  if (args.values.force === true && strOption(args, 'run') === runId) {
    logLine(`warning: changing run ${runId} while ${owner} is at work on it (--force)`);
    return;
  }
  throw new CliError(
    `run ${runId} belongs to ${owner}, which is still running: ${command} is refused so as not to disturb it; wait for it to end, or use --run ${runId} --force`,
    EXIT.failed,
  );
}

/** Names the runs whose owner is gone and how to remove them. */
export async function warnAbandoned(): Promise<void> {
  for (const r of await abandonedRuns()) {
    logLine(
      `warning: run ${describeRun(r)} was abandoned by its owner: remove it with \`dpconform down --run ${r.runId}\` (the next \`dpconform run\` or \`up\` removes it too)`,
    );
  }
}

/** The cluster a command means, attached; `change` checks that nobody else is at work on it. */
export async function attachFromArgs(
  args: Parsed,
  access: Access = 'read',
  command = 'this command',
): Promise<Cluster> {
  await requireClusterHost();
  const runId = await chooseRun(args);
  if (access === 'change') await requireFreeToChange(runId, args, command);
  return attachCluster(runId, logLine);
}

/**
 * Before a command makes a cluster: removes the runs whose owner is gone, as a reaper does, and
 * says what went (unless `--no-reap`, when it only names them).
 */
export async function reapAbandonedFirst(args: Parsed): Promise<void> {
  if (args.values['no-reap'] === true) return warnAbandoned();
  for (const { run, removed } of await reapAbandoned()) {
    logLine(
      `removed abandoned run ${describeRun(run)}: ${removed.length > 0 ? removed.join(', ') : 'nothing was left'}`,
    );
  }
}
