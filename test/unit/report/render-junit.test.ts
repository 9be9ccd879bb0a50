import { describe, expect, test } from 'vitest';
import { mergeRuns } from '../../../src/report/merge.ts';
import { renderJunit, renderQualificationJunit, xmlAttr, xmlText } from '../../../src/report/render-junit.ts';
import { conformantRun, sampleRun } from './sample-run.ts';

describe('escaping', () => {
  test('markup and quotes are escaped; characters XML cannot hold are replaced', () => {
    expect(xmlText('<a> & b ]]>')).toBe('&lt;a&gt; &amp; b ]]&gt;');
    expect(xmlAttr(`"x" 'y'\nz\t`)).toBe('&quot;x&quot; &apos;y&apos;&#10;z&#9;');
    expect(xmlText('nul\u0000 bell\u0007 ok\u00e9')).toBe('nul\uFFFD bell\uFFFD ok\u00e9');
  });
});

describe('renderJunit', () => {
  const xml = renderJunit(sampleRun());

  test('one testsuite per pass, named with its mode, provider, kernel and run', () => {
    const names = [...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1]);
    expect(names).toEqual([
      'bpf/Tunnel (netns, kernel 6.8.0-45-generic) [run r20250301-100000-ab12]',
      'bpf/DSR (netns, kernel 6.8.0-45-generic) [run r20250301-100000-ab12]',
      'iptables/Tunnel (netns, kernel 6.8.0-45-generic) [run r20250301-100000-ab12]',
    ]);
  });

  test('totals on <testsuites> add up the suites, problems counted as errors', () => {
    const root = /<testsuites ([^>]*)>/.exec(xml)?.[1] ?? '';
    expect(root).toContain('tests="11"');
    expect(root).toContain('failures="1"');
    expect(root).toContain('errors="3"');
    expect(root).toContain('skipped="2"');
  });

  test('a non-conformant requirement is a <failure> with expected, seen and where', () => {
    const suite = xml.slice(xml.indexOf('<testsuite name="bpf/DSR '));
    const from = suite.slice(suite.indexOf('name="NP-002'));
    const testcase = from.slice(0, from.indexOf('</testcase>'));
    expect(testcase).toContain('classname="dpconform.bpf.DSR.nodeport"');
    expect(testcase).toContain('time="2.310"');
    // Viewers that show only the message still see what was expected, seen and where.
    expect(testcase).toContain(
      '<failure message="the reply did not come from the frontend — expected: source 172.18.0.2:30080; seen: source 10.244.2.5:8080 (the backend pod); where: dpc-client eth0" type="ConformanceFailure">',
    );
    expect(testcase).toContain(
      'expected: source 172.18.0.2:30080\nseen: source 10.244.2.5:8080 (the backend pod)\nwhere: dpc-client eth0',
    );
    expect(testcase).toContain('<system-out>capture on dpc-client eth0');
  });

  test('an error is an <error>, a skip is <skipped message=reason/>', () => {
    expect(xml).toMatch(/<error message="command exited 1: bpftool map show[^"]*" type="CommandError">/);
    expect(xml).toMatch(
      /<skipped message="kind not installed &lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt; &amp; &apos;q&apos;[^"]*"\/>/,
    );
  });

  test('nothing from the run reaches the document unescaped', () => {
    expect(xml).not.toContain('<script>');
    expect(xml).not.toContain('\u0001');
    expect(xml).not.toMatch(/&(?!(amp|lt|gt|quot|apos|#\d+);)/);
  });

  test('properties carry the environment and mode', () => {
    expect(xml).toContain('<property name="mode.serviceMode" value="DSR"/>');
    expect(xml).toContain('<property name="kernel.release" value="6.8.0-45-generic"/>');
    expect(xml).toContain('<property name="tool.iptables" value="1.8.9 (nf_tables)"/>');
    expect(xml).toContain('<property name="setting.bpfExternalServiceMode" value="Tunnel"/>');
  });

  test('an area problem becomes an errored testcase so CI does not show green', () => {
    const suite = xml.slice(xml.indexOf('<testsuite name="iptables/Tunnel '));
    const iptables = suite.slice(0, suite.indexOf('</testsuite>'));
    expect(iptables).toContain('<testcase name="problems outside any requirement (policy)"');
    expect(iptables).toContain('<testcase name="problems outside any requirement (run)"');
    expect(iptables).toMatch(/<testsuite [^>]*tests="3" failures="0" errors="2"/);
  });

  test('the mode, kernel and provider are properties of each suite', () => {
    const suite = xml.slice(xml.indexOf('<testsuite name="bpf/DSR '));
    const props = suite.slice(0, suite.indexOf('</properties>'));
    expect(props).toContain('<property name="mode" value="bpf/DSR"/>');
    expect(props).toContain('<property name="kernel" value="6.8.0-45-generic"/>');
    expect(props).toContain('<property name="provider" value="netns"/>');
  });

  test('evidence files are attachments: a property and an [[ATTACHMENT|path]] line of their own', () => {
    const withBase = renderJunit(sampleRun(), { attachmentBase: 'reports/r20250301-100000-ab12' });
    const suite = withBase.slice(withBase.indexOf('<testsuite name="bpf/DSR '));
    const from = suite.slice(suite.indexOf('name="NP-002'));
    const testcase = from.slice(0, from.indexOf('</testcase>'));
    const path = 'reports/r20250301-100000-ab12/evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap';
    expect(testcase).toContain(`<property name="attachment" value="${path}"/>`);
    const lines = testcase.split('\n');
    expect(lines).toContain(`[[ATTACHMENT|${path}]]`);
    expect(lines).toContain(
      `[[ATTACHMENT|${path.replace('dpc-client-eth0.pcap', 'probes.txt')}]]</system-out>`,
    );
    // A file the size cap left out is named, but not offered as an attachment.
    const mf = withBase.slice(withBase.indexOf('name="MF-001'));
    const mfCase = mf.slice(0, mf.indexOf('</testcase>'));
    expect(mfCase).toContain('metrics-dpc-worker.prom');
    expect(mfCase).toContain("not kept: the run's evidence size cap");
    expect(mfCase).not.toContain(
      '[[ATTACHMENT|reports/r20250301-100000-ab12/evidence/bpf-Tunnel/MF-001/metrics',
    );
    // Without a base, paths are relative to junit.xml.
    expect(xml).toContain('[[ATTACHMENT|evidence/bpf-DSR/NP-002/dpc-client-eth0.pcap]]');
  });

  test('a conformant run has no failure, error or skipped element', () => {
    const ok = renderJunit(conformantRun());
    expect(ok).not.toMatch(/<(failure|error|skipped)/);
    expect(ok).toContain('failures="0" errors="0" skipped="0"');
  });
});

describe('renderQualificationJunit', () => {
  const one = sampleRun();
  const two = { ...conformantRun(), runId: 'r2' };
  const q = mergeRuns(
    [
      { run: one, source: 'a', sourceSchemaVersion: 2 },
      { run: two, source: 'b', sourceSchemaVersion: 2 },
    ],
    'q1',
  );
  const xml = renderQualificationJunit(q, { attachmentBase: 'out' });

  test('one testsuite per run, named by it, with its modes, kernel and provider as properties', () => {
    const names = [...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1]);
    expect(names).toEqual([
      'run r2 (netns, kernel 6.8.0-45-generic, x64): bpf/Tunnel',
      'run r20250301-100000-ab12 (netns, kernel 6.8.0-45-generic, x64): bpf/Tunnel, bpf/DSR, iptables/Tunnel',
    ]);
    expect(xml).toContain('<property name="mode" value="bpf/Tunnel, bpf/DSR, iptables/Tunnel"/>');
    expect(xml).toContain('<property name="run.id" value="r2"/>');
  });

  test('classnames carry the run, so the same requirement of two runs stays two results', () => {
    expect(xml).toContain('classname="dpconform.r2.bpf.Tunnel.nodeport"');
    expect(xml).toContain('classname="dpconform.r20250301-100000-ab12.bpf.DSR.nodeport"');
  });

  test("attachments point into the run's folder of the qualification", () => {
    expect(xml).toContain('[[ATTACHMENT|out/runs/r2/evidence/bpf-Tunnel/NP-002/dpc-client-eth0.pcap]]');
  });

  test('the totals are those of the runs together', () => {
    const root = /<testsuites ([^>]*)>/.exec(xml)?.[1] ?? '';
    const single = /<testsuites ([^>]*)>/.exec(renderJunit(one))?.[1] ?? '';
    const tests = (attrs: string) => Number(/tests="(\d+)"/.exec(attrs)?.[1]);
    expect(tests(root)).toBe(tests(single) + 4);
    expect(root).toContain('failures="1"');
  });
});
