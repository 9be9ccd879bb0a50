/**
 * `dpconform run` interrupted, killed or misused as a user on a shared machine would: Ctrl-C and
 * SIGTERM at a random point leave nothing behind, a second Ctrl-C says how to finish, a killed
 * run is named and reaped by the next command, a run's cluster refuses other commands' changes,
 * and bad input is refused before anything is built.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { signalProcess } from '../../../src/sys/process.ts';
import type { CliProcess } from './cli.ts';

const work = mkdtempSync(join(tmpdir(), 'dpc-cli-'));
const reports = join(work, 'reports');
// Runs of this file keep their state apart, so that other runs on the machine (whose `run` and
// `up` reap abandoned runs) neither list nor reap them; the state directory is read when the
// modules load, hence the imports after it.
process.env.DPCONFORM_STATE_DIR = join(work, 'state');
const { reapRuns, runStatuses } = await import('../../../src/cluster/providers.ts');
const { cli, cliAs, everythingOf, processesOf, settled, startCli } = await import('./cli.ts');
const made: string[] = [];

afterAll(async () => {
  // Whatever a failed test left of its runs goes, so the next test starts clean.
  for (const id of made) await reapRuns(id);
  rmSync(work, { recursive: true, force: true });
});

const SHORT_RUN = [
  'run',
  '--suite',
  'nodeport,source-ip,loadbalancer',
  '--nodes',
  '2',
  '--report-dir',
  reports,
];

function randomMs(max: number): number {
  return Math.floor(Math.random() * max);
}

async function runIdOf(p: CliProcess): Promise<string> {
  const id = (await p.waitFor(/run ([0-9a-f]{6}): probing/))[1]!;
  made.push(id);
  return id;
}

describe('interrupted', () => {
  it('Ctrl-C (SIGINT to the process group) at a random point of the suites removes everything; meanwhile the run refuses changes from other commands', async () => {
    const p = startCli(SHORT_RUN, join(work, 'int.log'));
    const id = await runIdOf(p);
    await p.waitFor(/^PASS NP-001/m);
    // Reading is fine; changing is refused while the run is at work, and the run is untouched.
    expect((await cli(['status', '--run', id, '--json'])).exitCode).toBe(0);
    const sw = await cli(['dataplane', 'switch', '--to', 'iptables', '--run', id]);
    expect(sw.exitCode).toBe(4);
    expect(sw.stderr).toMatch(
      new RegExp(
        `^dpconform: run ${id} belongs to dpconform run \\(pid ${p.proc.pid}\\), which is still running: dataplane switch is refused.*--run ${id} --force\\n$`,
      ),
    );
    expect(JSON.parse((await cli(['status', '--run', id, '--json'])).stdout).dataplane).toBe('bpf');
    await new Promise((r) => setTimeout(r, randomMs(2000)));
    signalProcess(-p.proc.pid, 'SIGINT');
    const exit = await p.proc.exited;
    const log = await p.log();
    expect(exit.exitCode, log).toBe(130);
    expect(log).toContain(`SIGINT: interrupted; tearing down the suites`);
    expect(log).toMatch(/SIGINT: torn down\n$/);
    expect(log).not.toContain('could not start');
    expect(await everythingOf(id, reports)).toEqual([]);
  });

  it('SIGTERM to the run alone at a random point of the bring-up removes everything', async () => {
    const p = startCli(SHORT_RUN, join(work, 'term.log'));
    const id = await runIdOf(p);
    await p.waitFor(/^bringing up/m);
    await new Promise((r) => setTimeout(r, randomMs(1500)));
    signalProcess(p.proc.pid, 'SIGTERM');
    const exit = await p.proc.exited;
    const log = await p.log();
    expect(exit.exitCode, log).toBe(143);
    expect(log).toContain(`SIGTERM: interrupted; tearing down`);
    expect(log).not.toMatch(/could not start|dpconform: /);
    expect(await everythingOf(id, reports)).toEqual([]);
  });

  it('a second Ctrl-C stops waiting, says what is left and how to finish; that command removes the rest', async () => {
    const p = startCli(SHORT_RUN, join(work, 'twice.log'));
    const id = await runIdOf(p);
    await p.waitFor(/^PASS /m);
    signalProcess(-p.proc.pid, 'SIGINT');
    await p.waitFor(/SIGINT: interrupted; tearing down/);
    signalProcess(-p.proc.pid, 'SIGINT');
    const exit = await p.proc.exited;
    const log = await p.log();
    expect(exit.exitCode, log).toBe(130);
    expect(log).toContain('SIGINT again: stopped before the teardown finished');
    expect(log).toContain(`run ${id}: left: `);
    expect(log).toContain(`finish with: dpconform down --run ${id}`);
    await settled(id);
    const down = await cli(['down', '--run', id]);
    expect(down.exitCode, down.stderr).toBe(0);
    expect(await everythingOf(id, reports)).toEqual([]);
  });
});

describe('killed', () => {
  it('a run killed outright is named as abandoned by status, and the next up removes it and says so', async () => {
    const p = startCli(SHORT_RUN, join(work, 'kill.log'));
    const id = await runIdOf(p);
    await p.waitFor(/^PASS /m);
    signalProcess(p.proc.pid, 'SIGKILL');
    await p.proc.exited;
    // The suites' runner does not outlive the run: only the cluster's own servers and agents stay.
    await new Promise((r) => setTimeout(r, 2000));
    const stray = [];
    for (const pid of await processesOf(id)) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      if (cmd.includes('/suites/') || cmd.includes('vitest')) stray.push(cmd.replaceAll('\0', ' '));
    }
    expect(stray).toEqual([]);
    expect((await everythingOf(id)).length).toBeGreaterThan(0);

    const status = await cli(['status', '--run', id]);
    expect(status.exitCode).toBe(0);
    expect(status.stderr).toContain(
      `warning: run ${id} (dpconform run, pid ${p.proc.pid}, gone) was abandoned by its owner: remove it with \`dpconform down --run ${id}\``,
    );

    const up = await cli(['up', '--nodes', '1', '--dataplane', 'iptables']);
    expect(up.exitCode, up.stderr).toBe(0);
    expect(up.stderr).toMatch(
      new RegExp(
        `removed abandoned run ${id} \\(dpconform run, pid ${p.proc.pid}, gone\\): \\d+ processes, \\d+ network namespaces, 1 bpffs directory, 1 cgroup, 1 state directory`,
      ),
    );
    expect(await everythingOf(id)).toEqual([]);
    const upId = /tear it down with: dpconform down --run ([0-9a-f]{6})/.exec(up.stdout)?.[1];
    expect(upId, up.stdout).toBeDefined();
    made.push(upId!);
    // `up` handed its cluster over: it is kept, not abandoned, and changes are welcome.
    expect((await runStatuses()).find((r) => r.runId === upId)?.state).toBe('kept');
    expect((await cli(['down', '--run', upId!])).exitCode).toBe(0);
    expect(await everythingOf(upId!)).toEqual([]);
  });
});

describe('misused', () => {
  it('every command but report says the same one line to a user who is not root, and exits 3', async () => {
    const line =
      'dpconform: not running as root (uid 65534): run dpconform with sudo, it creates network namespaces, loads BPF programs and pins maps\n';
    for (const args of [
      ['run'],
      ['build'],
      ['up', '-f', 'x.yaml'],
      ['status'],
      ['down', '--all'],
      ['probe', 'client', '1.2.3.4:80'],
    ]) {
      const r = await cliAs(65534, args);
      expect([r.exitCode, r.stdout, r.stderr], args.join(' ')).toEqual([3, '', line]);
    }
  });

  const bad = join(work, 'bad');
  const malformed = join(work, 'malformed.yaml');

  it('every bad input exits 2 with one line naming it, and nothing is built', async () => {
    await mkdir(bad, { recursive: true });
    const broken =
      'apiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports:\n  - port: 80\n   bad: [\n';
    writeFileSync(malformed, broken);
    writeFileSync(join(bad, 'a.yaml'), 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\n');
    writeFileSync(join(bad, 'b.yaml'), broken);
    const cases: [string[], RegExp][] = [
      [['run', '--nodes', '0'], /--nodes must be from 1 to 200 on the netns provider, got 0/],
      [['run', '--nodes', '500'], /--nodes must be from 1 to 200 on the netns provider, got 500/],
      [['run', '-f', join(work, 'missing.yaml')], /missing\.yaml: no such file or directory/],
      [['run', '-f', malformed], /malformed\.yaml:8: YAML syntax error/],
      [
        ['run', '--report-dir', '/etc/passwd'],
        /--report-dir \/etc\/passwd: \/etc\/passwd is not a directory/,
      ],
      [['up', '-f', join(work, 'missing.yaml')], /missing\.yaml: no such file or directory/],
      [['up', '-f', malformed], /malformed\.yaml:8: YAML syntax error/],
      [['up', '-f', bad], /bad\/b\.yaml:8: YAML syntax error/],
      [['up', '--nodes', '0'], /--nodes must be from 1 to 200/],
      [
        ['probe', 'client', 'http://999.1.1.1:80/'],
        /probe: "http:\/\/999\.1\.1\.1:80\/": 999\.1\.1\.1 is not an IPv4 address/,
      ],
    ];
    for (const [args, message] of cases) {
      const p = startCli(args, join(work, `bad-${args.join('-').replaceAll('/', '_')}.log`));
      const exit = await p.proc.exited;
      const log = await p.log();
      expect(exit.exitCode, `${args.join(' ')}: ${log}`).toBe(2);
      expect(log.split('\n').filter(Boolean), args.join(' ')).toHaveLength(1);
      expect(log, args.join(' ')).toMatch(message);
      // Nothing was built: no run ever had this process as its owner.
      expect((await runStatuses()).filter((r) => r.owner?.pid === p.proc.pid)).toEqual([]);
    }
  });
});
