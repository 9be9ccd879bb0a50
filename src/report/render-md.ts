/**
 * The run as Markdown for people (pull requests, release notes): the verdict and a matrix of
 * area by mode first, then the failures with their evidence, then every requirement, then the
 * environment.
 */
import { compareAreas } from './classify.ts';
import { evidenceBody, evidenceTitle } from './evidence-text.ts';
import { configFacts, type Fact, featureFacts, kernelFacts, settingFacts, toolFacts } from './facts.ts';
import { formatDuration } from './format.ts';
import {
  type Area,
  allRequirements,
  countVerdicts,
  modeLabel,
  type Requirement,
  type Run,
  type Verdict,
} from './model.ts';

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

/** The summary matrix: one row per area, one column per pass. */
export function mdMatrix(run: Run): string {
  const names = [...new Set(run.passes.flatMap((p) => p.areas.map((a) => a.name)))].sort(compareAreas);
  const head = ['area', ...run.passes.map((p) => mdCode(modeLabel(p.mode), true))];
  const rows = names.map((name) => [
    `**${mdText(name)}**`,
    ...run.passes.map((p) => areaCell(p.areas.find((a) => a.name === name))),
  ]);
  rows.push(['**pass verdict**', ...run.passes.map((p) => BADGE[p.verdict])]);
  return table(head, rows);
}

function evidenceMd(req: Requirement): string[] {
  if (req.evidence.length === 0) return ['_No evidence recorded._'];
  const out: string[] = ['**Evidence**', ''];
  for (const item of req.evidence) {
    out.push(`- ${mdText(evidenceTitle(item))}`);
    const body = evidenceBody(item);
    if (body.length > 0) out.push('', indent(mdBlock(body.slice(0, 200)), '  '), '');
  }
  return out;
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

function failuresSection(run: Run): string[] {
  const failed = [...allRequirements(run)].filter(
    ({ requirement: r }) => r.verdict === 'non-conformant' || r.verdict === 'error',
  );
  const problems = run.passes.flatMap((p) => [
    ...p.areas.flatMap((a) => a.problems.map((text) => ({ pass: p, where: a.name, text }))),
    ...p.problems.map((text) => ({ pass: p, where: 'run', text })),
  ]);
  if (failed.length === 0 && problems.length === 0) return ['## Failures', '', 'None.'];
  const out = [`## Failures (${failed.length + problems.length})`, ''];
  // Non-conformant before errors: a broken dataplane matters more than a broken harness.
  failed.sort((a, b) =>
    a.requirement.verdict === b.requirement.verdict ? 0 : a.requirement.verdict === 'non-conformant' ? -1 : 1,
  );
  for (const { pass, area, requirement: r } of failed) {
    out.push(
      `### ${BADGE[r.verdict]} — ${mdText(r.id)}: ${mdText(r.statement)}`,
      '',
      `${mdText(area.name)} · ${mdCode(modeLabel(pass.mode))} · ${formatDuration(r.durationMs)}`,
      '',
      ...failureMd(r),
      '',
      ...evidenceMd(r),
      '',
    );
  }
  for (const p of problems) {
    out.push(
      `### ${BADGE.error} — ${mdText(p.where)} (${mdCode(modeLabel(p.pass.mode))})`,
      '',
      mdText(p.text),
      '',
    );
  }
  return out;
}

function requirementsSection(run: Run): string[] {
  const out = ['## All requirements', ''];
  for (const pass of run.passes) {
    const c = countVerdicts(pass.areas.flatMap((a) => a.requirements));
    out.push(
      `### ${mdCode(modeLabel(pass.mode))} — ${BADGE[pass.verdict]}`,
      '',
      `${c.conformant} conformant, ${c['non-conformant']} non-conformant, ${c.skipped} skipped, ${c.error} error · ${formatDuration(pass.durationMs)}`,
      '',
    );
    const rows = pass.areas.flatMap((a) =>
      a.requirements.map((r) => [
        mdText(a.name),
        `**${mdText(r.id)}**`,
        mdText(r.statement),
        BADGE[r.verdict],
        formatDuration(r.durationMs),
        mdText(r.verdict === 'conformant' ? '' : (r.reason ?? r.failure?.message.split('\n')[0] ?? '')),
      ]),
    );
    out.push(
      rows.length
        ? table(['area', 'id', 'statement', 'verdict', 'time', 'note'], rows)
        : '_No requirements ran._',
      '',
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

function environmentSection(run: Run): string[] {
  return [
    '## Environment',
    '',
    '### Run and configuration',
    '',
    factsTable(configFacts(run)),
    '',
    '### FelixConfiguration settings',
    '',
    factsTable(settingFacts(run)),
    '',
    '### Kernel',
    '',
    factsTable(kernelFacts(run)),
    '',
    '### Kernel features',
    '',
    factsTable(featureFacts(run)),
    '',
    '### Tools',
    '',
    factsTable(toolFacts(run)),
    '',
  ];
}

/** Renders the run as a Markdown document. */
export function renderMarkdown(run: Run): string {
  const all = [...allRequirements(run)].map((x) => x.requirement);
  const c = countVerdicts(all);
  const ms = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  const k = run.environment.kernel;
  const lines = [
    `# dpconform conformance report: ${BADGE[run.verdict]}`,
    '',
    `Run ${mdCode(run.runId)} · ${mdText(run.startedAt)} · ${Number.isFinite(ms) ? formatDuration(ms) : '?'} · ` +
      `${mdText(run.config.provider)}, ${run.config.nodeCount} nodes · kernel ${mdCode(k.release)}`,
    '',
    `**${c.total} requirement results**: ${c.conformant} conformant, ${c['non-conformant']} non-conformant, ` +
      `${c.skipped} skipped, ${c.error} error, over ${run.passes.length} pass${run.passes.length === 1 ? '' : 'es'}.`,
    '',
    '## Summary',
    '',
    run.passes.length > 0 ? mdMatrix(run) : '_No passes ran._',
    '',
    ...failuresSection(run),
    ...requirementsSection(run),
    ...environmentSection(run),
  ];
  // Sections leave blank lines at both ends; keep one between blocks (code blocks are single items).
  const tidy = lines.filter((line, i) => line !== '' || lines[i - 1] !== '');
  return `${tidy.join('\n').trimEnd()}\n`;
}
