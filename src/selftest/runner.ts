/**
 * `dpconform selftest`: the suite proves its own sensitivity. The project is copied aside, one
 * cluster is brought up with the eBPF dataplane built from the copy, the requirements the faults
 * name are run once on the clean copy (a requirement that fails without a fault can prove
 * nothing), then each fault in turn is put into the copy, built, put on the cluster, met by the
 * suites concerned (only the requirements it names), and taken out again. The working tree is
 * never touched: sources, objects and the tools' caches all live in the copy, and the cluster is
 * brought up, driven and torn down by the copy's own code.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { onInterrupt } from '../cluster/cleanup.ts';
import type { Cluster } from '../cluster/types.ts';
import { BpfCompileError, buildBpf, mapSizesFrom } from '../dataplane/bpf/build.ts';
import { DEFAULT_FELIX_SETTINGS } from '../k8s/felix-settings.ts';
import { modeLabel, type Pass, type PassMode } from '../report/model.ts';
import { REPO_ROOT } from '../run/conformance.ts';
import { applyEdits, areasOf, type Fault, filesOf, leavesNodesAlone, touchesBpf } from './fault.ts';
import { FAULTS } from './faults.ts';
import { baselineFailures, buildFailure, type FaultResult, judgeFault } from './table.ts';
import { type CopyCode, makeWorkspace, type Workspace } from './workspace.ts';

/** What to run. */
export interface SelftestOptions {
  /** Fault ids (default: every fault of the list). */
  faults?: readonly string[];
  nodes?: number;
  /** Progress lines. */
  log: (line: string) => void;
  /** The fault list (default: the project's). */
  list?: readonly Fault[];
  /** The project to copy (default: this one). */
  repoRoot?: string;
}

/** What came of a self-test. */
export interface SelftestOutcome {
  results: FaultResult[];
  /** Per pass mode, the expected requirements that failed without any fault. */
  baseline: Record<string, string[]>;
  durationMs: number;
  /** The run id of the cluster the faults ran on (gone by now). */
  runId: string;
  /** Where the copy of the project was (gone by now). */
  copy: string;
}

/** The faults asked for; an unknown id is an error naming the known ones. */
export function selectFaults(list: readonly Fault[], ids: readonly string[] | undefined): Fault[] {
  if (!ids || ids.length === 0) return [...list];
  const unknown = ids.filter((id) => !list.some((f) => f.id === id));
  if (unknown.length > 0) {
    throw new Error(
      `unknown fault ${unknown.map((u) => `"${u}"`).join(', ')} (faults: ${list.map((f) => f.id).join(', ')})`,
    );
  }
  return list.filter((f) => ids.includes(f.id));
}

/**
 * Checks that every fault applies to the project as it is (each edit's text there exactly once),
 * before anything is copied or built; throws naming the first stale fault.
 */
export async function checkFaults(faults: readonly Fault[], repoRoot: string = REPO_ROOT): Promise<void> {
  for (const f of faults) {
    if (f.catches.length === 0) throw new Error(`fault ${f.id} names no requirement that must catch it`);
    for (const file of filesOf(f)) {
      const text = await readFile(join(repoRoot, file), 'utf8').catch(() => {
        throw new Error(`fault ${f.id}: no file ${file} in the project`);
      });
      applyEdits(f, file, text, f.edits);
    }
  }
}

/**
 * The order faults run in: grouped by pass mode (eBPF Tunnel first), so that the cluster changes
 * mode seldom; within a mode, the faults that only change map contents first (they need nothing
 * reinstalled), then the rest of the control plane's, then the C's.
 */
export function runOrder(faults: readonly Fault[]): Fault[] {
  const kind = (f: Fault) => (leavesNodesAlone(f) ? 0 : touchesBpf(f) ? 2 : 1);
  const rank = (f: Fault) =>
    (f.mode.dataplane === 'bpf' ? 0 : 6) + (f.mode.serviceMode === 'Tunnel' ? 0 : 3) + kind(f);
  return [...faults].sort((a, b) => rank(a) - rank(b));
}

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

/** What is on the cluster: its mode and the build of the dataplane's object (the copy as it was). */
interface OnCluster {
  mode: PassMode;
  objectKey: string;
}

/**
 * Puts the copy's dataplane (built as `objectKey`) on the cluster in `mode`, reinstalling only
 * when either differs from what is on it, and makes sure the nodes say they are in that mode.
 */
async function putOn(
  code: CopyCode,
  cluster: Cluster,
  ws: Workspace,
  on: OnCluster,
  mode: PassMode,
  objectKey: string,
  afresh = false,
): Promise<void> {
  const s = cluster.settings().settings;
  const bpfEnabled = mode.dataplane === 'bpf';
  if (s.bpfEnabled !== bpfEnabled || s.bpfExternalServiceMode !== mode.serviceMode) {
    // A mode change puts the dataplane on again, built from the copy as it is now.
    await cluster.patchFelix({ bpfEnabled, bpfExternalServiceMode: mode.serviceMode });
    on.objectKey = objectKey;
  }
  if (afresh || on.objectKey !== objectKey) {
    await cluster.useBpfSource(ws.bpfSource);
    on.objectKey = objectKey;
  }
  on.mode = mode;
  const problems = code.modeProblems(mode, await code.observeMode(cluster));
  if (problems.length > 0) throw new Error(`the cluster is not in ${modeLabel(mode)}: ${problems[0]}`);
}

/** Runs the named requirements of some areas: the copy's suites, by the copy's runner. */
function runFrom(
  code: CopyCode,
  cluster: Cluster,
  mode: PassMode,
  areas: string[],
  only: string[],
): Promise<Pass> {
  return code.runPass(cluster, mode, { areas, only, out: quiet });
}

/**
 * Builds the copy as the cluster and the suites will: bpf/ with clang, and each TypeScript file
 * a fault edits must still parse (node strips its types when the suites load it). A compile
 * error comes back as its message.
 */
async function build(ws: Workspace, fault?: Fault): Promise<{ key: string } | { error: string }> {
  const ts = fault ? filesOf(fault).filter((f) => f.endsWith('.ts')) : [];
  if (ts.length > 0) {
    const { default: typescript } = await import('typescript');
    for (const file of ts) {
      const out = typescript.transpileModule(await readFile(join(ws.root, file), 'utf8'), {
        fileName: file,
        reportDiagnostics: true,
        compilerOptions: { module: typescript.ModuleKind.ESNext, target: typescript.ScriptTarget.ESNext },
      });
      const first = out.diagnostics?.[0];
      if (first)
        return { error: `${file}: ${typescript.flattenDiagnosticMessageText(first.messageText, ' ')}` };
    }
  }
  try {
    const built = await buildBpf({
      sizes: mapSizesFrom(DEFAULT_FELIX_SETTINGS),
      sourceDir: ws.bpfSource.sourceDir,
      outDir: ws.bpfSource.buildDir,
    });
    return { key: built.key };
  } catch (err) {
    if (err instanceof BpfCompileError)
      return {
        error: `${err.file}: ${err.diagnostics.split('\n').find((l) => l.includes('error')) ?? err.message}`,
      };
    throw err;
  }
}

/** Runs the self-test: every fault on one cluster, one after another. */
export async function runSelftest(opts: SelftestOptions): Promise<SelftestOutcome> {
  const started = performance.now();
  const repoRoot = opts.repoRoot ?? REPO_ROOT;
  const faults = runOrder(selectFaults(opts.list ?? FAULTS, opts.faults));
  await checkFaults(faults, repoRoot);
  // Until the copy's code takes over its removal, an interrupt while copying takes it away.
  let ws: Workspace | undefined;
  let copying: Promise<Workspace> | undefined;
  const whileCopying = onInterrupt({
    label: 'the copy of the project',
    run: async () => {
      await (await copying?.catch(() => undefined))?.remove();
    },
  });
  try {
    copying = makeWorkspace(repoRoot);
    ws = await copying;
  } finally {
    whileCopying();
  }
  const code = await ws.code();
  // Registered with the copy's code before the cluster is: an interrupt takes the cluster down
  // first, then the copy, and nothing of the working tree's code has to take part.
  const copy = ws;
  const unregister = code.onInterrupt({
    label: `the copy in ${copy.root}`,
    run: () => copy.remove(),
    left: () => `the copy of the project in ${copy.root}: rm -r ${copy.root}`,
  });
  let cluster: Cluster | undefined;
  try {
    const clean = await build(ws);
    if ('error' in clean) throw new Error(`the project's own bpf/ does not build: ${clean.error}`);
    const first = faults[0]!.mode;
    opts.log(`copied the project to ${ws.root}; bringing up ${opts.nodes ?? 3} nodes`);
    cluster = await code.startCluster('netns', {
      nodes: opts.nodes ?? 3,
      clients: 2,
      dataplane: first.dataplane,
      settings: { bpfEnabled: first.dataplane === 'bpf', bpfExternalServiceMode: first.serviceMode },
      bpfSource: ws.bpfSource,
      owner: 'dpconform selftest',
      log: () => {},
    });
    const on: OnCluster = { mode: first, objectKey: clean.key };
    const baseline: Record<string, Map<string, string>> = {};
    // Whether the last fault may have left something on the nodes.
    let dirty = false;
    const results: FaultResult[] = [];
    for (const fault of faults) {
      code.throwIfInterrupted();
      const label = modeLabel(fault.mode);
      if (!baseline[label]) {
        // The clean copy first, once per mode: every requirement a fault of this mode names.
        const mine = faults.filter((f) => modeLabel(f.mode) === label);
        const ids = [...new Set(mine.flatMap((f) => f.catches))];
        await putOn(code, cluster, ws, on, fault.mode, clean.key);
        opts.log(`${label}: the clean copy against ${ids.length} requirements`);
        const pass = await runFrom(code, cluster, fault.mode, [...new Set(mine.flatMap(areasOf))], ids);
        baseline[label] = baselineFailures(pass, ids);
        for (const line of baseline[label].values()) opts.log(`  fails without any fault: ${line}`);
      }
      const r = await runFault(code, ws, cluster, on, fault, baseline[label]!, dirty, opts.log);
      results.push(r);
      dirty = !leavesNodesAlone(fault);
      opts.log(
        `${r.fault.id}: ${r.outcome}${r.failing.length > 0 ? ` by ${r.failing.join(', ')}` : ''} (${(r.durationMs / 1000).toFixed(1)} s)`,
      );
    }
    return {
      results,
      baseline: Object.fromEntries(Object.entries(baseline).map(([k, v]) => [k, [...v.values()]])),
      durationMs: performance.now() - started,
      runId: cluster.runId,
      copy: ws.root,
    };
  } finally {
    await cluster?.down().catch((e: unknown) => opts.log(`teardown: ${String(e)}`));
    await ws.remove();
    unregister();
  }
}

/** One fault: into the copy, built, on the cluster, met by its requirements, out again. */
async function runFault(
  code: CopyCode,
  ws: Workspace,
  cluster: Cluster,
  on: OnCluster,
  fault: Fault,
  baseline: ReadonlyMap<string, string>,
  afresh: boolean,
  log: (line: string) => void,
): Promise<FaultResult> {
  const t0 = performance.now();
  const took = (since: number) => `${((performance.now() - since) / 1000).toFixed(1)} s`;
  const restore = await ws.apply(fault);
  try {
    const built = await build(ws, fault);
    if ('error' in built) return buildFailure(fault, built.error, performance.now() - t0);
    const builtIn = took(t0);
    // A fault of the C needs its object on the nodes; one of the control plane only needs the
    // suites to run from the copy (they program the maps with its code), unless the fault before
    // may have left something on the nodes.
    const t1 = performance.now();
    await putOn(code, cluster, ws, on, fault.mode, built.key, afresh);
    const installed = took(t1);
    const t2 = performance.now();
    const pass = await runFrom(code, cluster, fault.mode, areasOf(fault), fault.catches);
    log(`${fault.id}: built in ${builtIn}, put on in ${installed}, suites ran in ${took(t2)}`);
    return judgeFault(fault, pass, baseline, performance.now() - t0);
  } finally {
    await restore();
  }
}
