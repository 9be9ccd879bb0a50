/**
 * One conformance run: check the host, build the dataplane, bring one cluster up, run the
 * suites in every mode asked for, write the report, tear down. Interrupted at any point, it
 * removes what it made before the process exits.
 */
import { rmSync } from 'node:fs';
import { mkdir, open, readFile, rm, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { interruptedBy, onInterrupt, throwIfInterrupted } from '../cluster/cleanup.ts';
import { newRunId, startCluster } from '../cluster/providers.ts';
import { stateDir } from '../cluster/state.ts';
import type { Cluster, ProviderName } from '../cluster/types.ts';
import { buildBpf, mapSizesFrom } from '../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../k8s/felix-settings.ts';
import { probeEnvironment } from '../report/environment.ts';
import {
  DEFAULT_EVIDENCE_CAP_BYTES,
  discardEvidence,
  discardEvidenceNow,
  EVIDENCE_PASS_ENV,
  EVIDENCE_ROOT_ENV,
  type EvidenceOptions,
  passDirName,
  settleEvidence,
} from '../report/evidence-files.ts';
import {
  finalizeRun,
  type Pass,
  type PassMode,
  type Run,
  SCHEMA_VERSION,
  type TimeScale,
} from '../report/model.ts';
import { ProgressReporter } from '../report/progress.ts';
import { ConformanceReporter } from '../report/reporter.ts';
import { reportDir, writeReport } from '../report/write.ts';
import { start } from '../sys/exec.ts';
import { processAlive, signalProcess } from '../sys/process.ts';
import { scaled, timeScaleInEffect } from '../sys/time-scale.ts';
import { modeProblems, observeMode } from './pass-mode.ts';
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
  /** Which evidence files to keep beside the report, and the most bytes of them (default: all, 256 MiB). */
  evidence?: EvidenceOptions;
  /** How the time scale in effect was arrived at (default: as the environment gives it). */
  timeScale?: TimeScale;
}

/** What came of a run. */
export interface ConformanceOutcome {
  run: Run;
  reportDir: string;
  files: string[];
  /** The cluster, when it was kept. */
  keptRunId?: string;
}

/** This module: run as a program, it is the suites' runner for one pass. */
const RUNNER_SCRIPT = fileURLToPath(import.meta.url);

/** What the suites' runner is asked to do. */
interface PassRequest {
  runId: string;
  mode: PassMode;
  areas: string[];
  /** The progress layout the run's output stream wants. */
  tty: boolean;
  columns: number | undefined;
  /** Where the runner writes the pass. */
  passFile: string;
  /** The report directory the suites write evidence files into, when the run keeps them. */
  evidenceRoot?: string;
  /** A copy of the project whose suites (and the code they import) run instead of this one. */
  root?: string;
  /** Only these requirement ids run (the others are not reported). */
  only?: string[];
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
let passesStarted = 0;

/**
 * Runs the suites for one pass on an up cluster and gathers the pass. vitest runs in a process
 * group of its own: it handles SIGINT and SIGTERM itself by exiting at once, so it must not run
 * in the process that tears down, and an interrupt stops it whole (suite workers, captures)
 * before the cluster goes, so that nothing acts on the cluster behind the teardown.
 */
export async function runPass(
  cluster: Cluster,
  mode: PassMode,
  opts: Pick<ConformanceOptions, 'areas' | 'out'> & {
    evidenceRoot?: string;
    /** A copy of the project whose suites run instead of this one's (the self-test's). */
    root?: string;
    /** Only these requirement ids run. */
    only?: string[];
  },
): Promise<Pass> {
  throwIfInterrupted();
  // Under the run's state directory, so that a teardown or reaper removes it whatever happens.
  const dir = join(stateDir(cluster.runId), 'suites');
  const name = join(dir, `pass-${process.pid}-${++passesStarted}`);
  const out = opts.out ?? process.stdout;
  const request: PassRequest = {
    runId: cluster.runId,
    mode,
    areas: opts.areas,
    tty: out.isTTY === true,
    columns: out.columns,
    passFile: `${name}.result.json`,
    ...(opts.evidenceRoot ? { evidenceRoot: opts.evidenceRoot } : {}),
    ...(opts.root ? { root: opts.root } : {}),
    ...(opts.only ? { only: opts.only } : {}),
  };
  await mkdir(join(dir, 'tmp'), { recursive: true });
  await writeFile(`${name}.request.json`, JSON.stringify(request));
  const runner = start([process.execPath, RUNNER_SCRIPT, `${name}.request.json`], {
    detached: true,
    logFile: `${name}.log`,
    // Scratch files of the suites (captures) go where the teardown removes them.
    env: { TMPDIR: join(dir, 'tmp') },
  });
  const unregister = onInterrupt({
    label: `the suites (pass ${mode.dataplane}/${mode.serviceMode})`,
    run: () => stopGroup(runner.pid),
    left: () => `the suites' runner (process group ${runner.pid}) stops by itself once this process is gone`,
  });
  const forward = forwardOutput(`${name}.log`, out);
  try {
    const exit = await runner.exited;
    await forward.stop();
    throwIfInterrupted();
    const text = await readFile(request.passFile, 'utf8').catch(() => undefined);
    if (text === undefined)
      throw new Error(
        `the suites' runner exited ${exit.exitCode}${exit.stderr ? ` (${exit.stderr})` : ''} without a result (its output is above)`,
      );
    return JSON.parse(text) as Pass;
  } finally {
    unregister();
    await forward.stop();
    await Promise.all(
      ['.request.json', '.result.json', '.log'].map((ext) => rm(`${name}${ext}`, { force: true })),
    );
  }
}

/** Stops a process group: SIGTERM, a grace period, then SIGKILL, until none of it is left. */
async function stopGroup(pgid: number, graceMs = 3000): Promise<void> {
  for (const [signal, withinMs] of [
    ['SIGTERM', graceMs],
    ['SIGKILL', 2000],
  ] as const) {
    if (!processAlive(-pgid)) return;
    signalProcess(-pgid, signal);
    const deadline = performance.now() + withinMs;
    while (processAlive(-pgid) && performance.now() < deadline) await sleep(20);
  }
}

/** Copies what a file gains to a stream while a process writes it, until stopped. */
function forwardOutput(file: string, out: NodeJS.WritableStream): { stop(): Promise<void> } {
  let offset = 0;
  let pumping: Promise<void> = Promise.resolve();
  const pump = async () => {
    const fh = await open(file, 'r').catch(() => undefined);
    if (!fh) return;
    try {
      const buf = Buffer.alloc(64 * 1024);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) return;
        offset += bytesRead;
        out.write(Buffer.from(buf.subarray(0, bytesRead)));
      }
    } finally {
      await fh.close();
    }
  };
  const timer = setInterval(() => {
    pumping = pumping.then(pump);
  }, 100);
  return {
    stop: () => {
      clearInterval(timer);
      pumping = pumping.then(pump);
      return pumping;
    },
  };
}

/** One pass, in the runner: vitest with the conformance and progress reporters. */
async function runSuites(req: PassRequest): Promise<Pass> {
  const root = req.root ?? REPO_ROOT;
  const conformance = new ConformanceReporter({ mode: req.mode, root });
  const stream = Object.assign(
    new Writable({ write: (chunk, _enc, cb) => void process.stdout.write(chunk, () => cb()) }),
    { isTTY: req.tty, columns: req.columns },
  );
  const progress = new ProgressReporter({ mode: req.mode, stream, tty: req.tty });
  // Only the runner needs vitest: every other command starts without loading it.
  const { startVitest } = await import('vitest/node');
  const vitest = await startVitest(
    'test',
    req.areas.map((a) => suiteFile(a, join(root, 'suites'))),
    {
      root,
      ...(req.only ? { testNamePattern: requirementPattern(req.only) } : {}),
      config: false,
      watch: false,
      include: ['suites/**/*.test.ts'],
      reporters: [conformance, progress],
      // One cluster, shared: suites take turns rather than racing each other's Services.
      fileParallelism: false,
      pool: 'forks',
      // Stretched by the time scale, so that a slow machine is not taken for a broken kernel.
      testTimeout: scaled(90_000),
      hookTimeout: scaled(120_000),
      env: {
        DPCONFORM_RUN_ID: req.runId,
        ...(req.evidenceRoot
          ? { [EVIDENCE_ROOT_ENV]: req.evidenceRoot, [EVIDENCE_PASS_ENV]: passDirName(req.mode) }
          : {}),
      },
    },
    {},
    { stdout: process.stdout },
  );
  await vitest.close();
  return conformance.pass();
}

/** Matches the tests of the given requirement ids (a test is named `<describe> <ID>: <statement>`). */
export function requirementPattern(ids: readonly string[]): RegExp {
  const escaped = ids.map((id) => id.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`(^| )(${escaped.join('|')}):`);
}

/** The runner's life: one pass, its result in a file; it never outlives the run that started it. */
async function runnerMain(requestFile: string): Promise<void> {
  const req = JSON.parse(await readFile(requestFile, 'utf8')) as PassRequest;
  // A run killed outright (SIGKILL) cannot stop us: go with it, workers and captures included,
  // rather than keep acting on a cluster that the next command will reap.
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) signalProcess(-process.pid, 'SIGKILL');
  }, 250).unref();
  const pass = await runSuites(req);
  await writeFile(req.passFile, JSON.stringify(pass));
  process.exit(0);
}

/**
 * Runs a pass only when the nodes are in its mode, read from the nodes themselves; either way
 * the pass records the mode seen and the settings in force.
 */
export async function labelledPass(
  cluster: Cluster,
  mode: PassMode,
  run: () => Promise<Pass>,
): Promise<Pass> {
  const settings = { ...cluster.settings().settings };
  const observed = await observeMode(cluster);
  const problems = modeProblems(mode, observed);
  if (problems.length > 0) {
    return {
      mode,
      startedAt: new Date().toISOString(),
      durationMs: 0,
      verdict: 'error',
      areas: [],
      problems,
      settings,
      observed,
    };
  }
  return { ...(await run()), settings, observed };
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
    owner: 'dpconform run',
  });
  const passes: Pass[] = [];
  let startSettings: Record<string, unknown> | undefined;
  const evidence = opts.evidence ?? { policy: 'all', capBytes: DEFAULT_EVIDENCE_CAP_BYTES };
  // Absolute: the suites' processes write evidence files there, whatever their directory.
  const dir = resolve(reportDir(opts.reportsRoot, runId));
  // Evidence files of a run that ends without its report go with it.
  const unregisterEvidence = onInterrupt({
    label: `evidence files in ${dir}`,
    run: () => discardEvidence(dir),
    now: () => discardEvidenceNow(dir),
  });
  try {
    for (const m of opts.manifests) await cluster.apply(m);
    startSettings = { ...cluster.settings().settings };
    for (const mode of opts.passes) {
      throwIfInterrupted();
      await enterMode(cluster, mode);
      passes.push(
        await labelledPass(cluster, mode, () =>
          runPass(cluster, mode, {
            ...opts,
            ...(evidence.policy !== 'none' ? { evidenceRoot: dir } : {}),
          }),
        ),
      );
    }
  } catch (err) {
    unregisterEvidence();
    await discardEvidence(dir);
    throw err;
  } finally {
    // Kept only once the run is over: until then an interrupt or a killed run removes it.
    if (!opts.keep || interruptedBy()) await cluster.down();
  }
  if (opts.keep) await cluster.keep();
  const finished = finalizeRun({
    schemaVersion: SCHEMA_VERSION,
    runId,
    startedAt,
    endedAt: new Date().toISOString(),
    environment,
    config: {
      provider: cluster.provider,
      ...(cluster.topology().nodeImage ? { nodeImage: cluster.topology().nodeImage } : {}),
      nodeCount: opts.nodes,
      // What the run started from; each pass records its own.
      settings: startSettings ?? { ...cluster.settings().settings },
      warnings: cluster.settings().warnings,
      areas: opts.areas,
      argv: opts.argv,
      timeScale: opts.timeScale ?? timeScaleInEffect(),
    },
    passes,
  });
  const run = await settleEvidence(finished, dir, evidence);
  throwIfInterrupted();
  // A report cut short by an interrupt would read as a finished one: it goes.
  let writing: Promise<unknown> = Promise.resolve();
  const unregister = onInterrupt({
    label: `the report in ${dir}`,
    run: async () => {
      await writing.catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
    now: () => rmSync(dir, { recursive: true, force: true }),
  });
  let files: Awaited<ReturnType<typeof writeReport>>;
  try {
    const written = writeReport(dir, run);
    writing = written;
    files = await written;
  } finally {
    unregister();
    unregisterEvidence();
  }
  return { run, reportDir: dir, files: Object.values(files), ...(opts.keep ? { keptRunId: runId } : {}) };
}

if (import.meta.main) await runnerMain(process.argv[2] ?? '');
