/**
 * Opens report.html in a real headless Chromium, offline: it renders without any network
 * request or script error, shows the same verdict as report.json, expands a row to its
 * evidence, filters by verdict, and leaves screenshots in reports/test-artifacts/.
 */
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import type { Run } from '../../../src/report/model.ts';
import { writeQualification, writeReport } from '../../../src/report/write.ts';
import { conformantRun, sampleRun } from '../../unit/report/sample-run.ts';

const ARTIFACTS = new URL('../../../reports/test-artifacts/report-html/', import.meta.url).pathname;
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

let dir = '';
let browser: Browser;
let context: BrowserContext;
/** Every request the pages made other than loading the report file itself. */
const foreignRequests: string[] = [];
const pageErrors: string[] = [];

async function open(run: Run, name: string): Promise<{ page: Page; json: Run }> {
  const out = join(dir, name);
  const files = await writeReport(out, run);
  const page = await context.newPage();
  page.on('pageerror', (e) => pageErrors.push(`${name}: ${e.message}`));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(`${name}: ${m.text()}`);
  });
  await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });
  return { page, json: JSON.parse(await readFile(files.json, 'utf8')) as Run };
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'dpc-html-'));
  await mkdir(ARTIFACTS, { recursive: true });
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: CHROMIUM_ARGS });
  context = await browser.newContext({ viewport: { width: 1280, height: 900 }, offline: true });
  await context.route('**/*', async (route) => {
    const url = route.request().url();
    if (url.startsWith('file://') && url.endsWith('/report.html')) return route.continue();
    foreignRequests.push(url);
    return route.abort();
  });
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('report.html in Chromium', () => {
  test('renders offline: no request beyond the file, no script error', async () => {
    const { page } = await open(sampleRun(), 'sample');
    expect(await page.title()).toBe('dpconform Non-conformant — r20250301-100000-ab12');
    expect(await page.locator('#matrix table').isVisible()).toBe(true);
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
    // The page's own script ran (it wires the toolbar); a CSP block would have left it inert.
    await page.locator('[data-expand="open"]').click();
    expect(await page.locator('#requirements details.req:not([open])').count()).toBe(0);
    await page.close();
  });

  test.each([
    ['sample', sampleRun],
    ['conformant', conformantRun],
  ])('the verdict shown for the %s run equals the one in report.json', async (name, make) => {
    const { page, json } = await open(make(), `verdict-${name}`);
    const banner = page.locator('#verdict');
    expect(await banner.getAttribute('data-verdict')).toBe(json.verdict);
    const word = (await page.locator('#verdict-word').innerText()).trim().toLowerCase();
    expect(word).toBe(json.verdict);
    // Every pass's verdict in the matrix footer matches too.
    const footer = await page.locator('.matrix tfoot td').allInnerTexts();
    expect(footer.map((t) => t.replace(/^\W+/, '').trim().toLowerCase())).toEqual(
      json.passes.map((p) => p.verdict),
    );
    await page.screenshot({ path: join(ARTIFACTS, `${name}-top.png`) });
    await page.close();
  });

  test('a requirement row expands to show its evidence', async () => {
    const { page } = await open(sampleRun(), 'expand');
    const row = page.locator('#p0-bpf-tunnel-nodeport-0-np-001');
    const evidence = row.locator('.evidence');
    expect(await row.getAttribute('open')).toBeNull();
    expect(await evidence.isVisible()).toBe(false);
    await row.locator('summary').click();
    expect(await row.getAttribute('open')).not.toBeNull();
    expect(await evidence.isVisible()).toBe(true);
    const text = await evidence.innerText();
    expect(text).toContain('server saw 172.18.0.100');
    expect(text).toContain('calico_bpf_connections_total');
    await row.screenshot({ path: join(ARTIFACTS, 'row-expanded.png') });
    await page.close();
  });

  test('hostile text from the run shows as text and runs nothing', async () => {
    const { page } = await open(sampleRun(), 'hostile');
    const alerts: string[] = [];
    page.on('dialog', async (d) => {
      alerts.push(d.message());
      await d.dismiss();
    });
    await page.locator('[data-expand="open"]').click();
    expect(await page.locator('main script').count()).toBe(0);
    expect(await page.locator('#failures').innerText()).toContain('<script>alert("x")</script>');
    expect(alerts).toEqual([]);
    await page.close();
  });

  test('the verdict filter hides rows, the matrix links to an area', async () => {
    const { page } = await open(sampleRun(), 'filter');
    const conformantRows = page.locator('#requirements details.req[data-verdict="conformant"]');
    expect(await conformantRows.first().isVisible()).toBe(true);
    await page.locator('[data-filter="conformant"]').uncheck();
    expect(await conformantRows.first().isVisible()).toBe(false);
    expect(
      await page.locator('#requirements details.req[data-verdict="non-conformant"]').first().isVisible(),
    ).toBe(true);
    await page.locator('.matrix a[href="#p1-bpf-dsr-nodeport"]').click();
    expect(new URL(page.url()).hash).toBe('#p1-bpf-dsr-nodeport');
    await page.close();
  });

  test('full-page screenshots for people to look at', async () => {
    for (const [name, make] of [
      ['sample', sampleRun],
      ['conformant', conformantRun],
    ] as const) {
      const { page } = await open(make(), `shot-${name}`);
      const file = join(ARTIFACTS, `${name}-full.png`);
      await page.screenshot({ path: file, fullPage: true });
      const png = await readFile(file);
      expect(png.subarray(1, 4).toString()).toBe('PNG');
      expect(png.length).toBeGreaterThan(20_000);
      await page.close();
    }
    expect(pageErrors).toEqual([]);
  });

  test('a qualification page: runs grouped over their passes, one verdict, rows of every run', async () => {
    const q = mergeRuns(
      [
        { run: sampleRun(), source: 'a', sourceSchemaVersion: 2 },
        { run: { ...conformantRun(), runId: 'r-ok' }, source: 'b', sourceSchemaVersion: 1 },
      ],
      'release-7',
    );
    const files = await writeQualification(join(dir, 'qualification'), q);
    const page = await context.newPage();
    page.on('pageerror', (e) => pageErrors.push(`qualification: ${e.message}`));
    await page.goto(pathToFileURL(files.html).href, { waitUntil: 'load' });
    expect(await page.locator('#verdict').getAttribute('data-verdict')).toBe('non-conformant');
    const groups = await page.locator('.matrix thead tr.runs th[scope="colgroup"]').allInnerTexts();
    expect(groups.map((t) => t.split(' ')[0])).toEqual(['r-ok', 'r20250301-100000-ab12']);
    expect(await page.locator('.matrix thead tr:not(.runs) th[scope="col"]').count()).toBe(1 + 1 + 3);
    expect(await page.locator('#runs').innerText()).toContain('(schema 1)');
    // A cell of the second run opens that run's area.
    await page.locator('.matrix a[href="#r1-p1-bpf-dsr-nodeport"]').click();
    expect(await page.locator('#r1-p1-bpf-dsr-nodeport').isVisible()).toBe(true);
    expect(await page.locator('#requirements details.req').count()).toBe(9 + 4);
    await page.screenshot({ path: join(ARTIFACTS, 'qualification-full.png'), fullPage: true });
    expect(foreignRequests).toEqual([]);
    expect(pageErrors).toEqual([]);
    await page.close();
  });
});
