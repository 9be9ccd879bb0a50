/**
 * The run as JUnit XML for CI systems: one <testsuite> per pass (per run in a qualification),
 * named with its mode, kernel and provider and carrying them as properties; one <testcase> per
 * requirement, its failure message saying what was expected, what was seen and where, its
 * evidence files as attachments in the two forms JUnit viewers read (a `[[ATTACHMENT|path]]`
 * line in its output, an `attachment` property). Problems outside any requirement become an
 * extra errored testcase, so a CI system that only counts testcases still shows the run failed.
 */
import { firstLine } from './classify.ts';
import { attachmentText, evidenceText, failureHeadline, failureText } from './evidence-text.ts';
import { allFacts } from './facts.ts';
import {
  type Area,
  countVerdicts,
  modeLabel,
  type Pass,
  type Qualification,
  type Requirement,
  type Run,
} from './model.ts';
import { qualificationViews, type RunView, soloView } from './views.ts';

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

/** How evidence files are named in the XML. */
export interface JunitOptions {
  /**
   * Put before each evidence file's path (which is relative to the report's directory): the
   * report directory as the CI job's working directory sees it (`reports/<run-id>/`), since
   * Jenkins and GitLab read attachment paths from there. Default '': relative to junit.xml.
   */
  attachmentBase?: string;
}

interface Ctx {
  view: RunView;
  /** Prefix of evidence paths: the attachment base and the run's directory in the report. */
  files: string;
  /** Put before the mode in classnames: '' alone, `<run-id>.` in a qualification. */
  classPrefix: string;
}

/** The classname of a requirement: (run,) mode and area, dotted. */
export function junitClassname(pass: Pass, area: string, classPrefix = ''): string {
  return `dpconform.${classPrefix}${pass.mode.dataplane}.${pass.mode.serviceMode}.${area}`;
}

function testcase(ctx: Ctx, pass: Pass, area: Area, r: Requirement): string {
  const open = `    <testcase${attrs({ name: `${r.id}: ${r.statement}`, classname: junitClassname(pass, area.name, ctx.classPrefix), time: seconds(r.durationMs) })}`;
  const body: string[] = [];
  const files = (r.attachments ?? []).filter((a) => !a.omitted);
  if (files.length > 0) {
    const props = files.map(
      (a) => `        <property${attrs({ name: 'attachment', value: `${ctx.files}${a.path}` })}/>`,
    );
    body.push('      <properties>', ...props, '      </properties>');
  }
  if (r.verdict === 'non-conformant' || r.verdict === 'error') {
    const tag = r.verdict === 'non-conformant' ? 'failure' : 'error';
    const message = r.failure ? failureHeadline(r.failure) : firstLine(r.reason ?? r.verdict);
    const type = r.failure?.type ?? r.verdict;
    const detail = r.failure ? failureText(r.failure) : (r.reason ?? r.verdict);
    body.push(`      <${tag}${attrs({ message, type })}>${xmlText(detail)}</${tag}>`);
  } else if (r.verdict === 'skipped') {
    body.push(`      <skipped${attrs({ message: r.reason ?? 'skipped' })}/>`);
  }
  const out: string[] = [];
  if (r.summary) out.push(r.summary, '');
  if (r.evidence.length > 0) out.push(r.evidence.map(evidenceText).join('\n\n'), '');
  for (const a of r.attachments ?? []) out.push(`evidence file: ${a.path} — ${attachmentText(a)}`);
  // Each attachment line alone on its line, nothing before or after it: how viewers find them.
  for (const a of files) out.push(`[[ATTACHMENT|${ctx.files}${a.path}]]`);
  const text = out.join('\n').trim();
  if (text) body.push(`      <system-out>${xmlText(text)}</system-out>`);
  return body.length === 0 ? `${open}/>` : `${open}>\n${body.join('\n')}\n    </testcase>`;
}

function problemCase(classname: string, where: string, problems: readonly string[]): string {
  const message =
    problems.length === 1 ? (problems[0] ?? '') : `${problems.length} problems outside any requirement`;
  return [
    `    <testcase${attrs({ name: `problems outside any requirement (${where})`, classname, time: '0.000' })}>`,
    `      <error${attrs({ message: firstLine(message), type: 'SuiteError' })}>${xmlText(problems.join('\n'))}</error>`,
    '    </testcase>',
  ].join('\n');
}

function properties(run: Run, passes: readonly Pass[]): string {
  const modes = passes.map((p) => modeLabel(p.mode));
  const facts = [
    { key: 'mode', value: modes.join(', ') },
    { key: 'kernel', value: run.environment.kernel.release },
    { key: 'provider', value: run.config.provider },
    ...(passes.length === 1 && passes[0]
      ? [
          { key: 'mode.dataplane', value: passes[0].mode.dataplane },
          { key: 'mode.serviceMode', value: passes[0].mode.serviceMode },
        ]
      : []),
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

// One <testsuite>: some passes of a run (one, or all of them in a qualification).
function suite(ctx: Ctx, name: string, passes: readonly Pass[]): { xml: string; counts: SuiteCounts } {
  const run = ctx.view.run;
  const cases: string[] = [];
  const counts: SuiteCounts = { tests: 0, failures: 0, errors: 0, skipped: 0, ms: 0 };
  for (const pass of passes) {
    for (const area of pass.areas) {
      const c = countVerdicts(area.requirements);
      counts.tests += c.total;
      counts.failures += c['non-conformant'];
      counts.errors += c.error;
      counts.skipped += c.skipped;
      counts.ms += area.requirements.reduce((sum, r) => sum + r.durationMs, 0);
      cases.push(...area.requirements.map((r) => testcase(ctx, pass, area, r)));
      if (area.problems.length > 0) {
        counts.tests += 1;
        counts.errors += 1;
        cases.push(problemCase(junitClassname(pass, area.name, ctx.classPrefix), area.name, area.problems));
      }
    }
    if (pass.problems.length > 0) {
      counts.tests += 1;
      counts.errors += 1;
      cases.push(problemCase(junitClassname(pass, 'run', ctx.classPrefix), 'run', pass.problems));
    }
  }
  const first = passes[0]?.startedAt ?? run.startedAt;
  const open = `  <testsuite${attrs({
    name,
    tests: counts.tests,
    failures: counts.failures,
    errors: counts.errors,
    skipped: counts.skipped,
    time: seconds(counts.ms),
    timestamp: first.replace(/\.\d+Z$/, '').replace(/Z$/, ''),
    hostname: run.environment.hostname,
  })}>`;
  return { xml: [open, properties(run, passes), ...cases, '  </testsuite>'].join('\n'), counts };
}

function document(
  name: string,
  suites: { xml: string; counts: SuiteCounts }[],
  ms: number | undefined,
): string {
  const total: SuiteCounts = { tests: 0, failures: 0, errors: 0, skipped: 0, ms: 0 };
  for (const s of suites) {
    total.tests += s.counts.tests;
    total.failures += s.counts.failures;
    total.errors += s.counts.errors;
    total.skipped += s.counts.skipped;
    total.ms += s.counts.ms;
  }
  const open = `<testsuites${attrs({
    name,
    tests: total.tests,
    failures: total.failures,
    errors: total.errors,
    skipped: total.skipped,
    time: seconds(ms !== undefined && Number.isFinite(ms) && ms >= 0 ? ms : total.ms),
  })}>`;
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    open,
    ...suites.map((s) => s.xml),
    '</testsuites>',
    '',
  ].join('\n');
}

function where(run: Run): string {
  return `${run.config.provider}, kernel ${run.environment.kernel.release}`;
}

function base(opts: JunitOptions): string {
  const b = opts.attachmentBase ?? '';
  return b === '' || b.endsWith('/') ? b : `${b}/`;
}

/** Renders the run as a JUnit XML document: one testsuite per pass. */
export function renderJunit(run: Run, opts: JunitOptions = {}): string {
  const ctx: Ctx = { view: soloView(run), files: base(opts), classPrefix: '' };
  const suites = run.passes.map((pass) =>
    suite(ctx, `${modeLabel(pass.mode)} (${where(run)}) [run ${run.runId}]`, [pass]),
  );
  const ms = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  return document(`dpconform ${run.runId}: ${run.verdict}`, suites, ms);
}

/** Renders a qualification as a JUnit XML document: one testsuite per run, named by it. */
export function renderQualificationJunit(q: Qualification, opts: JunitOptions = {}): string {
  const suites = qualificationViews(q).map((view) => {
    const ctx: Ctx = { view, files: `${base(opts)}${view.base}`, classPrefix: `${view.run.runId}.` };
    const modes = view.run.passes.map((p) => modeLabel(p.mode)).join(', ');
    return suite(ctx, `run ${view.label}: ${modes || 'no passes'}`, view.run.passes);
  });
  const ms = suites.reduce((sum, s) => sum + s.counts.ms, 0);
  return document(`dpconform qualification ${q.name}: ${q.verdict}`, suites, ms);
}
