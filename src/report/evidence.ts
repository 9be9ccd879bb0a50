/**
 * What a suite calls to prove its point: attach evidence to the running test and fail with a
 * structured message (expected / seen / where). The reporter reads both back.
 *
 * Raw evidence (captures, map dumps, counter snapshots, scrapes, probe transcripts) goes into
 * files beside the report with {@link attachFile}, {@link attachText} and {@link attachJson}:
 * into `evidence/<pass>/<requirement>/` when the run keeps evidence files, nowhere otherwise.
 *
 * To skip with a reason the report can show, call `ctx.skip('why')` in the test or in a
 * `beforeEach((ctx) => ...)`; a skip without a note is reported as "no reason given".
 */
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  renameSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import type { ProbeRequest, ProbeResult } from '../workload/types.ts';
import {
  EVIDENCE_DIR,
  EVIDENCE_PASS_ENV,
  EVIDENCE_ROOT_ENV,
  requirementDirName,
  safeName,
} from './evidence-files.ts';
import type { Attachment, AttachmentKind, CounterEvidence, EchoEvidence, Evidence } from './model.ts';

/** What dpconform keeps in a test's `task.meta`. */
export interface ConformanceMeta {
  evidence: Evidence[];
  /** The suite's one-line account of what the evidence showed. */
  summary?: string;
  /** Evidence files written for the test. */
  attachments?: Attachment[];
}

declare module 'vitest' {
  interface TaskMeta {
    dpconform?: ConformanceMeta;
  }
}

/** Anything carrying vitest's task meta: the test context's `task`, or the context itself. */
export type EvidenceTarget = { meta: object; name?: string } | { task: { meta: object; name?: string } };

function taskOf(target: EvidenceTarget): { meta: object; name?: string } {
  return 'task' in target ? target.task : target;
}

function metaOf(target: EvidenceTarget): { dpconform?: ConformanceMeta } {
  return taskOf(target).meta as { dpconform?: ConformanceMeta };
}

function conformanceMeta(target: EvidenceTarget): ConformanceMeta {
  const meta = metaOf(target);
  meta.dpconform ??= { evidence: [] };
  return meta.dpconform;
}

/** Attaches one item of evidence to the running test (shown with its verdict, pass or fail). */
export function recordEvidence(target: EvidenceTarget, item: Evidence): void {
  // The meta travels to the reporter as JSON: keep only what survives that trip.
  conformanceMeta(target).evidence.push(JSON.parse(JSON.stringify(item)) as Evidence);
}

/**
 * Says in one line what the evidence showed (`0 of 4 reply packets crossed dpc-worker`): the
 * line the Markdown report gives a conformant requirement. The last call wins.
 */
export function recordSummary(target: EvidenceTarget, line: string): void {
  conformanceMeta(target).summary = line.replace(/\s*\n\s*/g, ' ').trim();
}

/** The summary recorded on a task, if any. */
export function summaryOf(target: EvidenceTarget): string | undefined {
  return metaOf(target).dpconform?.summary;
}

/** The evidence files recorded on a task so far. */
export function attachmentsOf(target: EvidenceTarget): Attachment[] {
  return metaOf(target).dpconform?.attachments ?? [];
}

/** Describes an evidence file about to be written. */
export interface AttachSpec {
  /** File name in the requirement's folder; made unique when taken (`-2`, `-3`). */
  name: string;
  kind: AttachmentKind;
  /** What it shows, in one line. */
  title: string;
  where?: string;
  /** Defaults from the kind. */
  mediaType?: string;
}

const MEDIA_TYPE: Record<AttachmentKind, string> = {
  pcap: 'application/vnd.tcpdump.pcap',
  'map-dump': 'application/json',
  counters: 'application/json',
  metrics: 'text/plain; version=0.0.4',
  transcript: 'text/plain',
  other: 'application/octet-stream',
};

/**
 * The folder of this test's evidence files (created), or `undefined` when the run keeps none
 * (`--evidence none`, or the suites run outside `dpconform run`).
 */
export function evidenceDir(target: EvidenceTarget): string | undefined {
  const located = locate(target);
  if (!located) return undefined;
  mkdirSync(located.abs, { recursive: true });
  return located.abs;
}

function locate(target: EvidenceTarget): { abs: string; rel: string } | undefined {
  const root = process.env[EVIDENCE_ROOT_ENV];
  const pass = process.env[EVIDENCE_PASS_ENV];
  if (!root || !pass) return undefined;
  const rel = `${EVIDENCE_DIR}/${pass}/${requirementDirName(taskOf(target).name ?? '')}`;
  return { abs: join(root, rel), rel };
}

function claim(
  target: EvidenceTarget,
  spec: AttachSpec,
): { file: string; attachment: Attachment } | undefined {
  const located = locate(target);
  if (!located) return undefined;
  mkdirSync(located.abs, { recursive: true });
  const taken = new Set(attachmentsOf(target).map((a) => a.path));
  const clean = safeName(spec.name);
  const dot = clean.lastIndexOf('.');
  const [stem, ext] = dot > 0 ? [clean.slice(0, dot), clean.slice(dot)] : [clean, ''];
  for (let i = 1; ; i++) {
    const name = i === 1 ? clean : `${stem}-${i}${ext}`;
    const rel = `${located.rel}/${name}`;
    if (taken.has(rel) || existsSync(join(located.abs, name))) continue;
    const attachment: Attachment = {
      path: rel,
      kind: spec.kind,
      title: spec.title,
      mediaType: spec.mediaType ?? MEDIA_TYPE[spec.kind],
      ...(spec.where !== undefined ? { where: spec.where } : {}),
    };
    return { file: join(located.abs, name), attachment };
  }
}

function record(target: EvidenceTarget, attachment: Attachment): Attachment {
  const meta = conformanceMeta(target);
  meta.attachments = [...(meta.attachments ?? []), attachment];
  return attachment;
}

/**
 * Moves a file written elsewhere (a kept capture) into this test's evidence folder and records
 * it. Returns `undefined`, and leaves the file alone, when the run keeps no evidence files or the
 * file was never written.
 */
export function attachFile(target: EvidenceTarget, from: string, spec: AttachSpec): Attachment | undefined {
  if (!existsSync(from)) return undefined;
  const claimed = claim(target, spec);
  if (!claimed) return undefined;
  try {
    renameSync(from, claimed.file);
  } catch (err) {
    // Another filesystem (a capture kept under /tmp): copy, then remove the original.
    if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
    copyFileSync(from, claimed.file);
    rmSync(from, { force: true });
  }
  return record(target, claimed.attachment);
}

/** Writes text (a scrape, a transcript) as an evidence file of this test. */
export function attachText(target: EvidenceTarget, spec: AttachSpec, text: string): Attachment | undefined {
  const claimed = claim(target, spec);
  if (!claimed) return undefined;
  writeFileSync(claimed.file, text.endsWith('\n') || text === '' ? text : `${text}\n`);
  return record(target, claimed.attachment);
}

/** Writes a value as pretty JSON (a map dump, counter snapshots) as an evidence file of this test. */
export function attachJson(target: EvidenceTarget, spec: AttachSpec, value: unknown): Attachment | undefined {
  return attachText(target, spec, `${JSON.stringify(value, jsonBigint, 2)}\n`);
}

// Counters and map values may be bigints; JSON has no such type, and a string loses nothing.
function jsonBigint(_key: string, value: unknown): unknown {
  return typeof value === 'bigint' ? value.toString() : value;
}

/**
 * Appends to one evidence file of this test (`probes.txt`), recording it on first use, so that
 * every probe a requirement made ends up in one transcript.
 */
export function appendText(target: EvidenceTarget, spec: AttachSpec, text: string): Attachment | undefined {
  const located = locate(target);
  if (!located) return undefined;
  const rel = `${located.rel}/${safeName(spec.name)}`;
  const known = attachmentsOf(target).find((a) => a.path === rel);
  if (!known) return attachText(target, spec, text);
  appendFileSync(join(located.abs, safeName(spec.name)), text.endsWith('\n') ? text : `${text}\n`);
  return known;
}

/**
 * A fresh folder for files about to be attached (captures kept by `withCaptures`), inside this
 * test's evidence folder so that moving them in is a rename; `undefined` when the run keeps no
 * evidence files. Remove it with {@link dropStaging} once its files are attached.
 */
export function stagingDir(target: EvidenceTarget): string | undefined {
  const dir = evidenceDir(target);
  return dir ? mkdtempSync(join(dir, '.staging-')) : undefined;
}

/** Removes a staging folder and whatever was not attached from it. */
export function dropStaging(dir: string | undefined): void {
  if (dir) rmSync(dir, { recursive: true, force: true });
}

/** The evidence recorded on a task so far. */
export function evidenceOf(target: EvidenceTarget): Evidence[] {
  return metaOf(target).dpconform?.evidence ?? [];
}

/** Details of a conformance failure. */
export interface FailureDetails {
  expected?: string;
  seen?: string;
  /** Where to look: node, interface, capture. */
  where?: string;
}

/**
 * The system under test did not behave as required. Reported as `non-conformant`; any other
 * error a test throws (other than a failed `expect`) is reported as `error`.
 */
export class ConformanceFailure extends Error {
  readonly expected: string | undefined;
  readonly seen: string | undefined;
  readonly where: string | undefined;

  constructor(message: string, details: FailureDetails = {}) {
    super(message);
    this.name = 'ConformanceFailure';
    this.expected = details.expected;
    this.seen = details.seen;
    this.where = details.where;
  }
}

/** Throws a {@link ConformanceFailure} unless the condition holds. */
export function requireThat(
  condition: boolean,
  message: string,
  details: FailureDetails = {},
): asserts condition {
  if (!condition) throw new ConformanceFailure(message, details);
}

/** Evidence for a counter read before and after the traffic. */
export function counterEvidence(
  name: string,
  before: number,
  after: number,
  extra: Pick<CounterEvidence, 'where' | 'label'> = {},
): CounterEvidence {
  return { kind: 'counter', name, before, after, delta: after - before, ...extra };
}

/** Evidence for a probe and what the echo server answered. */
export function echoEvidence(
  from: string,
  result: ProbeResult,
  extra: Pick<EchoEvidence, 'sourceSeen' | 'label'> = {},
): EchoEvidence {
  const item: EchoEvidence = {
    kind: 'echo',
    from,
    target: result.target,
    protocol: result.kind,
    ok: result.ok,
  };
  if (result.body !== undefined) item.reply = result.body.trim().slice(0, 500);
  if (result.error !== undefined) {
    item.error = result.errorMessage ? `${result.error} (${result.errorMessage})` : result.error;
  }
  item.totalMs = Math.round(result.totalMs);
  return { ...item, ...extra };
}

/**
 * One probe as a transcript entry: when, from where, what was asked, and everything that came
 * back (status, timings, local address, the whole reply or the system's error), for the
 * requirement's `probes.txt`.
 */
export function probeTranscript(
  from: string,
  req: ProbeRequest,
  r: ProbeResult,
  at: Date = new Date(),
): string {
  const asked = `${req.kind} ${req.host}:${req.port}${req.kind === 'http' ? (req.path ?? '/') : ''}`;
  const options = [
    req.sourcePort !== undefined ? `source port ${req.sourcePort}` : '',
    req.timeoutMs !== undefined ? `timeout ${req.timeoutMs} ms` : '',
    req.payload !== undefined ? `payload ${JSON.stringify(req.payload)}` : '',
  ].filter(Boolean);
  const lines = [
    `${at.toISOString()} ${from} -> ${asked}${options.length ? ` (${options.join(', ')})` : ''}`,
  ];
  const local = r.localAddress
    ? ` from ${r.localAddress}${r.localPort !== undefined ? `:${r.localPort}` : ''}`
    : '';
  const timing = `${r.connectMs !== undefined ? `connect ${Math.round(r.connectMs)} ms, ` : ''}total ${Math.round(r.totalMs)} ms`;
  lines.push(
    r.ok
      ? `  answered${r.status !== undefined ? ` HTTP ${r.status}` : ''}${local}; ${timing}`
      : `  failed: ${r.error ?? 'unknown'}${r.errorMessage ? ` (${r.errorMessage})` : ''}${local}; ${timing}`,
  );
  if (r.readEnd) lines.push(`  read ended: ${r.readEnd}`);
  if (r.body !== undefined) {
    const body = r.body.length > 4096 ? `${r.body.slice(0, 4096)}… (${r.body.length} bytes in all)` : r.body;
    lines.push(...body.split('\n').map((l) => `  | ${l}`));
  }
  return `${lines.join('\n')}\n`;
}
