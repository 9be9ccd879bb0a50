/**
 * The run as JUnit XML for CI systems: one <testsuite> per area and mode, one <testcase> per
 * requirement. Problems outside any requirement become an extra errored testcase, so a CI
 * system that only counts testcases still shows the run as failed.
 */
import { firstLine } from './classify.ts';
import { evidenceText, failureText } from './evidence-text.ts';
import { allFacts } from './facts.ts';
import { type Area, countVerdicts, modeLabel, type Pass, type Requirement, type Run } from './model.ts';

// XML 1.0 allows tab, newline, carriage return and the printable ranges; anything else
// (NUL, other control characters, lone surrogates) makes the document unreadable.
const NOT_XML = /[^\t\n\r\u0020-\uD7FF\uE000-\uFFFD\u{10000}-\u{10FFFF}]/gu;

/** Escapes text for an XML element body. */
export function xmlText(value: string): string {
  return value
    .replace(NOT_XML, '\uFFFD')
    .replaceAll('&', '&amp;')
    .replaceAll('<', '&lt;')
    .replaceAll('>', '&gt;');
}

/** Escapes text for a double-quoted XML attribute, keeping line breaks as character references. */
export function xmlAttr(value: string): string {
  return xmlText(value)
    .replaceAll('"', '&quot;')
    .replaceAll("'", '&apos;')
    .replaceAll('\n', '&#10;')
    .replaceAll('\r', '&#13;')
    .replaceAll('\t', '&#9;');
}

function attrs(pairs: Record<string, string | number | undefined>): string {
  return Object.entries(pairs)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => ` ${k}="${xmlAttr(String(v))}"`)
    .join('');
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}

/** The classname of a requirement: run, mode and area, dotted. */
export function junitClassname(pass: Pass, area: string): string {
  return `dpconform.${pass.mode.dataplane}.${pass.mode.serviceMode}.${area}`;
}

function testcase(pass: Pass, area: Area, r: Requirement): string {
  const open = `    <testcase${attrs({ name: `${r.id}: ${r.statement}`, classname: junitClassname(pass, area.name), time: seconds(r.durationMs) })}`;
  const body: string[] = [];
  if (r.verdict === 'non-conformant' || r.verdict === 'error') {
    const tag = r.verdict === 'non-conformant' ? 'failure' : 'error';
    const message = r.failure?.message ?? r.reason ?? r.verdict;
    const type = r.failure?.type ?? r.verdict;
    const detail = r.failure ? failureText(r.failure) : message;
    body.push(`      <${tag}${attrs({ message: firstLine(message), type })}>${xmlText(detail)}</${tag}>`);
  } else if (r.verdict === 'skipped') {
    body.push(`      <skipped${attrs({ message: r.reason ?? 'skipped' })}/>`);
  }
  if (r.evidence.length > 0) {
    body.push(`      <system-out>${xmlText(r.evidence.map(evidenceText).join('\n\n'))}</system-out>`);
  }
  return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`;
}

function problemCase(classname: string, problems: readonly string[]): string {
  const message =
    problems.length === 1 ? (problems[0] ?? '') : `${problems.length} problems outside any requirement`;
  return [
    `    <testcase${attrs({ name: 'problems outside any requirement', classname, time: '0.000' })}>`,
    `      <error${attrs({ message: firstLine(message), type: 'SuiteError' })}>${xmlText(problems.join('\n'))}</error>`,
    '    </testcase>',
  ].join('\n');
}

function properties(run: Run, pass: Pass): string {
  const facts = [
    { key: 'mode.dataplane', value: pass.mode.dataplane },
    { key: 'mode.serviceMode', value: pass.mode.serviceMode },
    ...allFacts(run),
  ];
  const lines = facts.map((f) => `      <property${attrs({ name: f.key, value: f.value })}/>`);
  return `    <properties>\n${lines.join('\n')}\n    </properties>`;
}

interface SuiteCounts {
  tests: number;
  failures: number;
  errors: number;
  skipped: number;
  ms: number;
}

// One <testsuite>: an area of a pass, or (with no area) the pass's own problems.
function suite(
  run: Run,
  pass: Pass,
  name: string,
  area: Area | undefined,
  problems: readonly string[],
): {
  xml: string;
  counts: SuiteCounts;
} {
  const requirements = area?.requirements ?? [];
  const c = countVerdicts(requirements);
  const counts: SuiteCounts = {
    tests: c.total + (problems.length > 0 ? 1 : 0),
    failures: c['non-conformant'],
    errors: c.error + (problems.length > 0 ? 1 : 0),
    skipped: c.skipped,
    ms: requirements.reduce((sum, r) => sum + r.durationMs, 0),
  };
  const classname = junitClassname(pass, name);
  const cases = area ? requirements.map((r) => testcase(pass, area, r)) : [];
  if (problems.length > 0) cases.push(problemCase(classname, problems));
  const open = `  <testsuite${attrs({
    name: `${name} [${modeLabel(pass.mode)}]`,
    tests: counts.tests,
    failures: counts.failures,
    errors: counts.errors,
    skipped: counts.skipped,
    time: seconds(counts.ms),
    timestamp: pass.startedAt.replace(/\.\d+Z$/, '').replace(/Z$/, ''),
    hostname: run.environment.hostname,
  })}>`;
  return { xml: [open, properties(run, pass), ...cases, '  </testsuite>'].join('\n'), counts };
}

/** Renders the run as a JUnit XML document. */
export function renderJunit(run: Run): string {
  const suites: string[] = [];
  const total: SuiteCounts = { tests: 0, failures: 0, errors: 0, skipped: 0, ms: 0 };
  const add = (s: { xml: string; counts: SuiteCounts }) => {
    suites.push(s.xml);
    total.tests += s.counts.tests;
    total.failures += s.counts.failures;
    total.errors += s.counts.errors;
    total.skipped += s.counts.skipped;
    total.ms += s.counts.ms;
  };
  for (const pass of run.passes) {
    for (const area of pass.areas) add(suite(run, pass, area.name, area, area.problems));
    if (pass.problems.length > 0) add(suite(run, pass, 'run', undefined, pass.problems));
  }
  const runMs = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  const open = `<testsuites${attrs({
    name: `dpconform ${run.runId}: ${run.verdict}`,
    tests: total.tests,
    failures: total.failures,
    errors: total.errors,
    skipped: total.skipped,
    time: seconds(Number.isFinite(runMs) && runMs >= 0 ? runMs : total.ms),
  })}>`;
  return ['<?xml version="1.0" encoding="UTF-8"?>', open, ...suites, '</testsuites>', ''].join('\n');
}
