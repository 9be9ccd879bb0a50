/**
 * The conformance report as plain data: one run, made of passes (one execution of the suites in
 * one dataplane/service mode), areas and requirements. Every renderer reads this model and only
 * this model, and the verdict rules live here so that all of them agree.
 */
import type { DataplaneMode, ServiceMode } from '../k8s/felix-settings.ts';

/** Bumped when a consumer of `report.json` would have to change. */
export const SCHEMA_VERSION = 2;

/**
 * The versions a reader accepts. Version 1 has no evidence files, no summaries, no figures and no
 * qualification reports; a version 1 report is a valid version 2 run without them.
 */
export const READABLE_SCHEMA_VERSIONS: readonly number[] = [1, 2];

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

/**
 * A measured figure (a rate, a latency, a ratio) and how much it varies between repeats of the
 * same measurement. Two reports' figures are compared only beyond their spreads.
 */
export interface FigureEvidence {
  kind: 'figure';
  /** Stable name, the key a comparison matches on: `requests per second, DSR / Tunnel`. */
  name: string;
  value: number;
  unit?: string;
  /**
   * Half the width of the range the figure moves in between repeats (same unit as the value),
   * e.g. a standard deviation; without it, no comparison calls a change real.
   */
  spread?: number;
  /**
   * Which way is an improvement. Without it a comparison can say a figure moved beyond its
   * spread, not that it got worse.
   */
  better?: 'higher' | 'lower';
  where?: string;
  label?: string;
  /** The guide's claim this figure is held against, in the guide's words: `10-25 % more throughput`. */
  claim?: string;
  /**
   * Where the report draws the figure: figures with the same chart title are drawn together, one
   * bar (or, with `x`, one point of a line) per series.
   */
  chart?: FigureChart;
}

/** A figure's place in a chart of the report's performance section. */
export interface FigureChart {
  /** The chart's title; also what groups figures into one chart. */
  title: string;
  /** The bar's or line's name: `eBPF Tunnel`, `iptables`. */
  series: string;
  /** For a line chart: the figure's position on the horizontal axis (e.g. number of Services). */
  x?: number;
  /** The horizontal axis' name, for a line chart. */
  xLabel?: string;
}

/** One item of proof attached to a requirement. */
export type Evidence =
  | PacketEvidence
  | CounterEvidence
  | MapUsageEvidence
  | EchoEvidence
  | TextEvidence
  | FigureEvidence;

/** What an evidence file holds. */
export type AttachmentKind = 'pcap' | 'map-dump' | 'counters' | 'metrics' | 'transcript' | 'other';

/**
 * A file of raw evidence beside the report (`evidence/<pass>/<requirement>/...`): a capture as
 * tcpdump wrote it, a map dump, counter snapshots, a metrics scrape, a probe transcript.
 */
export interface Attachment {
  /** Path from the report's directory, `/`-separated. */
  path: string;
  kind: AttachmentKind;
  /** What it shows, in one line: `capture on dpc-worker eth0 (host 172.18.1.1)`. */
  title: string;
  /** Node, interface or endpoint it was taken from. */
  where?: string;
  /** Media type, for a viewer: `application/vnd.tcpdump.pcap`, `application/json`, `text/plain`. */
  mediaType: string;
  /** Size on disk, once the run has settled its evidence. */
  bytes?: number;
  /** SHA-256 of the file, so an archived report can be checked against its files. */
  sha256?: string;
  /** Why the file is not there (the run's size cap was reached); the entry stays as a record. */
  omitted?: string;
}

/** What evidence files a run kept, as `--evidence` and the size cap decided. */
export type EvidencePolicy = 'none' | 'failures' | 'all';

/** The run's account of its evidence files. */
export interface EvidenceFiles {
  policy: EvidencePolicy;
  /** The most bytes of evidence files the run keeps. */
  capBytes: number;
  /** Files kept, and their bytes. */
  files: number;
  bytes: number;
  /** Files left out because the cap was reached, and their bytes. */
  omittedFiles: number;
  omittedBytes: number;
}

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
  /** One line saying what the evidence showed, in the suite's words. */
  summary?: string;
  /** Evidence files beside the report. */
  attachments?: Attachment[];
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
  /** The FelixConfiguration settings in force while this pass ran. */
  settings?: Record<string, unknown>;
  /** The pass's mode as read from the nodes at its start (not from the run's bookkeeping). */
  observed?: ObservedMode;
}

/** The mode the nodes were found in: programs attached, kube-proxy chains, the loaded configuration. */
export interface ObservedMode {
  /** `mixed` when the nodes disagree or hold both; `none` when they hold neither. */
  dataplane: DataplaneMode | 'mixed' | 'none';
  /** eBPF only, from each node's configuration record. */
  serviceMode?: ServiceMode | 'mixed' | 'unknown';
  /** What was read on each node, one line per node. */
  detail: string[];
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
  /** The image the nodes ran, where nodes are containers (`dpconform/node:<hash>`). */
  nodeImage?: string;
  nodeCount: number;
  /** FelixConfiguration settings the run started from (each pass overrides the mode fields). */
  settings: Record<string, unknown>;
  /** FelixConfiguration fields accepted but not implemented by this dataplane, one line each. */
  warnings?: string[];
  /** Areas asked for (all when absent). */
  areas?: string[];
  /** The command line that started the run. */
  argv?: string[];
  /** The factor the run stretched its probe timeouts, start budgets and test limits by. */
  timeScale?: TimeScale;
}

/**
 * A run's time scale: one factor applied to probe timeouts, start budgets and test limits, so a
 * slow machine (a kernel under software emulation) is not taken for a broken kernel.
 */
export interface TimeScale {
  factor: number;
  /** `measured` against the host's speed, `given` on the command line, or the `default` 1. */
  source: 'measured' | 'given' | 'default';
  /** The calibration work's time on this machine and on the reference machine, when measured. */
  measuredMs?: number;
  referenceMs?: number;
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
  /** The evidence files kept beside the report (absent when the run kept none or predates them). */
  evidenceFiles?: EvidenceFiles;
}

/** One run inside a qualification report. */
export interface QualificationRun {
  /** Where the run's files are, from the qualification report's directory: `runs/<run-id>`. */
  dir: string;
  /** What the run's report was read from, as given to the merge. */
  source: string;
  /** The schema version the run's report was written with. */
  sourceSchemaVersion: number;
  run: Run;
}

/**
 * Several runs' reports (kernels, modes, providers, machines) made one: what `report merge`
 * writes. Each run keeps its own verdicts; the qualification's verdict is the worst of them.
 */
export interface Qualification {
  schemaVersion: typeof SCHEMA_VERSION;
  kind: 'qualification';
  /** Names the qualification (its directory name by default). */
  name: string;
  createdAt: string;
  verdict: Verdict;
  runs: QualificationRun[];
  /** What differs between the runs that a reader of the matrix should know, one line each. */
  differences: string[];
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

/** The verdict of several runs: the worst one. */
export function qualificationVerdict(runs: readonly Pick<Run, 'verdict'>[]): Verdict {
  return combineVerdicts(runs.map((r) => r.verdict));
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
