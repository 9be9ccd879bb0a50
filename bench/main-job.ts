/**
 * The main job (every suite, eBPF in Tunnel and DSR and the iptables baseline) on the netns
 * provider and on the docker provider, one after the other in one run: how long each takes, its
 * verdict, and whether both checked the same requirements. The docker variant is here rather
 * than in `npm test` because it would add another main job's length (7 to 8 minutes) to the tests.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { newRunId, reapRuns } from '../src/cluster/providers.ts';
import type { ProviderName } from '../src/cluster/types.ts';
import { allRequirements, countVerdicts } from '../src/report/model.ts';
import { runConformance } from '../src/run/conformance.ts';
import { planPasses } from '../src/run/passes.ts';
import { availableAreas } from '../src/run/suites.ts';

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

/** One provider's main job. */
export interface MainJobFigures {
  provider: ProviderName;
  seconds: number;
  verdict: string;
  counts: ReturnType<typeof countVerdicts>;
  /** `pass requirement` of every requirement checked. */
  checked: string[];
  /** Seconds each area's requirements took, summed over the passes, largest first. */
  areas: [string, number][];
  nodeImage?: string;
}

/** Runs the main job on one provider and tears it down, whatever happens. */
export async function benchMainJob(provider: ProviderName): Promise<MainJobFigures> {
  const dir = await mkdtemp(join(tmpdir(), 'dpc-bench-main-'));
  const runId = newRunId();
  const t0 = performance.now();
  try {
    const outcome = await runConformance({
      areas: availableAreas(),
      passes: planPasses({ dataplane: 'both', serviceMode: 'both' }),
      nodes: 3,
      provider,
      runId,
      reportsRoot: dir,
      keep: false,
      manifests: [],
      argv: ['run', '--provider', provider, '--dataplane', 'both', '--service-mode', 'both'],
      log: () => {},
      out: quiet,
    });
    const all = [...allRequirements(outcome.run)];
    const areas = new Map<string, number>();
    for (const x of all)
      areas.set(x.area.name, (areas.get(x.area.name) ?? 0) + (x.requirement.durationMs ?? 0) / 1000);
    return {
      provider,
      seconds: (performance.now() - t0) / 1000,
      verdict: outcome.run.verdict,
      counts: countVerdicts(all.map((x) => x.requirement)),
      checked: all
        .map((x) => `${x.pass.mode.dataplane}/${x.pass.mode.serviceMode} ${x.requirement.id}`)
        .sort(),
      areas: [...areas].sort((a, b) => b[1] - a[1]),
      ...(outcome.run.config.nodeImage ? { nodeImage: outcome.run.config.nodeImage } : {}),
    };
  } finally {
    await reapRuns(runId);
    await rm(dir, { recursive: true, force: true });
  }
}

/** One provider's main job, or why it did not finish (the other provider's figures still count). */
async function attempt(provider: ProviderName): Promise<MainJobFigures | string> {
  const t0 = performance.now();
  try {
    return await benchMainJob(provider);
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    return `  ${provider.padEnd(6)} did not finish after ${((performance.now() - t0) / 1000).toFixed(0)} s: ${why}`;
  }
}

/** The main-job section of `npm run bench` (`npm run bench main` runs it alone). */
export async function mainJobSection(): Promise<string[]> {
  const netns = await attempt('netns');
  const docker = await attempt('docker');
  const line = (f: MainJobFigures | string) =>
    typeof f === 'string'
      ? f
      : `  ${f.provider.padEnd(6)} ${f.seconds.toFixed(0).padStart(5)} s  ${f.verdict} (${f.counts.conformant} conformant, ${f.counts['non-conformant']} non-conformant, ${f.counts.error} error, ${f.counts.skipped} skipped)${f.nodeImage ? `, node image ${f.nodeImage}` : ''}`;
  const lines = ['main job, every suite in three passes (netns, then docker)', line(netns), line(docker)];
  if (typeof netns !== 'string') lines.push(...shares(netns));
  if (typeof netns !== 'string' && typeof docker !== 'string') {
    const same = JSON.stringify(netns.checked) === JSON.stringify(docker.checked);
    lines.push(
      `  docker / netns time: ${(docker.seconds / netns.seconds).toFixed(2)}x; same requirements checked: ${same ? 'yes' : 'no'}`,
    );
  }
  return lines;
}

/**
 * Where a main job's time went: each area's requirements, summed over the passes, as seconds and
 * as a share of the wall time (the rest is bring-up, switching passes, hooks and teardown).
 */
export function shares(f: Pick<MainJobFigures, 'provider' | 'seconds' | 'areas'>): string[] {
  const inAreas = f.areas.reduce((sum, [, s]) => sum + s, 0);
  const pct = (s: number) => `${((100 * s) / f.seconds).toFixed(0).padStart(3)} %`;
  return [
    `  ${f.provider}: each area's share of the ${f.seconds.toFixed(0)} s`,
    ...f.areas.map(([name, s]) => `    ${name.padEnd(16)} ${s.toFixed(1).padStart(6)} s ${pct(s)}`),
    `    ${'(outside areas)'.padEnd(16)} ${(f.seconds - inAreas).toFixed(1).padStart(6)} s ${pct(f.seconds - inAreas)}`,
  ];
}
