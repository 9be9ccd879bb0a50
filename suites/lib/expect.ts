/**
 * Expectations about traffic, each proved with what the echo server or the probe saw, recorded
 * as evidence, and failing with what was expected, what was seen and where to look.
 */
import type { Cluster } from '../../src/cluster/types.ts';
import {
  appendText,
  ConformanceFailure,
  type EvidenceTarget,
  echoEvidence,
  probeTranscript,
  recordEvidence,
} from '../../src/report/evidence.ts';
import type { ProbeErrorKind, ProbeRequest, ProbeResult } from '../../src/workload/types.ts';

/** How long a refusal may take to count as "at once". */
export const REFUSE_WITHIN_MS = 1000;

function describeResult(r: ProbeResult): string {
  if (r.ok)
    return `answered${r.status !== undefined ? ` HTTP ${r.status}` : ''} "${(r.body ?? '').trim().slice(0, 80)}" in ${r.totalMs.toFixed(0)} ms`;
  return `${r.error} (${r.errorMessage ?? 'no detail'}) after ${r.totalMs.toFixed(0)} ms`;
}

function target(req: ProbeRequest): string {
  return `${req.kind} ${req.host}:${req.port}${req.path ?? ''}`;
}

/** Records a probe: its echo evidence, and its whole exchange in the requirement's probe transcript. */
export function recordProbe(ctx: EvidenceTarget, from: string, req: ProbeRequest, r: ProbeResult): void {
  recordEvidence(ctx, echoEvidence(from, r));
  appendText(
    ctx,
    {
      name: 'probes.txt',
      kind: 'transcript',
      title: 'every probe the requirement made, with its whole reply',
    },
    probeTranscript(from, req, r),
  );
}

/** Probes and requires an answer; returns the reply body. */
export async function expectAnswer(
  ctx: EvidenceTarget,
  c: Cluster,
  from: string,
  req: ProbeRequest,
  where: string,
): Promise<string> {
  const r = await c.probe(from, req);
  recordProbe(ctx, from, req, r);
  if (!r.ok) {
    throw new ConformanceFailure(`${from} -> ${target(req)} got no answer`, {
      expected: 'an answer from a backend',
      seen: describeResult(r),
      where,
    });
  }
  return (r.body ?? '').trim();
}

/** Probes and requires a failure of one of the given kinds (and, for refusals, a fast one). */
export async function expectNoAnswer(
  ctx: EvidenceTarget,
  c: Cluster,
  from: string,
  req: ProbeRequest,
  allowed: readonly ProbeErrorKind[],
  where: string,
): Promise<ProbeResult> {
  const r = await c.probe(from, req);
  recordProbe(ctx, from, req, r);
  const expected = `${allowed.join(' or ')}${allowed.includes('refused') ? ` within ${REFUSE_WITHIN_MS} ms` : ''}`;
  if (r.ok || !r.error || !allowed.includes(r.error)) {
    throw new ConformanceFailure(`${from} -> ${target(req)} should not be answered`, {
      expected,
      seen: describeResult(r),
      where,
    });
  }
  if (r.error === 'refused' && r.totalMs > REFUSE_WITHIN_MS) {
    throw new ConformanceFailure(`${from} -> ${target(req)} was refused too slowly`, {
      expected,
      seen: describeResult(r),
      where,
    });
  }
  return r;
}

/** The address part of an echo server's `/clientip` answer (`ip:port`). */
export function addressOf(clientip: string): string {
  return clientip.replace(/:\d+$/, '');
}

/** Requires the echo server to have seen the given source address. */
export function expectSource(seenClientIp: string, want: string, what: string, where: string): void {
  const seen = addressOf(seenClientIp);
  if (seen !== want) {
    throw new ConformanceFailure(`${what}: the backend saw the wrong source address`, {
      expected: `source ${want} (the client's own address)`,
      seen: `source ${seen} (echo /clientip answered "${seenClientIp}")`,
      where,
    });
  }
}
