/**
 * The kernel matrix as Markdown and as one self-contained HTML page: kernel x area x mode, every
 * requirement by kernel and mode, each kernel's environment (release, BTF, the features probed,
 * where it ran, its time scale) and a link to its own full report. Pure: model in, text out.
 */
import { formatDuration } from './format.ts';
import {
  type KernelMatrix,
  type MatrixCell,
  type MatrixKernel,
  matrixAreas,
  matrixCell,
  matrixFeatures,
  matrixRequirements,
  matrixResult,
  timeScaleText,
  whereText,
} from './matrix.ts';
import type { FeatureState, Verdict } from './model.ts';
import { html } from './render-html.ts';
import { mdCode, mdText } from './render-md.ts';

const MARK: Record<Verdict, string> = {
  conformant: '✅',
  'non-conformant': '❌',
  skipped: '⏭️',
  error: '⚠️',
};

const WORD: Record<Verdict, string> = {
  conformant: 'conformant',
  'non-conformant': 'non-conformant',
  skipped: 'skipped',
  error: 'error',
};

function cellText(c: MatrixCell | undefined): string {
  if (!c) return '—';
  return c.total > 0 ? `${MARK[c.verdict]} ${c.conformant}/${c.total}` : MARK[c.verdict];
}

function featureState(k: MatrixKernel, name: string): { state: FeatureState | undefined; detail?: string } {
  const f = k.environment?.features.find((x) => x.name === name);
  return f
    ? { state: f.state, ...(f.detail !== undefined ? { detail: f.detail } : {}) }
    : { state: undefined };
}

function yesNo(v: boolean | undefined): string {
  return v === undefined ? '—' : v ? 'yes' : 'no';
}

/** The columns of the matrix: each kernel in each mode. */
function columns(m: KernelMatrix): { kernel: MatrixKernel; mode: string }[] {
  return m.kernels.flatMap((kernel) => m.modes.map((mode) => ({ kernel, mode })));
}

function floorLine(m: KernelMatrix): string {
  return `bpf/ supports Linux ${m.floor.bpf} and later (bpf_redirect_neigh); the guide asks ${m.floor.guide} or later with BTF and bpffs.`;
}

function mdTable(head: readonly string[], rows: readonly (readonly string[])[]): string {
  return [
    `| ${head.join(' | ')} |`,
    `| ${head.map(() => '---').join(' | ')} |`,
    ...rows.map((r) => `| ${r.join(' | ')} |`),
  ].join('\n');
}

/** The matrix as Markdown. */
export function renderMatrixMarkdown(m: KernelMatrix): string {
  const cols = columns(m);
  const head = cols.map((c) => mdText(`${c.kernel.label} ${c.mode}`));
  const areaRows = matrixAreas(m).map((area) => [
    mdText(area),
    ...cols.map((c) => cellText(matrixCell(c.kernel, area, c.mode))),
  ]);
  const verdictRow = [
    '**kernel**',
    ...cols.map((c) => `${MARK[c.kernel.verdict]} ${WORD[c.kernel.verdict]}`),
  ];
  const reqRows = matrixRequirements(m).map((r) => [
    mdCode(r.id, true),
    mdText(r.statement),
    ...cols.map((c) => {
      const v = matrixResult(c.kernel, r.area, r.id, c.mode);
      return v ? MARK[v] : '—';
    }),
  ]);
  const kernelRows = m.kernels.map((k) => [
    mdText(k.label),
    k.release ? mdCode(k.release, true) : '—',
    mdText(k.source ?? '—'),
    mdText(`${whereText(k)}${k.accelDetail ? `: ${k.accelDetail}` : ''}`),
    mdText(timeScaleText(k.timeScale)),
    yesNo(k.environment?.kernel.btf),
    yesNo(k.environment?.kernel.bpffsMounted),
    `${MARK[k.verdict]} ${WORD[k.verdict]}`,
    formatDuration(k.durationMs),
    k.reportDir ? `[report](${encodeURI(`${k.reportDir}/report.md`)})` : '—',
  ]);
  const featureRows = matrixFeatures(m).map((name) => [
    mdText(name),
    ...m.kernels.map((k) => {
      const f = featureState(k, name);
      if (f.state === undefined) return '—';
      return f.detail ? `${f.state} (${mdText(f.detail)})` : f.state;
    }),
  ]);
  const errors = m.kernels.filter((k) => k.error !== undefined);
  const ms = Date.parse(m.endedAt) - Date.parse(m.startedAt);
  return [
    `# Kernel matrix: ${MARK[m.verdict]} ${WORD[m.verdict]}`,
    '',
    `Matrix ${mdCode(m.id)}, ${m.kernels.length} kernel(s) x ${m.modes.length} mode(s), started ${mdText(m.startedAt)}, took ${Number.isFinite(ms) ? formatDuration(ms) : '?'}. Command: ${mdCode(['dpconform', ...m.argv].join(' '))}.`,
    '',
    floorLine(m),
    'Each kernel ran with a time scale: one factor applied to probe timeouts, start budgets and test limits, measured from the VM\u2019s speed against the host\u2019s (or given), so that a slow machine is not taken for a broken kernel.',
    '',
    '## Kernel x area x mode',
    '',
    mdTable(['area', ...head], [...areaRows, verdictRow]),
    '',
    ...(errors.length > 0
      ? [
          '## Kernels that could not run',
          '',
          ...errors.map((k) => `- **${mdText(k.label)}**: ${mdText(k.error ?? '')}`),
          '',
        ]
      : []),
    '## Requirements',
    '',
    reqRows.length > 0 ? mdTable(['id', 'statement', ...head], reqRows) : 'No requirement ran.',
    '',
    '## Kernels',
    '',
    mdTable(
      ['kernel', 'release', 'from', 'ran on', 'time scale', 'BTF', 'bpffs', 'verdict', 'took', 'report'],
      kernelRows,
    ),
    '',
    '## Kernel features probed',
    '',
    featureRows.length > 0
      ? mdTable(['feature', ...m.kernels.map((k) => mdText(k.label))], featureRows)
      : 'No kernel was probed.',
    '',
  ].join('\n');
}

const CSS = `body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#1b1f24}
header{padding:16px 24px;color:#fff}header h1{margin:0;font-size:20px}header p{margin:4px 0 0}
.v-conformant{background:#1a7f37}.v-non-conformant{background:#cf222e}.v-error{background:#9a6700}.v-skipped{background:#57606a}
main{padding:8px 24px 32px}table{border-collapse:collapse;margin:8px 0 16px}th,td{border:1px solid #d0d7de;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#f6f8fa}td.c{text-align:center;white-space:nowrap}.muted{color:#57606a}code{font:12px ui-monospace,monospace}
.pill{display:inline-block;padding:0 6px;border-radius:8px;color:#fff;font-size:12px}
.s-yes{color:#1a7f37}.s-no{color:#cf222e;font-weight:600}.s-unknown{color:#9a6700}`;

function pill(v: Verdict): string {
  return `<span class="pill v-${v}">${html(WORD[v])}</span>`;
}

function htmlTable(head: readonly string[], rows: readonly string[]): string {
  return `<table><thead><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The matrix as one self-contained HTML document. */
export function renderMatrixHtml(m: KernelMatrix): string {
  const cols = columns(m);
  const head = cols.map((c) => `${html(c.kernel.label)}<br><code>${html(c.mode)}</code>`);
  const areaRows = matrixAreas(m).map(
    (area) =>
      `<tr><th scope="row">${html(area)}</th>${cols.map((c) => `<td class="c">${html(cellText(matrixCell(c.kernel, area, c.mode)))}</td>`).join('')}</tr>`,
  );
  areaRows.push(
    `<tr><th scope="row">kernel</th>${cols.map((c) => `<td class="c">${pill(c.kernel.verdict)}</td>`).join('')}</tr>`,
  );
  const reqRows = matrixRequirements(m).map(
    (r) =>
      `<tr><th scope="row"><code>${html(r.id)}</code></th><td>${html(r.statement)}</td>${cols
        .map((c) => {
          const v = matrixResult(c.kernel, r.area, r.id, c.mode);
          return `<td class="c" title="${html(v ?? 'did not run')}">${v ? MARK[v] : '—'}</td>`;
        })
        .join('')}</tr>`,
  );
  const kernelRows = m.kernels.map((k) => {
    const link = k.reportDir
      ? `<a href="${html(encodeURI(`${k.reportDir}/report.html`))}">report.html</a>`
      : '<span class="muted">none</span>';
    return `<tr><th scope="row">${html(k.label)}</th><td>${k.release ? `<code>${html(k.release)}</code>` : '—'}</td><td>${html(k.source ?? '—')}</td><td>${html(whereText(k))}${k.accelDetail ? `<br><span class="muted">${html(k.accelDetail)}</span>` : ''}</td><td>${html(timeScaleText(k.timeScale))}</td><td>${yesNo(k.environment?.kernel.btf)}</td><td>${yesNo(k.environment?.kernel.bpffsMounted)}</td><td>${pill(k.verdict)}${k.error ? `<br>${html(k.error)}` : ''}</td><td>${html(formatDuration(k.durationMs))}</td><td>${link}</td></tr>`;
  });
  const featureRows = matrixFeatures(m).map(
    (name) =>
      `<tr><th scope="row">${html(name)}</th>${m.kernels
        .map((k) => {
          const f = featureState(k, name);
          if (f.state === undefined) return '<td class="muted">—</td>';
          return `<td><span class="s-${f.state}">${html(f.state)}</span>${f.detail ? `<br><span class="muted">${html(f.detail)}</span>` : ''}</td>`;
        })
        .join('')}</tr>`,
  );
  const ms = Date.parse(m.endedAt) - Date.parse(m.startedAt);
  const sub = `matrix <code>${html(m.id)}</code> · ${html(m.kernels.length)} kernel(s) x ${html(m.modes.length)} mode(s) · ${html(m.startedAt)} · ${html(Number.isFinite(ms) ? formatDuration(ms) : '?')}`;
  return [
    '<!doctype html>',
    '<html lang="en"><head><meta charset="utf-8">',
    `<title>dpconform kernel matrix ${html(WORD[m.verdict])} — ${html(m.id)}</title>`,
    `<style>${CSS}</style></head><body>`,
    `<header class="v-${m.verdict}"><h1>dpconform kernel matrix: ${html(WORD[m.verdict])}</h1><p>${sub}</p></header>`,
    '<main>',
    `<p>${html(floorLine(m))}</p>`,
    '<p class="muted">Each kernel ran with a time scale: one factor applied to probe timeouts, start budgets and test limits, measured from the VM’s speed against the host’s (or given), so that a slow machine is not taken for a broken kernel.</p>',
    `<section id="matrix"><h2>Kernel x area x mode</h2>${htmlTable(['area', ...head], areaRows)}</section>`,
    `<section id="requirements"><h2>Requirements</h2>${reqRows.length ? htmlTable(['id', 'statement', ...head], reqRows) : '<p class="muted">No requirement ran.</p>'}</section>`,
    `<section id="kernels"><h2>Kernels</h2>${htmlTable(['kernel', 'release', 'from', 'ran on', 'time scale', 'BTF', 'bpffs', 'verdict', 'took', 'report'], kernelRows)}</section>`,
    `<section id="features"><h2>Kernel features probed</h2>${featureRows.length ? htmlTable(['feature', ...m.kernels.map((k) => html(k.label))], featureRows) : '<p class="muted">No kernel was probed.</p>'}</section>`,
    '</main></body></html>',
    '',
  ].join('\n');
}
