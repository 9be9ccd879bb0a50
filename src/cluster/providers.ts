/**
 * The provider factory: the one place that knows which providers exist and how to start, attach
 * to and reap clusters on each. The run and the CLI go through here and never import a provider.
 */
import type { FelixSettings } from '../k8s/felix-settings.ts';
import { stopProcesses } from '../sys/process.ts';
import { ControlPlane } from './control-plane.ts';
import { dockerAvailability } from './docker/engine.ts';
import { dockerProvider } from './docker/provider.ts';
import { kindMissing } from './kind/requirements.ts';
import { netnsProvider } from './netns/provider.ts';
import type { ClusterSize, Provider, ReapReport } from './provider.ts';
import { ClusterRuntime, type OwnedCluster, type StartClusterOptions } from './runtime.ts';
import { listRuns, type RunStatus, removeState, runProcesses, runStatuses } from './state.ts';
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
  if (name === 'docker') {
    const docker = await dockerAvailability();
    if (!docker.available)
      throw new ProviderUnavailableError(`docker provider unavailable on this host: ${docker.reason}`);
    return dockerProvider;
  }
  const missing = await kindMissing();
  throw new ProviderUnavailableError(
    missing.length === 0
      ? 'the kind provider does not yet run clusters (its pods and objects would come from the API server); use --provider docker'
      : `kind provider unavailable on this host: ${missing.join('; ')}`,
  );
}

/** Providers whose leftovers this host can hold (a reap of every run asks each of them). */
function reapable(): Provider[] {
  return [netnsProvider, dockerProvider];
}

/** Brings up a cluster on the named provider. */
export async function startCluster(
  provider: ProviderName,
  opts: StartClusterOptions = {},
): Promise<OwnedCluster> {
  return ClusterRuntime.start(await providerFor(provider), opts);
}

/** Input a start was given that cannot work; found before anything is built. */
export class StartInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StartInputError';
  }
}

/** What a start will be asked for, checked whole before the host is touched. */
export interface StartRequest extends Pick<ClusterSize, 'nodes'>, Partial<Pick<ClusterSize, 'clients'>> {
  /** Manifest files or directories to apply once up, in order. */
  manifests: readonly string[];
  /** Settings the cluster starts from. */
  settings?: Partial<FelixSettings>;
}

/**
 * Checks a start before anything is built: the size against the provider's limits, and every
 * manifest read, validated and applied, in order, to an empty control plane of that size (so a
 * clash between files is found too). Bad input throws a {@link StartInputError} or the
 * manifest's own one-line error.
 */
export async function checkStart(provider: ProviderName, req: StartRequest): Promise<void> {
  const p = await providerFor(provider);
  const { maxNodes, maxClients } = p.limits;
  if (!Number.isInteger(req.nodes) || req.nodes < 1 || req.nodes > maxNodes)
    throw new StartInputError(
      `--nodes must be from 1 to ${maxNodes} on the ${provider} provider, got ${req.nodes}`,
    );
  const clients = req.clients ?? 1;
  if (!Number.isInteger(clients) || clients < 1 || clients > maxClients)
    throw new StartInputError(
      `--clients must be from 1 to ${maxClients} on the ${provider} provider, got ${clients}`,
    );
  const nodes = p.plan('000000', { nodes: req.nodes, clients }).nodes.map((n) => ({
    name: n.name,
    index: n.index,
    ip: n.ip,
    podCidr: n.podCidr,
  }));
  const control = ControlPlane.empty(req.settings);
  let model = control.reconcile(nodes, undefined).model;
  for (const source of req.manifests) {
    await control.apply(source, nodes, model);
    model = control.reconcile(nodes, model).model;
  }
}

/** Attaches to a run another process (or this one) brought up. */
export function attachCluster(runId: string, log: (line: string) => void = () => {}): Promise<Cluster> {
  return ClusterRuntime.attach(
    (name) => {
      if (name === 'netns') return netnsProvider;
      if (name === 'docker') return dockerProvider;
      throw new ProviderUnavailableError(`run ${runId} was made by provider ${name}`);
    },
    runId,
    log,
  );
}

/** What removing leftovers found, per provider, plus the runs' processes and state directories. */
export interface ReapSummary {
  removed: string[];
  runs: string[];
}

/**
 * Removes what a run (or, without an id, every run) left behind on every provider this host has,
 * the processes that name the run on their command line (agents, metrics servers, the suites'
 * runner), and the runs' state directories.
 */
export async function reapRuns(runId?: string): Promise<ReapSummary> {
  const existing = await listRuns();
  const states = runId ? existing.filter((id) => id === runId) : existing;
  const pids = (await Promise.all(states.map(runProcesses))).flat();
  // Processes first: a runner still at work would otherwise make places behind the reaper.
  await stopProcesses(pids);
  const reports: ReapReport[] = await Promise.all(reapable().map((p) => p.reap(runId)));
  for (const id of states) await removeState(id);
  const removed: string[] = [];
  if (pids.length > 0) removed.push(`${pids.length} process${pids.length === 1 ? '' : 'es'}`);
  removed.push(...reports.flatMap((r) => r.removed));
  if (states.length > 0) removed.push(`${states.length} state director${states.length === 1 ? 'y' : 'ies'}`);
  const runs = [...new Set([...reports.flatMap((r) => r.runs), ...states])].sort();
  return { removed, runs };
}

/** Runs whose owner is gone (killed, or the machine rebooted) and that nobody kept. */
export async function abandonedRuns(): Promise<RunStatus[]> {
  return (await runStatuses()).filter((r) => r.state === 'gone');
}

/** An abandoned run that was reaped, and what it left. */
export interface ReapedRun {
  run: RunStatus;
  removed: string[];
}

/**
 * Reaps every abandoned run, as a reaper does by label: runs still owned, kept, or made without
 * an owner record are left alone.
 */
export async function reapAbandoned(): Promise<ReapedRun[]> {
  const reaped: ReapedRun[] = [];
  for (const run of await abandonedRuns()) {
    reaped.push({ run, removed: (await reapRuns(run.runId)).removed });
  }
  return reaped;
}

export { buildNodeImage, type NodeImageBuild } from './docker/image.ts';
export { newRunId } from './run-id.ts';
export type { OwnedCluster, StartClusterOptions } from './runtime.ts';
export { describeRun, type RunStatus, resolveRun, runStatus, runStatuses } from './state.ts';
