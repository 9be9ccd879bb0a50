import { describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import { SCHEMA_VERSION } from '../../../src/report/model.ts';
import {
  mdBlock,
  mdCode,
  mdPerformance,
  mdText,
  renderMarkdown,
  renderQualificationMarkdown,
  textBar,
} from '../../../src/report/render-md.ts';
import { figureFreeRun, perfRun } from './perf-sample-run.ts';
import { conformantRun, NASTY, sampleRun } from './sample-run.ts';

describe('escaping', () => {
  test('inline text cannot become markup, HTML or a table border', () => {
    expect(mdText('<b>*x*</b> | a_b [l](u) `c`')).toBe('\\<b\\>\\*x\\*\\</b\\> \\| a\\_b \\[l\\](u) \\`c\\`');
    expect(mdText('a\nb & c')).toBe('a b &amp; c');
    expect(mdText('bell\u0007')).toBe('bell\uFFFD');
  });

  test('code spans and blocks use a fence longer than any backtick run inside', () => {
    expect(mdCode('a `b` c')).toBe('``a `b` c``');
    expect(mdCode('`edge`')).toBe('`` `edge` ``');
    expect(mdCode('x|y', true)).toBe('`x\\|y`');
    expect(mdBlock(['```', 'inside'])).toBe('````text\n```\ninside\n````');
  });
});

describe('renderMarkdown', () => {
  const md = renderMarkdown(sampleRun());

  test('starts with the verdict, then the summary matrix of area by mode', () => {
    expect(md.split('\n')[0]).toBe('# dpconform conformance report: ❌ non-conformant');
    const summary = md.slice(md.indexOf('## Summary'), md.indexOf('## Failures'));
    expect(summary).toContain('| area | `bpf/Tunnel` | `bpf/DSR` | `iptables/Tunnel` |');
    expect(summary).toContain(
      '| **nodeport** | ✅ conformant 2/2, 1 skipped | ❌ non-conformant 1 failed | — |',
    );
    expect(summary).toContain('| **map-full** | ✅ conformant 1/1 | ⚠️ error 1 error | — |');
    expect(summary).toContain('| **pass verdict** | ✅ conformant | ❌ non-conformant | ⚠️ error |');
  });

  test('sections come in order: summary, failures, all requirements, environment', () => {
    const at = ['## Summary', '## Failures', '## All requirements', '## Environment'].map((h) =>
      md.indexOf(h),
    );
    expect(at.every((i) => i > 0)).toBe(true);
    expect([...at].sort((a, b) => a - b)).toEqual(at);
  });

  test('failures list non-conformant first, then errors and problems, with evidence', () => {
    const failures = md.slice(md.indexOf('## Failures'), md.indexOf('## All requirements'));
    expect(failures.startsWith('## Failures (4)')).toBe(true);
    const order = ['❌ non-conformant — NP-002', '⚠️ error — MF-001', '⚠️ error — policy', '⚠️ error — run'].map(
      (h) => failures.indexOf(h),
    );
    expect(order.every((i) => i > 0)).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    expect(failures).toContain('- **expected**: `source 172.18.0.2:30080`');
    expect(failures).toContain('- **where**: `dpc-client eth0`');
    expect(failures).toContain('IP 10.244.2.5.8080 > 172.18.0.100.41234: Flags [S.], seq 9, ack 2');
  });

  test('every requirement appears in the full list, skips with their reason', () => {
    const all = md.slice(md.indexOf('## All requirements'), md.indexOf('## Environment'));
    expect(all.match(/^\| [a-z-]+ \| \*\*[A-Z]+-\d+\*\*/gm)).toHaveLength(9);
    expect(all).toMatch(/\| ⏭️ skipped \| 0ms \| kind not installed \\<script\\>/);
  });

  test('nothing from the run becomes raw HTML or breaks a table row', () => {
    expect(md).not.toContain('<script>');
    expect(md).not.toContain('\u0001');
    for (const row of md.split('\n').filter((l) => l.startsWith('| nodeport | **NP-010**'))) {
      expect(row.replaceAll('\\|', '').split('|')).toHaveLength(8);
    }
  });

  test('the environment names kernel, features, tools and the bpf/ revision', () => {
    const env = md.slice(md.indexOf('## Environment'));
    expect(env).toContain('| kernel release | `6.8.0-45-generic` |');
    expect(env).toContain('| helper bpf\\_redirect\\_neigh (sched\\_cls) | `no` |');
    expect(env).toContain('| tcpdump | `missing` |');
    expect(env).toContain('`0123456789abcdef0123456789abcdef01234567 (with uncommitted changes)`');
    expect(env).toContain('| bpfDataIfacePattern | `^(en.*\\|eth.*\\|tunl0)$` |');
  });

  test('a conformant run says there are no failures', () => {
    const ok = renderMarkdown(conformantRun());
    expect(ok).toContain('# dpconform conformance report: ✅ conformant');
    expect(ok).toContain('## Failures\n\nNone.');
  });
});

describe('evidence in report.md', () => {
  const md = renderMarkdown(sampleRun());

  test('a conformant requirement gets one line of evidence and its files by kind', () => {
    const row = md.split('\n').find((l) => l.startsWith('| nodeport | **NP-002**') && l.includes('✅'));
    expect(row).toContain(
      '| capture on dpc-client eth0 (tcp port 30080): 2 packets; captures: [dpc-client-eth0.pcap](evidence/bpf-Tunnel/NP-002/dpc-client-eth0.pcap); transcripts: [probes.txt](evidence/bpf-Tunnel/NP-002/probes.txt) |',
    );
    const np001 = md.split('\n').find((l) => l.startsWith('| nodeport | **NP-001**'));
    expect(np001).toContain('| every node answered; the echo server saw 172.18.0.100 each time |');
  });

  test('a failing requirement shows its evidence and links each evidence file, with its size', () => {
    const failures = md.slice(md.indexOf('## Failures'), md.indexOf('## All requirements'));
    const np002 = failures.slice(
      failures.indexOf('NP-002'),
      failures.indexOf('### ', failures.indexOf('NP-002')),
    );
    expect(np002).toContain('**Evidence files**');
    expect(np002).toContain(
      '- [dpc-client-eth0.pcap](evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap) — capture on dpc-client eth0, the client (tcp port 30080) (412 B)',
    );
    // A file the cap left out is named, not linked.
    const mf001 = md.split('\n').find((l) => l.startsWith('| map-full | **MF-001**') && l.includes('✅'));
    expect(mf001).toContain(
      '; map dumps: [conntrack-dpc-worker.json](evidence/bpf-Tunnel/MF-001/conntrack-dpc-worker.json); metrics: metrics-dpc-worker.prom (not kept) |',
    );
  });

  test('a cap that was reached is said at the top, and the evidence account is in the environment', () => {
    expect(md.slice(0, md.indexOf('## Summary'))).toContain(
      '> **Evidence size cap reached**: 1 evidence file (1.9 MiB) of run `r20250301-100000-ab12` were not kept; the cap is 1.0 MiB (`--evidence-cap`).',
    );
    expect(md).toContain(
      '| evidence files | `5 files, 2.1 KiB (--evidence all, cap 1.0 MiB; cap reached: 1 file (1.9 MiB) not kept)` |',
    );
  });

  test('a link cannot be broken by the file name', () => {
    const run = sampleRun();
    run.passes[0]!.areas[0]!.requirements[1]!.attachments![0]!.path =
      'evidence/bpf-Tunnel/NP-002/a (b) [c].pcap';
    expect(renderMarkdown(run)).toContain(
      '[a (b) \\[c\\].pcap](evidence/bpf-Tunnel/NP-002/a%20%28b%29%20%5Bc%5D.pcap)',
    );
  });
});

describe('the performance section of report.md', () => {
  const md = renderMarkdown(perfRun());
  const section = md.slice(md.indexOf('## Performance'), md.indexOf('## All requirements'));

  test('comes after the failures and before all requirements, and only when there are figures', () => {
    expect(md.indexOf('## Performance')).toBeGreaterThan(md.indexOf('## Failures'));
    expect(section.length).toBeGreaterThan(0);
    expect(renderMarkdown(figureFreeRun())).not.toContain('## Performance');
    expect(mdPerformance(figureFreeRun())).toBe('');
  });

  test('a table row per figure: requirement, lane, figure, value ± spread, the claim, the verdict', () => {
    expect(section).toContain("| requirement | lane | figure | measured | guide's claim | verdict |");
    expect(section).toContain(
      '| **PERF-001** | `bpf/DSR` | throughput NodePort client-\\>pod, eBPF DSR / iptables | 1.31 ± 0.04 ↑ | 10-25 % more throughput than iptables | ✅ conformant |',
    );
    expect(section).toContain(
      '| **PERF-003** | `bpf/DSR` | latency p99, eBPF DSR | 212 µs ± 9 ↓ | lower latency than iptables | ❌ non-conformant |',
    );
    expect(section).toContain(
      '| **PERF-001** | `iptables/Tunnel` | connections per second, iptables | 18400 conn/s ± 500 ↑ | — |',
    );
    expect(section.match(/^\| \*\*[A-Z]+-\d+\*\* \|/gm)).toHaveLength(20);
  });

  test('a bar chart is a block of bars scaled to the largest value', () => {
    expect(section).toContain('### throughput, Gbit/s (higher is better)');
    const block = section.slice(section.indexOf('```text', section.indexOf('### throughput')));
    const lines = block.split('\n').slice(1, 4);
    expect(lines).toEqual([
      'eBPF Tunnel  █████████████████████████▍    9.41 Gbit/s ± 0.12',
      'eBPF DSR     ████████████████████████████  10.4 Gbit/s ± 0.2',
      'iptables     █████████████████████▍        7.95 Gbit/s ± 0.15',
    ]);
  });

  test('a line chart is a small table: x down, series across', () => {
    const at = section.indexOf('### per-packet cost, ns (lower is better)');
    expect(at).toBeGreaterThan(0);
    expect(section.slice(at)).toContain(
      [
        '| Services | eBPF (ns) | iptables (ns) |',
        '| ---: | ---: | ---: |',
        '| 10 | 92 ± 3 | 118 ± 4 |',
        '| 1000 | 95 ± 3 | 1240 ± 30 |',
        '| 10000 | 101 ± 3 | 11800 ± 260 |',
      ].join('\n'),
    );
  });

  test('text bars use eighths of a block', () => {
    expect(textBar(1, 1, 4)).toBe('████');
    expect(textBar(0.5, 1, 3)).toBe('█▌');
    expect(textBar(0, 1)).toBe('');
    expect(textBar(-2, 1)).toBe('');
  });

  test('names, claims and chart titles cannot become markup', () => {
    const run = perfRun();
    run.passes[0]!.areas.at(-1)!.requirements[0]!.evidence.push({
      kind: 'figure',
      name: NASTY,
      value: 1,
      claim: NASTY,
      chart: { title: NASTY, series: NASTY, x: 1, xLabel: NASTY },
    });
    const out = mdPerformance(run);
    expect(out).not.toContain('<script>');
    expect(out).not.toContain('\u0001');
    const rows = out.split('\n').filter((l) => l.startsWith('| **PERF-001** | `bpf/Tunnel` | \\<script'));
    expect(rows).toHaveLength(1);
    expect(rows[0]?.replaceAll('\\|', '').split('|')).toHaveLength(8);
    expect(out).toContain('### \\<script\\>alert');
  });

  test('a qualification names the run of each figure', () => {
    const other = structuredClone(perfRun());
    other.runId = 'r-6.1';
    const q = mergeRuns(
      [perfRun(), other].map((run) => ({ run, source: run.runId, sourceSchemaVersion: SCHEMA_VERSION })),
      'q',
    );
    const out = renderQualificationMarkdown(q);
    expect(out).toContain("| run | requirement | lane | figure | measured | guide's claim | verdict |");
    expect(out).toContain('| `r-6.1` | **PERF-001** | `bpf/Tunnel` |');
    expect(out).toContain('eBPF Tunnel · r-6.1');
  });
});
