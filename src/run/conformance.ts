/**
 * One conformance run: check the host, build the dataplane, bring one cluster up, run the
 * suites in every mode asked for, write the report, tear down.
 */
import { fileURLToPath } from 'node:url';
import { startVitest } from 'vitest/node';
import { newRunId, startCluster } from '../cluster/providers.ts';
import type { Cluster, ProviderName } from '../cluster/types.ts';
import { buildBpf, mapSizesFrom } from '../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../k8s/felix-settings.ts';
import { probeEnvironment } from '../report/environment.ts';
import { finalizeRun, type Pass, type PassMode, type Run } from '../report/model.ts';
import { ProgressReporter } from '../report/progress.ts';
import { ConformanceReporter } from '../report/reporter.ts';
import { reportDir, writeReport } from '../report/write.ts';
import { suiteFile } from './suites.ts';

/** The repository root. */
export const REPO_ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** What a run was asked to do. */
export interface ConformanceOptions {
  areas: string[];
  passes: PassMode[];
  nodes: number;
  /** Which provider builds the cluster. */
  provider: ProviderName;
  reportsRoot: string;
  /** Leave the cluster up after the run. */
  keep: boolean;
  /** Extra manifests (e.g. a FelixConfiguration) applied before the first pass. */
  manifests: string[];
  argv: string[];
  log: (line: string) => void;
  /** Use this run id (default: a fresh one), so a caller can clean up even after a timeout. */
  runId?: string;
  /** Where progress goes (a TTY gets the live layout). */
  out?: NodeJS.WriteStream;
}

/** What came of a run. */
export interface ConformanceOutcome {
  run: Run;
  reportDir: string;
  files: string[];
  /** The cluster, when it was kept. */
  keptRunId?: string;
}

/** Runs the suites for one pass on an up cluster and gathers the pass. */
export async function runPass(
  cluster: Cluster,
  mode: PassMode,
  opts: Pick<ConformanceOptions, 'areas' | 'out'>,
): Promise<Pass> {
  const conformance = new ConformanceReporter({ mode, root: REPO_ROOT });
  const progress = new ProgressReporter({ mode, ...(opts.out ? { stream: opts.out } : {}) });
  const previous = process.exitCode;
  const vitest = await startVitest(
    'test',
    opts.areas.map((a) => suiteFile(a)),
    {
      root: REPO_ROOT,
      config: false,
      watch: false,
      include: ['suites/**/*.test.ts'],
      reporters: [conformance, progress],
      // One cluster, shared: suites take turns rather than racing each other's Services.
      fileParallelism: false,
      pool: 'forks',
      testTimeout: 90_000,
      hookTimeout: 120_000,
      env: { DPCONFORM_RUN_ID: cluster.runId },
    },
    {},
    { stdout: opts.out ?? process.stdout },
  );
  await vitest.close();
  // vitest sets the process exit code for its own run; the verdict decides ours.
  process.exitCode = previous;
  return conformance.pass();
}

/** Brings the cluster into a pass's mode: its dataplane and its external service mode. */
async function enterMode(cluster: Cluster, mode: PassMode): Promise<void> {
  const { settings } = cluster.settings();
  const bpfEnabled = mode.dataplane === 'bpf';
  if (settings.bpfEnabled === bpfEnabled && settings.bpfExternalServiceMode === mode.serviceMode) return;
  // One patch, so a change of dataplane and service mode together reinstalls once.
  await cluster.patchFelix({ bpfEnabled, bpfExternalServiceMode: mode.serviceMode });
}

/** Performs a whole conformance run. Bring-up failures throw; suite failures land in the report. */
export async function runConformance(opts: ConformanceOptions): Promise<ConformanceOutcome> {
  const runId = opts.runId ?? newRunId();
  const startedAt = new Date().toISOString();
  opts.log(`run ${runId}: probing the environment`);
  const environment = await probeEnvironment({ repoRoot: REPO_ROOT });
  const first = opts.passes[0];
  if (!first) throw new Error('nothing to run: no pass was asked for');
  if (opts.passes.some((p) => p.dataplane === 'bpf')) {
    opts.log('building the dataplane from bpf/');
    await buildBpf({ sizes: mapSizesFrom(DEFAULT_FELIX_SETTINGS) });
  }
  opts.log(`bringing up ${opts.nodes} nodes (${opts.provider} provider, ${first.dataplane} dataplane)`);
  const cluster = await startCluster(opts.provider, {
    runId,
    nodes: opts.nodes,
    // A second client gives the DSR opt-out test an address of its own.
    clients: 2,
    dataplane: first.dataplane,
    settings: { bpfEnabled: first.dataplane === 'bpf', bpfExternalServiceMode: first.serviceMode },
    log: opts.log,
    persistent: opts.keep,
  });
  const passes: Pass[] = [];
  try {
    for (const m of opts.manifests) await cluster.apply(m);
    for (const mode of opts.passes) {
      await enterMode(cluster, mode);
      passes.push(await runPass(cluster, mode, opts));
    }
  } finally {
    if (!opts.keep) await cluster.down();
  }
  const run = finalizeRun({
    schemaVersion: 1,
    runId,
    startedAt,
    endedAt: new Date().toISOString(),
    environment,
    config: {
      provider: cluster.provider,
      nodeCount: opts.nodes,
      settings: { ...cluster.settings().settings },
      warnings: cluster.settings().warnings,
      areas: opts.areas,
      argv: opts.argv,
    },
    passes,
  });
  const dir = reportDir(opts.reportsRoot, runId);
  const files = await writeReport(dir, run);
  return { run, reportDir: dir, files: Object.values(files), ...(opts.keep ? { keptRunId: runId } : {}) };
}
