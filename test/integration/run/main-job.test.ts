/**
 * The main job end to end: a conformance run of every suite on the eBPF dataplane in both
 * service modes and on the iptables baseline, with its report.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { newRunId, reapRuns } from '../../../src/cluster/providers.ts';
import { allRequirements } from '../../../src/report/model.ts';
import { reportProblems } from '../../../src/report/validate.ts';
import { runConformance } from '../../../src/run/conformance.ts';
import { planPasses } from '../../../src/run/passes.ts';
import { availableAreas, defaultAreas } from '../../../src/run/suites.ts';

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;
let dir = '';
const runId = newRunId();

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  // A run cut short (a timeout) must not leave its cluster behind.
  await reapRuns(runId);
});

describe('dpconform run', () => {
  it(
    'every suite, eBPF in Tunnel and DSR and the iptables baseline: conformant, with a valid report and nothing left behind',
    async () => {
      dir = await mkdtemp(join(tmpdir(), 'dpc-report-'));
      const outcome = await runConformance({
        areas: defaultAreas(availableAreas()),
        passes: planPasses({ dataplane: 'both', serviceMode: 'both' }),
        nodes: 3,
        provider: 'netns',
        runId,
        reportsRoot: dir,
        keep: false,
        manifests: [],
        argv: ['run'],
        log: () => {},
        out: quiet,
      });
      const bad = [...allRequirements(outcome.run)]
        .filter((x) => x.requirement.verdict === 'non-conformant' || x.requirement.verdict === 'error')
        .map(
          (x) =>
            `${x.pass.mode.dataplane}/${x.pass.mode.serviceMode} ${x.requirement.id}: ${x.requirement.failure?.message ?? x.requirement.reason}`,
        );
      expect(bad).toEqual([]);
      expect(outcome.run.verdict).toBe('conformant');
      expect(outcome.run.passes.map((p) => `${p.mode.dataplane}/${p.mode.serviceMode}`)).toEqual([
        'bpf/Tunnel',
        'bpf/DSR',
        'iptables/Tunnel',
      ]);
      const json = JSON.parse(readFileSync(join(outcome.reportDir, 'report.json'), 'utf8'));
      expect(reportProblems(json)).toEqual([]);
      expect(json.config.provider).toBe('netns');
      expect(readFileSync(join(outcome.reportDir, 'junit.xml'), 'utf8')).toContain('<testsuites');
      expect((await listNetns()).filter((n) => n.startsWith(`dpc-${outcome.run.runId}`))).toEqual([]);
    },
    15 * 60_000,
  );
});
