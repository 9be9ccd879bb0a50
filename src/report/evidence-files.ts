/**
 * Evidence files beside the report: where a pass's files go (`evidence/<pass>/<requirement>/`),
 * how the run tells the suites' processes, and how the run settles them once every verdict is
 * known (which to keep under `--evidence`, the size cap, sizes and checksums in the report).
 */
import { createHash } from 'node:crypto';
import { createReadStream, type Dirent, rmdirSync, rmSync } from 'node:fs';
import { readdir, rm, rmdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { MISSING_ID, parseTestName } from './classify.ts';
import { formatBytes } from './evidence-text.ts';
import {
  type Attachment,
  allRequirements,
  type EvidenceFiles,
  type EvidencePolicy,
  type PassMode,
  type Requirement,
  type Run,
} from './model.ts';

/** The report directory, absolute, as the suites' processes receive it. */
export const EVIDENCE_ROOT_ENV = 'DPCONFORM_EVIDENCE_ROOT';
/** The pass's folder name under `evidence/`, as the suites' processes receive it. */
export const EVIDENCE_PASS_ENV = 'DPCONFORM_EVIDENCE_PASS';

/** The folder of the report's directory that holds evidence files. */
export const EVIDENCE_DIR = 'evidence';

/** The `--evidence` choices, the default first. */
export const EVIDENCE_POLICIES: readonly EvidencePolicy[] = ['all', 'failures', 'none'];

/** The default size cap of a run's evidence files. */
export const DEFAULT_EVIDENCE_CAP_BYTES = 256 * 1024 * 1024;

/** A pass's folder name: `bpf-Tunnel`, `iptables-Tunnel`. */
export function passDirName(mode: PassMode): string {
  return `${mode.dataplane}-${mode.serviceMode}`;
}

/** A requirement's folder name, from its test's name: `DSR-002` (a test without an id gets a slug). */
export function requirementDirName(testName: string): string {
  const { id, statement } = parseTestName(testName);
  if (id !== MISSING_ID) return safeName(id);
  return `no-id-${safeName(statement).slice(0, 48)}`;
}

/** A file or folder name with nothing a shell, a URL or another OS would trip on. */
export function safeName(name: string): string {
  return name.replace(/[^A-Za-z0-9._-]+/g, '-').replace(/^[.-]+|-+$/g, '') || 'file';
}

/** Reads `--evidence`; a usage error for anything else. */
export function parseEvidencePolicy(value: string | undefined): EvidencePolicy {
  const v = (value ?? 'all').toLowerCase();
  const hit = EVIDENCE_POLICIES.find((p) => p === v);
  if (!hit) throw new Error(`--evidence must be ${EVIDENCE_POLICIES.join(', ')}, got "${value}"`);
  return hit;
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

/** Reads a size like `256M`, `1G`, `500k` or a number of bytes. */
export function parseSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)(?:i?b)?\s*$/i.exec(value);
  const unit = UNITS[(m?.[2] ?? '').toLowerCase()];
  if (!m?.[1] || unit === undefined) {
    throw new Error(`--evidence-cap must be a size such as 200M, 1G or 500K, got "${value}"`);
  }
  return Math.floor(Number(m[1]) * unit);
}

/** What the run asked of its evidence files. */
export interface EvidenceOptions {
  policy: EvidencePolicy;
  capBytes: number;
}

function failing(r: Requirement): boolean {
  return r.verdict === 'non-conformant' || r.verdict === 'error';
}

async function sha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function sizeOf(path: string): Promise<number | undefined> {
  try {
    const s = await stat(path);
    return s.isFile() ? s.size : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Settles a finished run's evidence files in its report directory: keeps those `--evidence`
 * asks for (failing requirements' first), leaves out what would pass the size cap (recorded, not
 * silently dropped), records sizes and checksums, and removes every other file under
 * `evidence/` (a passing requirement's under `failures`, what an interrupted test left).
 */
export async function settleEvidence(run: Run, reportDir: string, opts: EvidenceOptions): Promise<Run> {
  const all = [...allRequirements(run)].map((x) => x.requirement);
  // Failing requirements first: when the cap is reached, it is passing evidence that goes.
  const order = [...all.filter(failing), ...all.filter((r) => !failing(r))];
  const settled = new Map<Requirement, Attachment[]>();
  const kept = new Set<string>();
  const account: EvidenceFiles = {
    policy: opts.policy,
    capBytes: opts.capBytes,
    files: 0,
    bytes: 0,
    omittedFiles: 0,
    omittedBytes: 0,
  };
  for (const r of order) {
    const wanted = opts.policy === 'all' || (opts.policy === 'failures' && failing(r));
    if (!wanted || !r.attachments?.length) continue;
    const out: Attachment[] = [];
    for (const a of r.attachments) {
      const file = join(reportDir, a.path);
      const bytes = await sizeOf(file);
      if (bytes === undefined) {
        out.push({ ...a, omitted: 'not written: the test stopped before the file was complete' });
        continue;
      }
      if (account.bytes + bytes > opts.capBytes) {
        account.omittedFiles += 1;
        account.omittedBytes += bytes;
        out.push({
          ...a,
          bytes,
          omitted: `the run's evidence size cap (${formatBytes(opts.capBytes)}) was reached`,
        });
        continue;
      }
      account.files += 1;
      account.bytes += bytes;
      kept.add(a.path);
      out.push({ ...withoutOmitted(a), bytes, sha256: await sha256(file) });
    }
    settled.set(r, out);
  }
  await pruneEvidence(join(reportDir, EVIDENCE_DIR), EVIDENCE_DIR, kept);
  const passes = run.passes.map((pass) => ({
    ...pass,
    areas: pass.areas.map((area) => ({
      ...area,
      requirements: area.requirements.map((r) => {
        const { attachments: _old, ...rest } = r;
        const files = settled.get(r);
        return files?.length ? { ...rest, attachments: files } : rest;
      }),
    })),
  }));
  return { ...run, passes, evidenceFiles: account };
}

function withoutOmitted(a: Attachment): Attachment {
  const { omitted: _omitted, ...rest } = a;
  return rest;
}

/** Removes every file under `dir` whose report path is not kept, then the folders left empty. */
async function pruneEvidence(dir: string, relDir: string, kept: ReadonlySet<string>): Promise<boolean> {
  let entries: Dirent[];
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return true;
  }
  let empty = true;
  for (const e of entries) {
    const path = join(dir, e.name);
    const rel = `${relDir}/${e.name}`;
    if (e.isDirectory()) {
      if (!(await pruneEvidence(path, rel, kept))) empty = false;
    } else if (kept.has(rel)) {
      empty = false;
    } else {
      await rm(path, { force: true });
    }
  }
  if (empty) await rmdir(dir).catch(() => {});
  return empty;
}

/** Removes a run's evidence folder (a run that failed before it could write its report). */
export async function discardEvidence(reportDir: string): Promise<void> {
  await rm(join(reportDir, EVIDENCE_DIR), { recursive: true, force: true });
  // The report directory itself, if the evidence was all it held.
  await rmdir(reportDir).catch(() => {});
}

/** {@link discardEvidence} at once, for a process that is about to exit. */
export function discardEvidenceNow(reportDir: string): void {
  rmSync(join(reportDir, EVIDENCE_DIR), { recursive: true, force: true });
  try {
    rmdirSync(reportDir);
  } catch {}
}
