/**
 * The host checks every cluster command makes before it touches anything: the same checks and
 * the same words as a run's preflight, limited to what a cluster command needs.
 */
import { preflight, preflightProblems } from '../sys/preflight.ts';
import { CliError, EXIT } from './command.ts';

/**
 * Fails with the one "not root" line every command uses, before any command reads a cluster or
 * writes anything.
 */
export function requireRoot(): void {
  const uid = process.geteuid?.();
  if (process.platform === 'linux' && uid === 0) return;
  const [problem] = preflightProblems({ platform: process.platform, uid, bpffsMounted: true, missing: [] });
  if (problem) throw new CliError(problem, EXIT.cannotStart);
}

/** Fails with one line unless this is Linux, we are root, bpffs is there and the cluster's tools are present. */
export async function requireClusterHost(): Promise<void> {
  const problems = await preflight({ scope: 'cluster' });
  if (problems.length > 0) {
    throw new CliError(
      `${problems[0]}${problems.length > 1 ? ` (and ${problems.length - 1} more problem(s))` : ''}`,
      EXIT.cannotStart,
    );
  }
}
