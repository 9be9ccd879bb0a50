/**
 * The provider factory: the one place that knows which providers exist and how to start, attach
 * to and reap clusters on each. The run and the CLI go through here and never import a provider.
 */
import { kindAvailability } from './kind/availability.ts';
import { netnsProvider } from './netns/provider.ts';
import type { Provider, ReapReport } from './provider.ts';
import { ClusterRuntime, type StartClusterOptions } from './runtime.ts';
import { listRuns, removeState } from './state.ts';
import { type Cluster, PROVIDER_NAMES, type ProviderName } from './types.ts';

/** A provider that exists but cannot run on this host; the message says what is missing. */
export class ProviderUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProviderUnavailableError';
  }
}

/** The provider `--provider` names; an unknown name is an error listing the known ones. */
export function parseProvider(text: string | undefined): ProviderName {
  const name = (text ?? PROVIDER_NAMES[0]) as ProviderName;
  if (!PROVIDER_NAMES.includes(name))
    throw new Error(`unknown provider "${text}" (providers: ${PROVIDER_NAMES.join(', ')})`);
  return name;
}

/** The provider of that name, or a {@link ProviderUnavailableError} saying why it cannot run here. */
export async function providerFor(name: ProviderName): Promise<Provider> {
  if (name === 'netns') return netnsProvider;
  const kind = await kindAvailability();
  throw new ProviderUnavailableError(
    kind.available
      ? 'the kind provider can create clusters (dpconform up is not wired to it yet); use --provider netns'
      : `kind provider unavailable on this host: ${kind.reason}`,
  );
}

/** Providers whose leftovers this host can hold (a reap of every run asks each of them). */
function reapable(): Provider[] {
  return [netnsProvider];
}

/** Brings up a cluster on the named provider. */
export async function startCluster(provider: ProviderName, opts: StartClusterOptions = {}): Promise<Cluster> {
  return ClusterRuntime.start(await providerFor(provider), opts);
}

/** Attaches to a run another process (or this one) brought up. */
export function attachCluster(runId: string, log: (line: string) => void = () => {}): Promise<Cluster> {
  return ClusterRuntime.attach(
    (name) => {
      if (name !== 'netns') throw new ProviderUnavailableError(`run ${runId} was made by provider ${name}`);
      return netnsProvider;
    },
    runId,
    log,
  );
}

/** What removing leftovers found, per provider, plus the runs' state directories. */
export interface ReapSummary {
  removed: string[];
  runs: string[];
}

/**
 * Removes what a run (or, without an id, every run) left behind on every provider this host has,
 * and the runs' state directories.
 */
export async function reapRuns(runId?: string): Promise<ReapSummary> {
  const reports: ReapReport[] = await Promise.all(reapable().map((p) => p.reap(runId)));
  const existing = await listRuns();
  const states = runId ? existing.filter((id) => id === runId) : existing;
  for (const id of states) await removeState(id);
  const removed = reports.flatMap((r) => r.removed);
  if (states.length > 0) removed.push(`${states.length} state director${states.length === 1 ? 'y' : 'ies'}`);
  const runs = [...new Set([...reports.flatMap((r) => r.runs), ...states])].sort();
  return { removed, runs };
}

export { newRunId } from './run-id.ts';
export type { StartClusterOptions } from './runtime.ts';
export { resolveRun } from './state.ts';
