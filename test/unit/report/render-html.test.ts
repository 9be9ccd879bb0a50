import { describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import { SCHEMA_VERSION } from '../../../src/report/model.ts';
import { html, renderHtml, renderQualificationHtml } from '../../../src/report/render-html.ts';
import { figureFreeRun, perfRun } from './perf-sample-run.ts';
import { conformantRun, NASTY, sampleRun } from './sample-run.ts';

describe('html()', () => {
  test('escapes markup, both quotes and control characters', () => {
    expect(html(`<a href="x" title='y'>&</a>\u0002`)).toBe(
      '&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;\uFFFD',
    );
  });
});

describe('renderHtml', () => {
  const page = renderHtml(sampleRun());

  test('the banner carries the run verdict', () => {
    expect(page).toContain(
      '<header class="banner v-non-conformant" id="verdict" data-verdict="non-conformant">',
    );
    expect(page).toContain('<span id="verdict-word">Non-conformant</span>');
    expect(renderHtml(conformantRun())).toContain('data-verdict="conformant"');
  });

  test('is self-contained: no external resource, and a policy that forbids any', () => {
    expect(page).toContain(
      `content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:"`,
    );
    expect(page).not.toMatch(/<(link|img|iframe|object|embed)\b/);
    expect(page).not.toMatch(/<script\s+src/);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(page.match(/<script>/g)).toHaveLength(1);
  });

  test('text from the run is escaped wherever it appears', () => {
    expect(page).not.toContain(NASTY);
    expect(page).not.toContain('<script>alert');
    expect(page).toContain('&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
    expect(page).not.toContain('\u0001');
  });

  test('the matrix has a row per area and a column per mode, linked to the area', () => {
    const matrix = page.slice(page.indexOf('<table class="matrix">'), page.indexOf('</table>'));
    expect([...matrix.matchAll(/<th scope="col">([^<]*)<\/th>/g)].map((m) => m[1])).toEqual([
      'area',
      'bpf/Tunnel',
      'bpf/DSR',
      'iptables/Tunnel',
    ]);
    expect([...matrix.matchAll(/<th scope="row">([^<]*)<\/th>/g)].map((m) => m[1])).toEqual([
      'nodeport',
      'policy',
      'map-full',
      'pass',
    ]);
    expect(matrix).toContain(
      '<td class="cell v-non-conformant" data-verdict="non-conformant"><a href="#p1-bpf-dsr-nodeport">',
    );
    expect(page).toContain('<div class="area" id="p1-bpf-dsr-nodeport">');
  });

  test('failures come before all requirements, non-conformant first', () => {
    const failures = page.indexOf('<section id="failures">');
    const all = page.indexOf('<section id="requirements">');
    expect(failures).toBeGreaterThan(0);
    expect(all).toBeGreaterThan(failures);
    const section = page.slice(failures, all);
    expect(section.indexOf('NP-002')).toBeLessThan(section.indexOf('MF-001'));
    expect(section).toContain('teardown broke');
  });

  test('each requirement is a details/summary row with its evidence inside', () => {
    const rows = page.slice(page.indexOf('<section id="requirements">')).match(/<details class="req /g);
    expect(rows).toHaveLength(9);
    const np001 = page.slice(page.indexOf('id="p0-bpf-tunnel-nodeport-0-np-001"'));
    const row = np001.slice(0, np001.indexOf('</details>'));
    expect(row).toContain('<summary>');
    expect(row).toContain('server saw');
    expect(row).toContain('calico_bpf_connections_total');
  });

  test('the environment block names kernel, features and tools', () => {
    const env = page.slice(page.indexOf('<section id="environment">'));
    expect(env).toContain('6.8.0-45-generic');
    expect(env).toContain('<li class="chip f-no"');
    expect(env).toContain('<code>missing</code>');
    expect(env).toContain('bpfMapSizeConntrack');
  });
});

describe('evidence files in report.html', () => {
  const page = renderHtml(sampleRun());

  test('each evidence file is a link from its requirement, relative to the page, with its media type', () => {
    const row = page.slice(page.indexOf('id="p1-bpf-dsr-nodeport-1-np-002"'));
    const body = row.slice(0, row.indexOf('</details>'));
    expect(body).toContain('<h5>Evidence files</h5>');
    expect(body).toContain(
      '<a href="evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap" type="application/vnd.tcpdump.pcap" data-kind="pcap">dpc-client-eth0.pcap</a>',
    );
    expect(body).toContain(
      '<a href="evidence/bpf-DSR/NP-002/probes.txt" type="text/plain" data-kind="transcript">',
    );
  });

  test('the failing requirement in the failures section links its files too', () => {
    const failures = page.slice(
      page.indexOf('<section id="failures">'),
      page.indexOf('<section id="requirements">'),
    );
    expect(failures).toContain('href="evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap"');
  });

  test('a file the cap left out is named without a link, and the cap is said at the top', () => {
    expect(page).toContain('<span class="omitted">metrics-dpc-worker.prom</span>');
    expect(page).not.toContain('href="evidence/bpf-Tunnel/MF-001/metrics-dpc-worker.prom"');
    expect(page).toContain('<p class="notice" id="evidence-cap"><b>Evidence size cap reached:</b>');
  });

  test('the suite’s one-line summary leads a requirement’s evidence', () => {
    expect(page).toContain(
      '<p class="ev-line">every node answered; the echo server saw 172.18.0.100 each time</p>',
    );
  });
});

describe('the performance section of report.html', () => {
  const page = renderHtml(perfRun());
  const start = page.indexOf('<section id="performance">');
  const section = page.slice(start, page.indexOf('</section>', start));

  test('comes after the failures and before all requirements, and only when there are figures', () => {
    expect(start).toBeGreaterThan(page.indexOf('<section id="failures">'));
    expect(page.indexOf('<section id="requirements">')).toBeGreaterThan(start);
    expect(renderHtml(figureFreeRun())).not.toContain('id="performance"');
    expect(renderHtml(figureFreeRun())).not.toContain('<svg');
  });

  test('a table row per figure, linked to its requirement', () => {
    const table = section.slice(section.indexOf('<table class="perf">'));
    expect(table.match(/<tbody>.*<\/tbody>/)?.[0].match(/<tr>/g)).toHaveLength(20);
    expect(table).toContain(
      '<th scope="col">requirement</th><th scope="col">lane</th><th scope="col">figure</th><th scope="col">measured</th><th scope="col">guide’s claim</th><th scope="col">verdict</th>',
    );
    const row = table.slice(
      table.indexOf('<tr><td><a class="rid" href="#p1-bpf-dsr-performance-2-perf-003"'),
    );
    expect(row.slice(0, row.indexOf('</tr>'))).toContain(
      '<td class="num">61 µs ± 2 <span class="better" title="lower is better">↓</span></td><td>lower latency than iptables</td>',
    );
    // The link's target is the requirement's own row.
    expect(page).toContain(
      '<details class="req v-non-conformant" data-verdict="non-conformant" id="p1-bpf-dsr-performance-2-perf-003"',
    );
  });

  test('a figure per chart, inline SVG, with the page loading nothing', () => {
    expect(section.match(/<figure class="chart" id="chart-\d+"><svg /g)).toHaveLength(3);
    expect(section.match(/<rect class="bar"/g)).toHaveLength(6);
    expect(section.match(/<circle class="point"/g)).toHaveLength(6);
    expect(section).toContain('>Services (log scale)</text>');
    expect(page).not.toMatch(/<(link|img|iframe|object|embed)\b/);
    expect(page).not.toMatch(/(src|href)="(https?:)?\/\//);
  });

  test('text from the figures is escaped in the table and the charts', () => {
    const run = perfRun();
    run.passes[0]!.areas.at(-1)!.requirements[0]!.evidence.push({
      kind: 'figure',
      name: NASTY,
      value: 1,
      unit: NASTY,
      claim: NASTY,
      label: NASTY,
      where: NASTY,
      chart: { title: NASTY, series: NASTY },
    });
    const out = renderHtml(run);
    expect(out).not.toContain('<script>alert');
    expect(out).not.toContain('\u0001');
    const perf = out.slice(
      out.indexOf('<section id="performance">'),
      out.indexOf('<section id="requirements">'),
    );
    expect(perf).toContain(
      '<title id="chart-1-t">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;',
    );
    expect(perf).toContain('<td>&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;q&#39;');
  });

  test('a qualification shows the figures of every run, with a run column', () => {
    const other = structuredClone(perfRun());
    other.runId = 'r-6.1';
    const q = mergeRuns(
      [perfRun(), other].map((run) => ({ run, source: run.runId, sourceSchemaVersion: SCHEMA_VERSION })),
      'q',
    );
    const out = renderQualificationHtml(q);
    const perf = out.slice(
      out.indexOf('<section id="performance">'),
      out.indexOf('<section id="requirements">'),
    );
    expect(perf).toContain('<th scope="col">run</th><th scope="col">requirement</th>');
    expect(perf).toContain(
      '<tr><td><code>r-6.1</code></td><td><a class="rid" href="#r0-p0-bpf-tunnel-map-full-0-mf-001"',
    );
    expect(out).toContain('id="r0-p0-bpf-tunnel-map-full-0-mf-001"');
    expect(perf.match(/<rect class="bar"/g)).toHaveLength(12);
  });
});
