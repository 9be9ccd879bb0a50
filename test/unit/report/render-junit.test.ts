import { describe, expect, test } from 'vitest';
import { renderJunit, xmlAttr, xmlText } from '../../../src/report/render-junit.ts';
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

  test('one testsuite per area and mode, plus one for a pass problem', () => {
    const names = [...xml.matchAll(/<testsuite name="([^"]*)"/g)].map((m) => m[1]);
    expect(names).toEqual([
      'nodeport [bpf/Tunnel]',
      'map-full [bpf/Tunnel]',
      'nodeport [bpf/DSR]',
      'map-full [bpf/DSR]',
      'policy [iptables/Tunnel]',
      'run [iptables/Tunnel]',
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
    const suite = xml.slice(xml.indexOf('<testsuite name="nodeport [bpf/DSR]"'));
    const from = suite.slice(suite.indexOf('name="NP-002'));
    const testcase = from.slice(0, from.indexOf('</testcase>'));
    expect(testcase).toContain('classname="dpconform.bpf.DSR.nodeport"');
    expect(testcase).toContain('time="2.310"');
    expect(testcase).toContain(
      '<failure message="the reply did not come from the frontend" type="ConformanceFailure">',
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
    const policy = xml.slice(xml.indexOf('<testsuite name="policy [iptables/Tunnel]"'));
    expect(policy.slice(0, policy.indexOf('</testsuite>'))).toContain(
      '<testcase name="problems outside any requirement"',
    );
  });

  test('a conformant run has no failure, error or skipped element', () => {
    const ok = renderJunit(conformantRun());
    expect(ok).not.toMatch(/<(failure|error|skipped)/);
    expect(ok).toContain('failures="0" errors="0" skipped="0"');
  });
});
