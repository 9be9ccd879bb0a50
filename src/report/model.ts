/**
 * The conformance report as plain data: one run, made of passes (one execution of the suites in
 * one dataplane/service mode), areas and requirements. Every renderer reads this model and only
 * this model, and the verdict rules live here so that all of them agree.
 */
import type { DataplaneMode, ServiceMode } from '../k8s/felix-settings.ts';

/** Bumped when a consumer of `report.json` would have to change. */
export const SCHEMA_VERSION = 1;

/** What a requirement, an area, a pass or a run came to. */
export type Verdict = 'conformant' | 'non-conformant' | 'skipped' | 'error';

/** The mode one pass ran the suites in. */
export interface PassMode {
  dataplane: DataplaneMode;
  serviceMode: ServiceMode;
}

/** Packets a capture saw, one summary line per packet (tcpdump style). */
export interface PacketEvidence {
  kind: 'packet';
  /** Where the capture ran, e.g. `dpc-worker eth0`. */
  where: string;
  /** The capture filter, when there was one. */
  filter?: string;
  packets: string[];
  label?: string;
}

/** A counter or metric read before and after the traffic. */
export interface CounterEvidence {
  kind: 'counter';
  name: string;
  where?: string;
  before: number;
  after: number;
  delta: number;
  label?: string;
}

/** How full a BPF map was. */
export interface MapUsageEvidence {
  kind: 'map';
  name: string;
  where?: string;
  entries: number;
  capacity: number;
  /** The fill ratio the dataplane reports as too full (its threshold, carried with the reading). */
  warnAt?: number;
  label?: string;
}

/** What an echo server answered to a probe: the proof of who reached whom, as whom. */
export interface EchoEvidence {
  kind: 'echo';
  /** Node, pod or client the probe ran from. */
  from: string;
  /** `host:port` probed. */
  target: string;
  protocol: 'http' | 'tcp' | 'udp';
  ok: boolean;
  /** The client address the echo server reported seeing. */
  sourceSeen?: string;
  /** Reply body (trimmed), or the error the probe met. */
  reply?: string;
  error?: string;
  totalMs?: number;
  label?: string;
}

/** Anything else worth showing a person, verbatim. */
export interface TextEvidence {
  kind: 'text';
  label?: string;
  text: string;
}

/** One item of proof attached to a requirement. */
export type Evidence = PacketEvidence | CounterEvidence | MapUsageEvidence | EchoEvidence | TextEvidence;

/** Why a requirement did not hold (or could not be checked). */
export interface Failure {
  message: string;
  expected?: string;
  seen?: string;
  /** Where in the system under test to look: node, interface, capture. */
  where?: string;
  /** Where in the suite the failure was raised (`suites/nodeport.test.ts:42`). */
  source?: string;
  /** The error's name (`AssertionError`, `ConformanceFailure`, `CommandError`, ...). */
  type?: string;
}

/** One requirement checked by one test. */
export interface Requirement {
  /** Stable id, e.g. `NP-003`. */
  id: string;
  /** The behaviour, in one line. */
  statement: string;
  verdict: Verdict;
  /** Why it was skipped (or, for `error`, what stopped it) in one line. */
  reason?: string;
  durationMs: number;
  failure?: Failure;
  evidence: Evidence[];
}

/** One suite file's requirements in one pass. */
export interface Area {
  name: string;
  verdict: Verdict;
  requirements: Requirement[];
  /**
   * What went wrong outside any one requirement (the file did not load, a teardown hook
   * failed): each makes the area an `error`.
   */
  problems: string[];
}

/** One execution of the suites in one mode. */
export interface Pass {
  mode: PassMode;
  startedAt: string;
  durationMs: number;
  verdict: Verdict;
  areas: Area[];
  /** Errors that belong to no area (unhandled rejections, an interrupted run). */
  problems: string[];
}

/** Whether a kernel feature was found. `unknown` when the probe itself could not run. */
export type FeatureState = 'yes' | 'no' | 'unknown';

/** One kernel feature the dataplane relies on. */
export interface KernelFeature {
  name: string;
  state: FeatureState;
  detail?: string;
}

/** One tool the run used, and its version. */
export interface ToolVersion {
  name: string;
  found: boolean;
  version?: string;
  /** e.g. the iptables backend (`nf_tables` or `legacy`). */
  detail?: string;
}

/** Where and on what the run happened. */
export interface Environment {
  hostname: string;
  arch: string;
  kernel: {
    release: string;
    version: string;
    btf: boolean;
    bpffsMounted: boolean;
  };
  features: KernelFeature[];
  tools: ToolVersion[];
  /** The revision of `bpf/` the dataplane was built from. */
  bpfSource: {
    /** Commit of the last change under `bpf/`, when git knows it. */
    commit?: string;
    /** Uncommitted changes under `bpf/`. */
    dirty?: boolean;
    detail?: string;
  };
}

/** What the run was asked to do. */
export interface RunConfig {
  provider: string;
  nodeCount: number;
  /** FelixConfiguration settings the run started from (each pass overrides the mode fields). */
  settings: Record<string, unknown>;
  /** FelixConfiguration fields accepted but not implemented by this dataplane, one line each. */
  warnings?: string[];
  /** Areas asked for (all when absent). */
  areas?: string[];
  /** The command line that started the run. */
  argv?: string[];
}

/** One conformance run: what `report.json` holds. */
export interface Run {
  schemaVersion: typeof SCHEMA_VERSION;
  runId: string;
  startedAt: string;
  endedAt: string;
  verdict: Verdict;
  environment: Environment;
  config: RunConfig;
  passes: Pass[];
}

// Worst first: a single non-conformant requirement makes the whole non-conformant; an error
// (the harness could not decide) comes next; skipped says nothing either way.
const RANK: Record<Verdict, number> = { 'non-conformant': 3, error: 2, conformant: 1, skipped: 0 };

/** Combines verdicts: the worst one wins; nothing at all, or only skips, is `skipped`. */
export function combineVerdicts(verdicts: Iterable<Verdict>): Verdict {
  let worst: Verdict = 'skipped';
  for (const v of verdicts) if (RANK[v] > RANK[worst]) worst = v;
  return worst;
}

/** An area's verdict: its requirements', made an `error` by any problem outside them. */
export function areaVerdict(requirements: readonly Requirement[], problems: readonly string[] = []): Verdict {
  const fromProblems: Verdict[] = problems.length > 0 ? ['error'] : [];
  return combineVerdicts([...requirements.map((r) => r.verdict), ...fromProblems]);
}

/** A pass's verdict: its areas', made an `error` by any problem outside them. */
export function passVerdict(areas: readonly Area[], problems: readonly string[] = []): Verdict {
  const fromProblems: Verdict[] = problems.length > 0 ? ['error'] : [];
  return combineVerdicts([...areas.map((a) => a.verdict), ...fromProblems]);
}

/** The run's verdict, from its passes. */
export function runVerdict(passes: readonly Pass[]): Verdict {
  return combineVerdicts(passes.map((p) => p.verdict));
}

/** Process exit code for a verdict: 0 when nothing failed, 1 otherwise (2 is the CLI's "could not start"). */
export function exitCodeFor(verdict: Verdict): 0 | 1 {
  return verdict === 'non-conformant' || verdict === 'error' ? 1 : 0;
}

/** How many requirements came to each verdict. */
export type VerdictCounts = Record<Verdict, number> & { total: number };

/** Counts requirements by verdict. */
export function countVerdicts(requirements: Iterable<Requirement>): VerdictCounts {
  const counts: VerdictCounts = { conformant: 0, 'non-conformant': 0, skipped: 0, error: 0, total: 0 };
  for (const r of requirements) {
    counts[r.verdict] += 1;
    counts.total += 1;
  }
  return counts;
}

/** Every requirement of a run, with the pass and area it belongs to. */
export function* allRequirements(run: Pick<Run, 'passes'>): Generator<{
  pass: Pass;
  area: Area;
  requirement: Requirement;
}> {
  for (const pass of run.passes) {
    for (const area of pass.areas) {
      for (const requirement of area.requirements) yield { pass, area, requirement };
    }
  }
}

/** A pass mode as a short label, e.g. `bpf/Tunnel`. */
export function modeLabel(mode: PassMode): string {
  return `${mode.dataplane}/${mode.serviceMode}`;
}

/** Recomputes every derived verdict bottom-up, so a hand-built or edited run stays consistent. */
export function finalizeRun(run: Omit<Run, 'verdict'> & { verdict?: Verdict }): Run {
  const passes = run.passes.map((pass) => {
    const areas = pass.areas.map((area) => ({
      ...area,
      verdict: areaVerdict(area.requirements, area.problems),
    }));
    return { ...pass, areas, verdict: passVerdict(areas, pass.problems) };
  });
  return { ...run, passes, verdict: runVerdict(passes) };
}

/** Assembles a run from its parts (the passes the reporters gathered), with every verdict computed. */
export function buildRun(parts: Omit<Run, 'schemaVersion' | 'verdict'>): Run {
  return finalizeRun({ schemaVersion: SCHEMA_VERSION, ...parts });
}

/** Sorts requirement ids the way a person reads them: `NP-2` before `NP-10`. */
export function compareRequirementIds(a: string, b: string): number {
  return a.localeCompare(b, 'en', { numeric: true });
}
