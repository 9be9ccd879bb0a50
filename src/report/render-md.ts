/**
 * The run as Markdown for people (pull requests, release notes): the verdict and a matrix of
 * area by mode first, then the failures with their evidence and evidence files, then the measured
 * figures and their charts (when there are any), then every requirement with one line of
 * evidence, then the environment. A qualification report reads the
 * same way, with a column per pass of each run and each run's environment.
 */
import {
  attachmentGroups,
  attachmentName,
  attachmentText,
  evidenceBody,
  evidenceLine,
  evidenceTitle,
  formatBytes,
} from './evidence-text.ts';
import {
  configFacts,
  evidenceFacts,
  type Fact,
  featureFacts,
  kernelFacts,
  settingFacts,
  toolFacts,
} from './facts.ts';
import { formatDuration } from './format.ts';
import {
  type Area,
  type Attachment,
  allRequirements,
  countVerdicts,
  modeLabel,
  type Pass,
  type Qualification,
  type Requirement,
  type Run,
  type Verdict,
} from './model.ts';
import {
  collectPerformance,
  measuredText,
  type Performance,
  type PerformanceChart,
  valueText,
} from './performance.ts';
import {
  areaNamesOf,
  columnsOf,
  failingOf,
  problemsOf,
  qualificationViews,
  type RunView,
  soloView,
} from './views.ts';

const BADGE: Record<Verdict, string> = {
  conformant: '✅ conformant',
  'non-conformant': '❌ non-conformant',
  skipped: '⏭️ skipped',
  error: '⚠️ error',
};

/** Escapes text for inline Markdown: nothing in it is read as markup, HTML or a table border. */
export function mdText(value: string): string {
  return controlFree(value)
    .replace(/[\\`*_[\]<>|#~]/g, (c) => `\\${c}`)
    .replaceAll('&', '&amp;')
    .replace(/\r?\n/g, ' ');
}

// Control characters other than tab and line breaks have no business in a document.
function controlFree(value: string): string {
  return value.replace(/[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F]/g, '\uFFFD');
}

/**
 * Wraps text in inline code, with a fence longer than any backtick run inside it. In a table
 * cell a pipe must be escaped even inside code (GFM splits cells before reading code spans).
 */
export function mdCode(value: string, inTable = false): string {
  const flat = controlFree(value).replace(/\r?\n/g, ' ');
  const oneLine = inTable ? flat.replaceAll('|', '\\|') : flat;
  const longest = Math.max(0, ...[...oneLine.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  const pad = oneLine.startsWith('`') || oneLine.endsWith('`') ? ' ' : '';
  return `${fence}${pad}${oneLine}${pad}${fence}`;
}

/** A fenced code block that the content cannot close early. */
export function mdBlock(lines: readonly string[], info = 'text'): string {
  const body = controlFree(lines.join('\n'));
  const longest = Math.max(2, ...[...body.matchAll(/`{3,}/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  return `${fence}${info}\n${body}\n${fence}`;
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

function areaCell(area: Area | undefined): string {
  if (!area) return '—';
  const c = countVerdicts(area.requirements);
  const checked = c.total - c.skipped;
  const detail =
    area.verdict === 'conformant' || area.verdict === 'skipped'
      ? `${c.conformant}/${checked}${c.skipped ? `, ${c.skipped} skipped` : ''}`
      : [
          c['non-conformant'] ? `${c['non-conformant']} failed` : '',
          c.error ? `${c.error} error` : '',
          area.problems.length
            ? `${area.problems.length} problem${area.problems.length === 1 ? '' : 's'}`
            : '',
        ]
          .filter(Boolean)
          .join(', ');
  return `${BADGE[area.verdict]} ${detail}`.trim();
}

function matrixOf(views: readonly RunView[]): string {
  const columns = columnsOf(views);
  const head = [
    'area',
    ...columns.map((col) =>
      col.view.label
        ? `${mdCode(col.view.run.runId, true)} ${mdCode(modeLabel(col.pass.mode), true)}`
        : mdCode(modeLabel(col.pass.mode), true),
    ),
  ];
  const rows = areaNamesOf(views).map((name) => [
    `**${mdText(name)}**`,
    ...columns.map((col) => areaCell(col.pass.areas.find((a) => a.name === name))),
  ]);
  rows.push(['**pass verdict**', ...columns.map((col) => BADGE[col.pass.verdict])]);
  return table(head, rows);
}

/** The summary matrix: one row per area, one column per pass. */
export function mdMatrix(run: Run): string {
  return matrixOf([soloView(run)]);
}

/** A link to an evidence file, relative to the report: `[name](evidence/...)`. */
export function mdFileLink(a: Attachment, base: string): string {
  const name = mdText(attachmentName(a));
  if (a.omitted) return `${name} (not kept)`;
  return `[${name}](${encodeURI(`${base}${a.path}`).replace(/[()]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)})`;
}

function filesMd(r: Requirement, base: string): string[] {
  const files = attachmentGroups(r.attachments ?? []).flatMap((g) => g.files);
  if (files.length === 0) return [];
  return [
    '**Evidence files**',
    '',
    ...files.map((a) => `- ${mdFileLink(a, base)} — ${mdText(attachmentText(a))}`),
    '',
  ];
}

function evidenceMd(r: Requirement, base: string): string[] {
  const out: string[] = [];
  if (r.summary) out.push(`**In short**: ${mdText(r.summary)}`, '');
  if (r.evidence.length === 0 && !r.attachments?.length) return [...out, '_No evidence recorded._'];
  if (r.evidence.length > 0) out.push('**Evidence**', '');
  for (const item of r.evidence) {
    out.push(`- ${mdText(evidenceTitle(item))}`);
    const body = evidenceBody(item);
    if (body.length > 0) out.push('', indent(mdBlock(body.slice(0, 200)), '  '), '');
  }
  if (r.evidence.length > 0) out.push('');
  return [...out, ...filesMd(r, base)];
}

/** One line of evidence for a requirement that held, with its files by kind: `...; captures: a, b`. */
export function mdEvidenceLine(r: Requirement, base: string): string {
  const groups = attachmentGroups(r.attachments ?? []).map(
    (g) => `${g.word}: ${g.files.map((a) => mdFileLink(a, base)).join(', ')}`,
  );
  return [mdText(evidenceLine(r)), ...groups].join('; ');
}

function indent(text: string, prefix: string): string {
  return text
    .split('\n')
    .map((l) => `${prefix}${l}`)
    .join('\n');
}

function failureMd(req: Requirement): string[] {
  const f = req.failure;
  const out: string[] = [];
  if (req.reason && req.verdict !== 'non-conformant') out.push(`- **reason**: ${mdText(req.reason)}`);
  if (!f) return out;
  const [headline = '', ...more] = f.message.split('\n');
  out.push(`- **failure**: ${mdText(headline)}`);
  if (more.length > 0) out.push('', indent(mdBlock(more), '  '), '');
  for (const [label, value] of [
    ['expected', f.expected],
    ['seen', f.seen],
    ['where', f.where],
    ['at', f.source],
  ] as const) {
    if (value === undefined) continue;
    if (value.includes('\n')) out.push(`- **${label}**:`, '', indent(mdBlock(value.split('\n')), '  '), '');
    else out.push(`- **${label}**: ${mdCode(value)}`);
  }
  return out;
}

function failuresSection(views: readonly RunView[]): string[] {
  const failed = failingOf(views);
  const problems = problemsOf(views);
  if (failed.length === 0 && problems.length === 0) return ['## Failures', '', 'None.', ''];
  const out = [`## Failures (${failed.length + problems.length})`, ''];
  for (const { view, pass, area, requirement: r } of failed) {
    const run = view.label ? `${mdText(view.label)} · ` : '';
    out.push(
      `### ${BADGE[r.verdict]} — ${mdText(r.id)}: ${mdText(r.statement)}`,
      '',
      `${run}${mdText(area.name)} · ${mdCode(modeLabel(pass.mode))} · ${formatDuration(r.durationMs)}`,
      '',
      ...failureMd(r),
      '',
      ...evidenceMd(r, view.base),
      '',
    );
  }
  for (const p of problems) {
    const run = p.view.label ? `${mdText(p.view.run.runId)} ` : '';
    out.push(
      `### ${BADGE.error} — ${mdText(p.where)} (${run}${mdCode(modeLabel(p.pass.mode))})`,
      '',
      mdText(p.text),
      '',
    );
  }
  return out;
}

const ARROW = { higher: ' ↑', lower: ' ↓' } as const;

// Eighths of a block, so bars a few percent apart still differ in a comment's monospace font.
const EIGHTHS = ['', '▏', '▎', '▍', '▌', '▋', '▊', '▉'];

/** A bar of block characters, `value` of `max` over `width` characters. */
export function textBar(value: number, max: number, width = 28): string {
  const eighths = max > 0 ? Math.round((Math.max(0, Math.min(value, max)) / max) * width * 8) : 0;
  return '█'.repeat(Math.floor(eighths / 8)) + (EIGHTHS[eighths % 8] ?? '');
}

function padEnd(text: string, width: number): string {
  return text + ' '.repeat(Math.max(0, width - [...text].length));
}

function barChartMd(chart: PerformanceChart): string[] {
  const bars = chart.series.flatMap((s) => s.points.map((p) => ({ name: s.name, p })));
  const max = Math.max(0, ...bars.map(({ p }) => p.value));
  const nameW = Math.max(...bars.map((b) => [...b.name].length));
  const lines = bars.map(
    ({ name, p }) => `${padEnd(name, nameW)}  ${padEnd(textBar(p.value, max), 28)}  ${measuredText(p)}`,
  );
  return [mdBlock(lines)];
}

// A line chart reads as a table in a comment: its positions down, its series across.
function lineChartMd(chart: PerformanceChart): string[] {
  const xs = [...new Set(chart.series.flatMap((s) => s.points.map((p) => p.x ?? 0)))].sort((a, b) => a - b);
  const unit = chart.unit;
  const head = [
    mdText(chart.xLabel ?? 'x'),
    ...chart.series.map((s) => `${mdText(s.name)}${unit ? ` (${mdText(unit)})` : ''}`),
  ];
  const rows = xs.map((x) => [
    valueText(x),
    ...chart.series.map((s) => {
      const at = s.points.filter((p) => (p.x ?? 0) === x);
      if (at.length === 0) return '—';
      return at.map((p) => mdText(unit ? measuredText({ ...p, unit: '' }) : measuredText(p))).join(', ');
    }),
  ]);
  return [
    [
      `| ${head.join(' | ')} |`,
      `| ${head.map(() => '---:').join(' | ')} |`,
      ...rows.map((r) => `| ${r.join(' | ')} |`),
    ].join('\n'),
  ];
}

function performanceSection(perf: Performance): string[] {
  if (perf.rows.length === 0) return [];
  const byRun = perf.rows.some((r) => r.run);
  const head = [
    ...(byRun ? ['run'] : []),
    'requirement',
    'lane',
    'figure',
    'measured',
    "guide's claim",
    'verdict',
  ];
  const rows = perf.rows.map((r) => [
    ...(byRun ? [mdCode(r.run, true)] : []),
    `**${mdText(r.requirement)}**`,
    mdCode(r.lane, true),
    mdText(`${r.name}${r.label ? ` (${r.label})` : ''}${r.where ? ` on ${r.where}` : ''}`),
    `${mdText(measuredText(r))}${r.better ? ARROW[r.better] : ''}`,
    r.claim ? mdText(r.claim) : '—',
    BADGE[r.verdict],
  ]);
  const requirements = new Set(perf.rows.map((r) => `${r.run} ${r.lane} ${r.requirement}`)).size;
  const out = [
    '## Performance',
    '',
    `${perf.rows.length} figure${perf.rows.length === 1 ? '' : 's'} from ${requirements} requirement result${requirements === 1 ? '' : 's'}; ↑ higher is better, ↓ lower is better; ± the spread between repeats.`,
    '',
  ];
  // The charts give the picture at a glance; the table after them holds every number.
  for (const chart of perf.charts) {
    out.push(
      `### ${mdText(chart.title)}${chart.better ? ` (${chart.better} is better)` : ''}`,
      '',
      ...(chart.kind === 'line' ? lineChartMd(chart) : barChartMd(chart)),
      '',
    );
  }
  if (perf.charts.length > 0) out.push('### Every figure', '');
  return [...out, table(head, rows), ''];
}

/** The performance section: each chart as text, then every figure in a table; nothing without figures. */
export function mdPerformance(source: Run | Qualification): string {
  return tidy(performanceSection(collectPerformance(source))).trimEnd();
}

function noteOf(r: Requirement, base: string): string {
  if (r.verdict === 'conformant') return mdEvidenceLine(r, base);
  return mdText(r.reason ?? r.failure?.message.split('\n')[0] ?? '');
}

/** What the nodes said the pass's mode was, and the settings it ran with where they differ from the run's. */
function passModeLines(pass: Pass, run: Run): string[] {
  const out: string[] = [];
  if (pass.observed) {
    const o = pass.observed;
    out.push(
      `Nodes at the start of the pass: ${mdCode(o.serviceMode ? `${o.dataplane}/${o.serviceMode}` : o.dataplane)}`,
    );
  }
  const own = Object.entries(pass.settings ?? {}).filter(
    ([k, v]) => JSON.stringify(v) !== JSON.stringify(run.config.settings[k]),
  );
  if (own.length > 0)
    out.push(
      `Settings of this pass: ${own.map(([k, v]) => `${mdText(k)} ${mdCode(JSON.stringify(v))}`).join(', ')}`,
    );
  return out.length > 0 ? [out.join(' · '), ''] : [];
}

function requirementsOf(view: RunView, level: string): string[] {
  const out: string[] = [];
  for (const pass of view.run.passes) {
    const c = countVerdicts(pass.areas.flatMap((a) => a.requirements));
    out.push(
      `${level} ${mdCode(modeLabel(pass.mode))} — ${BADGE[pass.verdict]}`,
      '',
      `${c.conformant} conformant, ${c['non-conformant']} non-conformant, ${c.skipped} skipped, ${c.error} error · ${formatDuration(pass.durationMs)}`,
      '',
      ...passModeLines(pass, view.run),
    );
    const rows = pass.areas.flatMap((a) =>
      a.requirements.map((r) => [
        mdText(a.name),
        `**${mdText(r.id)}**`,
        mdText(r.statement),
        BADGE[r.verdict],
        formatDuration(r.durationMs),
        noteOf(r, view.base),
      ]),
    );
    out.push(
      rows.length
        ? table(['area', 'id', 'statement', 'verdict', 'time', 'evidence or reason'], rows)
        : '_No requirements ran._',
      '',
    );
  }
  return out;
}

function requirementsSection(views: readonly RunView[]): string[] {
  const out = ['## All requirements', ''];
  if (views.length === 1 && views[0] && !views[0].label) return [...out, ...requirementsOf(views[0], '###')];
  for (const view of views) {
    out.push(
      `### Run ${mdText(view.label)} — ${BADGE[view.run.verdict]}`,
      '',
      ...requirementsOf(view, '####'),
    );
  }
  return out;
}

function factsTable(facts: readonly Fact[]): string {
  return table(
    ['name', 'value'],
    facts.map((f) => [mdText(f.label), mdCode(f.value, true)]),
  );
}

function environmentOf(run: Run, level: string): string[] {
  const evidence = evidenceFacts(run);
  return [
    `${level} Run and configuration`,
    '',
    factsTable([...configFacts(run), ...evidence]),
    '',
    `${level} FelixConfiguration settings`,
    '',
    factsTable(settingFacts(run)),
    '',
    `${level} Kernel`,
    '',
    factsTable(kernelFacts(run)),
    '',
    `${level} Kernel features`,
    '',
    factsTable(featureFacts(run)),
    '',
    `${level} Tools`,
    '',
    factsTable(toolFacts(run)),
    '',
  ];
}

function capNotice(run: Run): string[] {
  const e = run.evidenceFiles;
  if (!e || e.omittedFiles === 0) return [];
  return [
    `> **Evidence size cap reached**: ${e.omittedFiles} evidence file${e.omittedFiles === 1 ? '' : 's'} (${formatBytes(e.omittedBytes)}) of run ${mdCode(run.runId)} were not kept; the cap is ${formatBytes(e.capBytes)} (\`--evidence-cap\`).`,
    '',
  ];
}

function tidy(lines: readonly string[]): string {
  // Sections leave blank lines at both ends; keep one between blocks (code blocks are single items).
  const kept = lines.filter((line, i) => line !== '' || lines[i - 1] !== '');
  return `${kept.join('\n').trimEnd()}\n`;
}

/** Renders the run as a Markdown document. */
export function renderMarkdown(run: Run): string {
  const views = [soloView(run)];
  const all = [...allRequirements(run)].map((x) => x.requirement);
  const c = countVerdicts(all);
  const ms = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  const k = run.environment.kernel;
  return tidy([
    `# dpconform conformance report: ${BADGE[run.verdict]}`,
    '',
    `Run ${mdCode(run.runId)} · ${mdText(run.startedAt)} · ${Number.isFinite(ms) ? formatDuration(ms) : '?'} · ` +
      `${mdText(run.config.provider)}, ${run.config.nodeCount} nodes · kernel ${mdCode(k.release)}`,
    '',
    `**${c.total} requirement results**: ${c.conformant} conformant, ${c['non-conformant']} non-conformant, ` +
      `${c.skipped} skipped, ${c.error} error, over ${run.passes.length} pass${run.passes.length === 1 ? '' : 'es'}.`,
    '',
    ...capNotice(run),
    '## Summary',
    '',
    run.passes.length > 0 ? mdMatrix(run) : '_No passes ran._',
    '',
    ...failuresSection(views),
    ...performanceSection(collectPerformance(views)),
    ...requirementsSection(views),
    '## Environment',
    '',
    ...environmentOf(run, '###'),
  ]);
}

/** Renders a qualification (several runs merged) as a Markdown document. */
export function renderQualificationMarkdown(q: Qualification): string {
  const views = qualificationViews(q);
  const c = countVerdicts(views.flatMap((v) => [...allRequirements(v.run)].map((x) => x.requirement)));
  const runs = table(
    ['run', 'verdict', 'provider', 'kernel', 'arch', 'host', 'modes', 'report'],
    q.runs.map(({ run, dir, sourceSchemaVersion }) => [
      mdCode(run.runId, true),
      BADGE[run.verdict],
      mdText(run.config.provider),
      mdCode(run.environment.kernel.release, true),
      mdText(run.environment.arch),
      mdText(run.environment.hostname),
      run.passes.map((p) => mdCode(modeLabel(p.mode), true)).join(' '),
      `[report.md](${encodeURI(`${dir}/report.md`)})${sourceSchemaVersion === run.schemaVersion ? '' : ` (schema ${sourceSchemaVersion})`}`,
    ]),
  );
  return tidy([
    `# dpconform qualification report: ${BADGE[q.verdict]}`,
    '',
    `Qualification ${mdCode(q.name)} · ${mdText(q.createdAt)} · ${q.runs.length} run${q.runs.length === 1 ? '' : 's'}`,
    '',
    `**${c.total} requirement results**: ${c.conformant} conformant, ${c['non-conformant']} non-conformant, ` +
      `${c.skipped} skipped, ${c.error} error.`,
    '',
    ...q.runs.flatMap((r) => capNotice(r.run)),
    '## Runs',
    '',
    q.runs.length ? runs : '_No runs._',
    '',
    '## Summary',
    '',
    q.runs.length ? matrixOf(views) : '_No passes ran._',
    '',
    '## What differs between the runs',
    '',
    ...(q.differences.length
      ? q.differences.map((d) => `- ${mdText(d)}`)
      : ['Nothing: the same requirements, the same report schema.']),
    '',
    ...failuresSection(views),
    ...performanceSection(collectPerformance(views)),
    ...requirementsSection(views),
    '## Environment',
    '',
    ...views.flatMap((v) => [`### Run ${mdText(v.label)}`, '', ...environmentOf(v.run, '####')]),
  ]);
}
