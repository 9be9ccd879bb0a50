import { describe, expect, test } from 'vitest';
import { html, renderHtml } from '../../../src/report/render-html.ts';
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
