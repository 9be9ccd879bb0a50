/**
 * Evidence a network engineer can open, from real runs: the dsr suite in Tunnel and DSR mode,
 * once as it is and once with DSR broken on purpose (the client opted out of DSR by a
 * FelixConfiguration, so its replies go back through the entry node). The broken run's report
 * directory holds the pcaps of every DSR requirement that captures, tcpdump reads them, the
 * failing requirement's evidence is in report.md and linked from report.html in Chromium, and
 * `dpconform report diff` names the requirement that broke.
 */
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { chromium } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { listNetns } from '../../../src/cluster/netns/ip.ts';
import { newRunId, reapRuns } from '../../../src/cluster/providers.ts';
import { allRequirements, type Requirement, type Run } from '../../../src/report/model.ts';
import { type ConformanceOutcome, runConformance } from '../../../src/run/conformance.ts';
import { planPasses } from '../../../src/run/passes.ts';
import { run } from '../../../src/sys/exec.ts';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const ARTIFACTS = join(ROOT, 'reports/test-artifacts/report-html');
// The netns provider's first external client: the topology is planned, not discovered.
const CLIENT_IP = '172.18.1.1';
/** The requirements of the dsr suite that prove a reply path with captures, and the pass that checks each. */
const CAPTURED: Record<string, string> = {
  'DSR-002': 'bpf-DSR',
  'DSR-003': 'bpf-DSR',
  'DSR-004': 'bpf-Tunnel',
  'DSR-005': 'bpf-DSR',
};

const quiet = Object.assign(new Writable({ write: (_c, _e, cb) => cb() }), {
  isTTY: false,
}) as unknown as NodeJS.WriteStream;

let dir = '';
const runIds = [newRunId(), newRunId()];
let good: ConformanceOutcome;
let broken: ConformanceOutcome;

function runOnce(runId: string, manifests: string[]): Promise<ConformanceOutcome> {
  return runConformance({
    areas: ['dsr'],
    passes: planPasses({ dataplane: 'bpf', serviceMode: 'both' }),
    nodes: 3,
    provider: 'netns',
    runId,
    reportsRoot: join(dir, 'reports'),
    keep: false,
    manifests,
    argv: ['run', '--suite', 'dsr', '--service-mode', 'both'],
    log: () => {},
    out: quiet,
  });
}

function requirement(r: Run, pass: string, id: string): Requirement {
  const found = [...allRequirements(r)].find(
    (x) => `${x.pass.mode.dataplane}-${x.pass.mode.serviceMode}` === pass && x.requirement.id === id,
  );
  if (!found) throw new Error(`no ${id} in ${pass}`);
  return found.requirement;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-evidence-run-'));
  const optout = join(dir, 'dsr-optout.yaml');
  await writeFile(
    optout,
    [
      'apiVersion: projectcalico.org/v3',
      'kind: FelixConfiguration',
      'metadata:',
      '  name: default',
      'spec:',
      '  bpfDSROptoutCIDRs:',
      `  - ${CLIENT_IP}/32`,
      '',
    ].join('\n'),
  );
  good = await runOnce(runIds[0]!, []);
  broken = await runOnce(runIds[1]!, [optout]);
}, 10 * 60_000);

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
  // A run cut short (a timeout) must not leave its cluster behind.
  for (const id of runIds) await reapRuns(id);
});

describe('a run with DSR broken on purpose', () => {
  test('the break is caught: DSR-002 conforms in the good run and not in the broken one', () => {
    expect(requirement(good.run, 'bpf-DSR', 'DSR-002').verdict).toBe('conformant');
    const r = requirement(broken.run, 'bpf-DSR', 'DSR-002');
    expect(r.verdict).toBe('non-conformant');
    expect(r.summary).toMatch(
      new RegExp(
        `^[1-9]\\d* of [1-9]\\d* reply packets to ${CLIENT_IP}:\\d+ crossed dpc-\\S+ \\(the entry node\\)`,
      ),
    );
  });

  test('its report directory holds the pcaps of every DSR requirement that captures, and tcpdump reads them', async () => {
    for (const [id, pass] of Object.entries(CAPTURED)) {
      const r = requirement(broken.run, pass, id);
      const pcaps = (r.attachments ?? []).filter((a) => a.kind === 'pcap');
      // One per interface captured: the entry node's, the backend node's and each client's.
      expect(pcaps.length, id).toBeGreaterThanOrEqual(3);
      const wheres = new Set(pcaps.map((a) => a.where));
      expect(
        [...wheres].filter((w) => w?.startsWith('dpc-')),
        id,
      ).toHaveLength(2);
      expect(wheres.size, id).toBeGreaterThanOrEqual(3);
      for (const a of pcaps) {
        const file = join(broken.reportDir, a.path);
        expect(a.path.startsWith(`evidence/${pass}/${id}/`), a.path).toBe(true);
        expect(createHash('sha256').update(readFileSync(file)).digest('hex')).toBe(a.sha256);
        const read = await run(['tcpdump', '-r', file, '-n'], { reject: false });
        expect(read.exitCode, `tcpdump -r ${a.path}: ${read.stderr}`).toBe(0);
        expect(read.stderr).toContain('reading from file');
        // What the file holds is the exchange the requirement judged: its client's source port.
        const port = /client port (\d+)$/.exec(a.title)?.[1];
        expect(port, a.title).toBeDefined();
        expect(read.stdout, a.path).toMatch(new RegExp(`\\.${port}[ :>]`));
      }
    }
  });

  test('report.md shows the failing requirement with its evidence and links its files', async () => {
    const md = await readFile(join(broken.reportDir, 'report.md'), 'utf8');
    const failures = md.slice(md.indexOf('## Failures'), md.indexOf('## All requirements'));
    const at = failures.indexOf('— DSR-002:');
    expect(at).toBeGreaterThan(0);
    const section = failures.slice(
      at,
      failures.indexOf('\n### ', at) === -1 ? undefined : failures.indexOf('\n### ', at),
    );
    expect(section).toContain('DSR: the reply did not go from the backend node straight to the client');
    expect(section).toMatch(/\*\*In short\*\*: [1-9]\d* of [1-9]\d* reply packets/);
    expect(section).toContain('**Evidence files**');
    const r = requirement(broken.run, 'bpf-DSR', 'DSR-002');
    for (const a of r.attachments ?? []) expect(section).toContain(`](${a.path})`);
    // Each link resolves to a file beside the report.
    for (const m of section.matchAll(/\]\((evidence\/[^)]+)\)/g)) {
      expect(existsSync(join(broken.reportDir, decodeURI(m[1]!))), m[1]).toBe(true);
    }
  });

  test('report.html links each evidence file of the failing requirement, and the links open them (Chromium)', async () => {
    await mkdir(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: '/usr/bin/chromium',
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--no-first-run',
        '--disable-background-networking',
      ],
    });
    try {
      const context = await browser.newContext({
        viewport: { width: 1280, height: 900 },
        acceptDownloads: true,
      });
      const page = await context.newPage();
      const errors: string[] = [];
      page.on('pageerror', (e) => errors.push(e.message));
      await page.goto(pathToFileURL(join(broken.reportDir, 'report.html')).href, { waitUntil: 'load' });
      const row = page.locator('#failures details.req', { hasText: 'DSR-002' });
      expect(await row.count()).toBe(1);
      if ((await row.getAttribute('open')) === null) await row.locator('summary').click();
      const links = row.locator('.files a');
      const r = requirement(broken.run, 'bpf-DSR', 'DSR-002');
      expect(await links.count()).toBe(r.attachments?.length);
      for (const link of await links.all()) {
        expect(await link.isVisible()).toBe(true);
        const href = await link.evaluate((a) => (a as unknown as { href: string }).href);
        expect(existsSync(fileURLToPath(href)), href).toBe(true);
      }
      // A capture opens as the file itself: the browser hands over exactly tcpdump's bytes.
      const pcap = row.locator('.files a[data-kind="pcap"]').first();
      const target = fileURLToPath(await pcap.evaluate((a) => (a as unknown as { href: string }).href));
      const [download] = await Promise.all([page.waitForEvent('download'), pcap.click()]);
      const saved = await download.path();
      expect(readFileSync(saved).equals(readFileSync(target))).toBe(true);
      await row.screenshot({ path: join(ARTIFACTS, 'evidence-failing-row.png') });
      // The transcript opens as text in the browser.
      await row.locator('.files a[data-kind="transcript"]').click();
      await page.waitForURL(/probes\.txt$/);
      expect(await page.locator('body').innerText()).toContain(`client -> http`);
      expect(errors).toEqual([]);
      await context.close();
    } finally {
      await browser.close();
    }
  });

  test('report diff: the good run against itself is empty (exit 0); against the broken run it names DSR-002 (exit 1)', async () => {
    const cli = (...args: string[]) =>
      run([join(ROOT, 'node_modules/.bin/node'), join(ROOT, 'bin/dpconform.js'), ...args], { reject: false });
    const same = await cli('report', 'diff', good.reportDir, good.reportDir);
    expect(same.stdout).toBe('');
    expect(same.exitCode).toBe(0);
    const diff = await cli('report', 'diff', good.reportDir, broken.reportDir);
    expect(diff.exitCode).toBe(1);
    expect(diff.stdout).toMatch(
      /- DSR-002 \(bpf\/DSR · netns · kernel \S+ · \S+\): conformant → non-conformant/,
    );
  });

  test('nothing of either run is left on the machine', async () => {
    const left = (await listNetns()).filter((n) => runIds.some((id) => n.startsWith(`dpc-${id}`)));
    expect(left).toEqual([]);
  });
});
