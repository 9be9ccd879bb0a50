/**
 * `npm run soak`: `dpconform run` over and over as a shared CI machine sees it. First N full runs
 * back to back, then runs interrupted at random points (bring-up, suites, report) with SIGINT
 * (as Ctrl-C sends it, to the whole process group), SIGTERM and SIGKILL. After each it looks for
 * what the run left: namespaces, bpffs pins, cgroups, state, processes, report files, and eBPF
 * programs and maps loaded meanwhile. A killed run must be named as abandoned by `status` and
 * removed by the next `run` (its reaper) or by `down --run`. At the end it names the flakes:
 * requirements whose verdict changed between complete runs. Not part of `npm test`: it takes
 * minutes, and its figures belong in the README.
 *
 *   npm run soak -- [--runs 20] [--interrupts 10] [--kills 3] [--suite nodeport,source-ip]
 *                   [--nodes 2] [--main-job] [--seed N] [--down-all]
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { run, type Started, start } from '../src/sys/exec.ts';
import { processAlive, signalProcess } from '../src/sys/process.ts';

const CLI = new URL('../src/cli.ts', import.meta.url).pathname;
// The soak's runs keep their state apart: other people's commands on this machine (whose `run`
// and `up` reap abandoned runs) neither list nor reap them, and `status` without `--run` sees ours.
const STATE_ROOT = process.env.DPCONFORM_STATE_DIR ?? `/run/dpconform-soak-${process.pid}`;
process.env.DPCONFORM_STATE_DIR = STATE_ROOT;

const { values: flags } = parseArgs({
  options: {
    runs: { type: 'string', default: '20' },
    interrupts: { type: 'string', default: '10' },
    kills: { type: 'string', default: '3' },
    suite: { type: 'string', default: 'nodeport,loadbalancer,source-ip' },
    nodes: { type: 'string', default: '2' },
    'main-job': { type: 'boolean', default: false },
    seed: { type: 'string' },
    'down-all': { type: 'boolean', default: false },
  },
});

const count = (name: string, v: string | undefined): number => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0) throw new Error(`--${name} must be a whole number, got "${v}"`);
  return n;
};
const RUNS = count('runs', flags.runs);
const INTERRUPTS = count('interrupts', flags.interrupts);
const KILLS = count('kills', flags.kills);
const RUN_ARGS = flags['main-job']
  ? ['--dataplane', 'both', '--service-mode', 'both']
  : ['--suite', flags.suite ?? '', '--nodes', String(count('nodes', flags.nodes))];

// A small deterministic generator, so that a soak can be repeated point for point.
const SEED = flags.seed === undefined ? Date.now() % 2 ** 31 : count('seed', flags.seed);
// Spread small seeds over the whole range first: their first draws would all be near zero.
let seed = (((SEED % 2147483646) * 16807 + 104729) % 2147483646) + 1;
function random(): number {
  seed = (seed * 48271) % 2147483647;
  return seed / 2147483647;
}
for (let i = 0; i < 8; i++) random();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** eBPF objects by id. */
interface BpfIds {
  prog: Set<number>;
  map: Set<number>;
}

/** What one `dpconform run` did. */
interface Outcome {
  runId: string | undefined;
  exitCode: number;
  signal: string;
  seconds: number;
  /** How far it got, from its own progress lines: probe, build, bring-up, suites, report, done. */
  phase: string;
  log: string;
  /** The programs and maps seen pinned under the run's bpffs directory while it ran. */
  loaded: BpfIds;
}

function phaseOf(log: string): string {
  if (/^report: /m.test(log)) return 'done';
  if (/^(CONFORMANT|NON-CONFORMANT|ERROR|SKIPPED):/m.test(log)) return 'report';
  if (/^== pass|^(PASS|FAIL|SKIP|ERROR) /m.test(log)) return 'suites';
  if (/^bringing up /m.test(log)) return 'bring-up';
  if (/^building the dataplane/m.test(log)) return 'build';
  if (/probing the environment/.test(log)) return 'probe';
  return 'start';
}

let current: Started | undefined;

/** Starts `dpconform run` in a process group of its own, as a terminal would. */
async function dpconformRun(
  reports: string,
  logFile: string,
  interrupt?: { afterMs: number; signal: NodeJS.Signals; group: boolean },
): Promise<Outcome> {
  const started = performance.now();
  const proc = start([process.execPath, CLI, 'run', ...RUN_ARGS, '--report-dir', reports], {
    detached: true,
    logFile,
  });
  current = proc;
  if (interrupt) {
    const timer = setTimeout(() => {
      signalProcess(interrupt.group ? -proc.pid : proc.pid, interrupt.signal);
    }, interrupt.afterMs);
    void proc.exited.then(() => clearTimeout(timer));
  }
  // While it runs, note the programs and maps it pins: afterwards each must be gone.
  const loaded: BpfIds = { prog: new Set(), map: new Set() };
  let exited = false;
  const sampling = (async () => {
    while (!exited) {
      const id = /run ([0-9a-f]{6}): probing/.exec(await readFile(logFile, 'utf8').catch(() => ''))?.[1];
      if (id) {
        const now = await pinnedBy(id);
        for (const k of ['prog', 'map'] as const) for (const x of now[k]) loaded[k].add(x);
      }
      await sleep(1000);
    }
  })();
  const r = await proc.exited;
  exited = true;
  await sampling;
  current = undefined;
  const log = await readFile(logFile, 'utf8').catch(() => '');
  // A killed run's suites' runner follows it within a moment; wait for the group to be empty.
  const deadline = performance.now() + 5000;
  while (processAlive(-proc.pid) && performance.now() < deadline) await sleep(50);
  return {
    runId: /run ([0-9a-f]{6}): probing/.exec(log)?.[1],
    exitCode: r.exitCode,
    signal: r.stderr,
    seconds: (performance.now() - started) / 1000,
    phase: phaseOf(log),
    log,
    loaded,
  };
}

async function dpconform(args: string[]): Promise<{ exitCode: number; out: string }> {
  const r = await run([process.execPath, CLI, ...args], { reject: false, timeoutMs: 10 * 60_000 });
  return { exitCode: r.exitCode, out: `${r.stdout}${r.stderr}` };
}

/** Programs or maps loaded now, with the bpffs paths they are pinned at. */
async function bpfObjects(kind: 'prog' | 'map'): Promise<{ id: number; pinned?: string[] }[]> {
  const r = await run(['bpftool', '-f', '-j', kind, 'show'], { reject: false });
  try {
    return JSON.parse(r.stdout || '[]') as { id: number; pinned?: string[] }[];
  } catch {
    return [];
  }
}

/** Programs and maps pinned under a run's bpffs directory now. */
async function pinnedBy(runId: string): Promise<BpfIds> {
  const ours = (o: { pinned?: string[] }) =>
    (o.pinned ?? []).some((p) => p.startsWith(`/sys/fs/bpf/dpc-${runId}/`));
  const ids = async (kind: 'prog' | 'map') => new Set((await bpfObjects(kind)).filter(ours).map((o) => o.id));
  return { prog: await ids('prog'), map: await ids('map') };
}

/** Of the programs and maps a run loaded, those still loaded (pinned or not). */
async function stillLoaded(loaded: BpfIds): Promise<string[]> {
  const out: string[] = [];
  for (const kind of ['prog', 'map'] as const) {
    const now = new Set((await bpfObjects(kind)).map((o) => o.id));
    const left = [...loaded[kind]].filter((id) => now.has(id));
    if (left.length > 0)
      out.push(`${left.length} ${kind === 'prog' ? 'programs' : 'maps'} (ids ${left.join(', ')})`);
  }
  return out;
}

/** Everything of a run still on the machine, one line per kind (empty when clean). */
async function leftovers(runId: string): Promise<string[]> {
  const out: string[] = [];
  const prefix = `dpc-${runId}`;
  const netns = readdirSync('/run/netns').filter((n) => String(n).startsWith(prefix));
  if (netns.length > 0) out.push(`${netns.length} network namespaces`);
  for (const dir of ['/sys/fs/bpf', '/sys/fs/cgroup/unified']) {
    if (readdirSync(dir).some((e) => e.startsWith(prefix))) out.push(`${dir}/${prefix}`);
  }
  if (existsSync(join(STATE_ROOT, runId))) out.push(join(STATE_ROOT, runId));
  const label = [`${STATE_ROOT}/${runId}`, prefix];
  const procs: number[] = [];
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e) || Number(e) === process.pid) continue;
    const cmd = await readFile(`/proc/${e}/cmdline`, 'utf8').catch(() => '');
    if (label.some((l) => cmd.includes(l))) procs.push(Number(e));
  }
  if (procs.length > 0) out.push(`processes ${procs.join(', ')}`);
  return out;
}

function loadedText(loaded: BpfIds): string {
  return `${loaded.prog.size} programs and ${loaded.map.size} maps seen loaded`;
}

/** Verdicts of a finished run, by pass and requirement. */
function verdicts(reports: string, runId: string): Map<string, string> {
  const report = JSON.parse(readFileSync(join(reports, runId, 'report.json'), 'utf8')) as {
    passes: {
      mode: { dataplane: string; serviceMode: string };
      areas: { requirements: { id: string; verdict: string }[] }[];
    }[];
  };
  const out = new Map<string, string>();
  for (const p of report.passes) {
    for (const a of p.areas)
      for (const r of a.requirements) out.set(`${p.mode.dataplane}/${p.mode.serviceMode} ${r.id}`, r.verdict);
  }
  return out;
}

/** Interrupts that landed in a run, by signal and the phase they hit. */
const landed = new Map<string, number>();

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length > 0 ? sorted[Math.floor(sorted.length / 2)]! : 0;
}

function say(line: string): void {
  process.stdout.write(`${line}\n`);
}

process.on('SIGINT', () => {
  // Our runs live in groups of their own: pass the Ctrl-C on, as a terminal would have.
  if (current) signalProcess(-current.pid, 'SIGINT');
  else process.exit(130);
});

const work = await mkdtemp(join(tmpdir(), 'dpc-soak-'));
const reports = join(work, 'reports');
const problems: string[] = [];
const seen = new Map<string, Set<string>>();
const durations: number[] = [];
const soakStarted = performance.now();

say(
  `soak: dpconform run ${RUN_ARGS.join(' ')}; ${RUNS} full runs, ${INTERRUPTS} interrupts, ${KILLS} kills; seed ${SEED}`,
);
try {
  for (let i = 1; i <= RUNS; i++) {
    const o = await dpconformRun(reports, join(work, `run-${i}.log`));
    durations.push(o.seconds);
    const left = o.runId ? await leftovers(o.runId) : ['no run id in the output'];
    left.push(...(await stillLoaded(o.loaded)));
    let failing = 0;
    if (o.runId && existsSync(join(reports, o.runId, 'report.json'))) {
      for (const [key, verdict] of verdicts(reports, o.runId)) {
        if (!seen.has(key)) seen.set(key, new Set());
        seen.get(key)!.add(verdict);
        if (verdict === 'non-conformant' || verdict === 'error') failing++;
      }
    } else {
      left.push('no report');
    }
    say(
      `run ${i}/${RUNS} ${o.runId ?? '?'}: exit ${o.exitCode} in ${o.seconds.toFixed(1)} s, ${failing} failing; ${loadedText(o.loaded)}; left: ${left.join(', ') || 'nothing'}`,
    );
    // Exit 1 is a verdict (counted below); anything else is the harness failing.
    if (o.exitCode !== 0 && o.exitCode !== 1)
      problems.push(`run ${o.runId}: exit ${o.exitCode}\n${o.log.slice(-2000)}`);
    if (left.length > 0) problems.push(`run ${o.runId} left ${left.join(', ')}`);
    if (o.runId) await rm(join(reports, o.runId), { recursive: true, force: true });
  }

  // Interrupts land anywhere in a typical run, from its first second to its report; one that
  // misses (the run was over, or not yet started) is tried again at another point.
  const span = durations.length > 0 ? median(durations) : 30;
  const plan: { signal: NodeJS.Signals; group: boolean }[] = [];
  for (let i = 0; i < INTERRUPTS; i++) {
    plan.push(i % 3 === 2 ? { signal: 'SIGTERM', group: false } : { signal: 'SIGINT', group: i % 3 === 0 });
  }
  for (let i = 0; i < KILLS; i++) plan.push({ signal: 'SIGKILL', group: false });
  let pendingReap: { runId: string; loaded: BpfIds } | undefined;
  const leftOfKilled = async (k: { runId: string; loaded: BpfIds }) => [
    ...(await leftovers(k.runId)),
    ...(await stillLoaded(k.loaded)),
  ];
  const queue = plan.map((step) => ({ ...step, tries: 0 }));
  const missed = (step: (typeof queue)[number], why: string) => {
    if (step.tries < 3) queue.push({ ...step, tries: step.tries + 1 });
    return `missed (${why}), tried again later`;
  };
  for (let i = 0, step = queue.shift(); step; i++, step = queue.shift()) {
    const afterMs = Math.round((0.3 + random() * 0.9 * span) * 1000);
    const o = await dpconformRun(reports, join(work, `interrupt-${i}.log`), { afterMs, ...step });
    const what = `${step.signal}${step.group ? ' (process group)' : ''} at ${(afterMs / 1000).toFixed(1)} s (${o.phase})`;
    if (pendingReap) {
      // The previous run was killed: this run's reaper must have named and removed it.
      const named = new RegExp(`removed abandoned run ${pendingReap.runId}`).test(o.log);
      const left = await leftOfKilled(pendingReap);
      say(
        `  the next run ${named ? 'removed' : 'did NOT remove'} the killed run ${pendingReap.runId}; left: ${left.join(', ') || 'nothing'}`,
      );
      if (!named) problems.push(`killed run ${pendingReap.runId} not reaped by the next run`);
      if (left.length > 0)
        problems.push(`killed run ${pendingReap.runId} left ${left.join(', ')} after the reap`);
      pendingReap = undefined;
    }
    if (!o.runId || o.phase === 'done') {
      const why = o.runId
        ? `run ${o.runId} was over, exit ${o.exitCode}`
        : `no run id yet, exit ${o.signal || o.exitCode}`;
      say(`interrupt ${i + 1}: ${what}: ${missed(step, why)}`);
      if (o.runId) await rm(join(reports, o.runId), { recursive: true, force: true });
      continue;
    }
    landed.set(`${step.signal} in ${o.phase}`, (landed.get(`${step.signal} in ${o.phase}`) ?? 0) + 1);
    if (step.signal === 'SIGKILL') {
      const status = await dpconform(['status', '--run', o.runId]);
      const named = status.out.includes(`run ${o.runId}`) && status.out.includes('abandoned');
      const leftNow = await leftovers(o.runId);
      let cleaned: string;
      if (leftNow.length === 0) {
        cleaned = 'nothing was left';
      } else if (i % 2 === 0) {
        pendingReap = { runId: o.runId, loaded: o.loaded };
        cleaned = 'left for the next run to reap';
      } else {
        const d = await dpconform(['down', '--run', o.runId]);
        cleaned = `down --run: exit ${d.exitCode}`;
        if (d.exitCode !== 0)
          problems.push(`down --run ${o.runId}: exit ${d.exitCode}:\n${d.out.slice(-2000)}`);
      }
      say(
        `interrupt ${i + 1}: ${what}: run ${o.runId} killed; status ${named ? 'names it abandoned' : 'does NOT name it'}; ${cleaned}`,
      );
      if (leftNow.length > 0 && !named)
        problems.push(
          `status did not name killed run ${o.runId} as abandoned (exit ${status.exitCode}):\n${status.out.slice(0, 2000)}`,
        );
      if (!pendingReap) {
        const left = await leftOfKilled({ runId: o.runId, loaded: o.loaded });
        if (left.length > 0) problems.push(`killed run ${o.runId} left ${left.join(', ')} after down`);
      }
      await rm(join(reports, o.runId), { recursive: true, force: true });
      continue;
    }
    const left = await leftovers(o.runId);
    if (existsSync(join(reports, o.runId)) && o.phase !== 'done') left.push('a report of an interrupted run');
    left.push(...(await stillLoaded(o.loaded)));
    const expected = step.signal === 'SIGINT' ? 130 : 143;
    const exitOk = o.exitCode === expected;
    say(
      `interrupt ${i + 1}: ${what}: run ${o.runId} exit ${o.exitCode}; ${loadedText(o.loaded)}; left: ${left.join(', ') || 'nothing'}`,
    );
    if (!exitOk)
      problems.push(`run ${o.runId}: exit ${o.exitCode}, expected ${expected}\n${o.log.slice(-2000)}`);
    if (left.length > 0) problems.push(`interrupted run ${o.runId} left ${left.join(', ')}`);
    await rm(join(reports, o.runId), { recursive: true, force: true });
  }
  if (pendingReap) {
    const d = await dpconform(['down', '--run', pendingReap.runId]);
    if (d.exitCode !== 0)
      problems.push(`down --run ${pendingReap.runId}: exit ${d.exitCode}:\n${d.out.slice(-2000)}`);
    const left = await leftOfKilled(pendingReap);
    say(`down --run ${pendingReap.runId}: exit ${d.exitCode}; left: ${left.join(', ') || 'nothing'}`);
    if (left.length > 0) problems.push(`killed run ${pendingReap.runId} left ${left.join(', ')} after down`);
  }
  if (flags['down-all']) {
    const d = await dpconform(['down', '--all']);
    say(`down --all: ${d.out.trim()}`);
  }
} finally {
  await rm(work, { recursive: true, force: true });
  if (existsSync(STATE_ROOT) && readdirSync(STATE_ROOT).length === 0)
    await rm(STATE_ROOT, { recursive: true });
}

const flakes = [...seen].filter(([, v]) => v.size > 1).map(([k, v]) => `${k} (${[...v].join(', ')})`);
const failing = [...seen]
  .filter(([, v]) => v.size === 1 && (v.has('non-conformant') || v.has('error')))
  .map(([k, v]) => `${k} (${[...v].join('')})`);

say('');
say(
  `soak: ${RUNS} full runs (median ${median(durations).toFixed(1)} s), ${[...landed.values()].reduce((a, b) => a + b, 0)} interrupts landed (${[...landed].map(([k, n]) => `${n} ${k}`).join(', ')}); ${seen.size} requirement verdicts compared; ${flakes.length} flakes; ${failing.length} failing in every run; ${problems.length} problems (leftovers, wrong exit codes, unreaped runs); ${((performance.now() - soakStarted) / 60_000).toFixed(1)} min`,
);
for (const f of flakes) say(`flake: ${f}`);
for (const f of failing) say(`failing in every run: ${f}`);
for (const p of problems) say(`problem: ${p}`);
process.exitCode = flakes.length > 0 || problems.length > 0 ? 1 : 0;
