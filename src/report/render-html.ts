/**
 * The run as one self-contained HTML page for people (release managers, kernel vendors): the
 * verdict in a banner, a matrix of area by mode, the failures, the measured figures with their
 * charts (inline SVG), every requirement with its evidence and links to its evidence files behind
 * a click, and the environment. Inline CSS and a little inline JS; a content security policy
 * forbids loading anything, so the page reads the same offline and archived (evidence files are
 * links beside it, opened only when clicked).
 * A qualification page is the same with a column per pass of each run and a section per run.
 */
import {
  attachmentGroups,
  attachmentName,
  attachmentText,
  evidenceLine,
  evidenceTitle,
  figureText,
  formatBytes,
  mapOverWarn,
  mapUsage,
  percent,
} from './evidence-text.ts';
import { configFacts, evidenceFacts, type Fact, kernelFacts, settingFacts, toolFacts } from './facts.ts';
import { formatDuration, html } from './format.ts';
import {
  type Area,
  type Attachment,
  allRequirements,
  countVerdicts,
  type Evidence,
  modeLabel,
  type Pass,
  type Qualification,
  type Requirement,
  type Run,
  type Verdict,
} from './model.ts';
import { collectPerformance, measuredText, type Performance } from './performance.ts';
import { chartSvg, seriesColours } from './render-svg.ts';
import {
  areaNamesOf,
  columnsOf,
  failingOf,
  problemsOf,
  qualificationViews,
  type RunView,
  soloView,
} from './views.ts';

/** Escapes text for HTML content and attributes (defined with the other shared text formats). */
export { html };

const WORD: Record<Verdict, string> = {
  conformant: 'Conformant',
  'non-conformant': 'Non-conformant',
  skipped: 'Skipped',
  error: 'Error',
};

const ICON: Record<Verdict, string> = { conformant: '✓', 'non-conformant': '✕', skipped: '–', error: '!' };

function pill(v: Verdict): string {
  return `<span class="pill v-${v}"><span aria-hidden="true">${ICON[v]}</span> ${WORD[v]}</span>`;
}

function slug(value: string): string {
  return (
    value
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '') || 'x'
  );
}

function passKey(view: RunView, pass: Pass, index: number): string {
  return `${view.idPrefix}p${index}-${slug(modeLabel(pass.mode))}`;
}

function areaAnchor(view: RunView, pass: Pass, passIndex: number, area: string): string {
  return `${passKey(view, pass, passIndex)}-${slug(area)}`;
}

function pre(lines: readonly string[], limit = 200): string {
  const shown = lines.slice(0, limit);
  const more = lines.length > limit ? `\n… ${lines.length - limit} more lines` : '';
  return `<pre>${html(shown.join('\n') + more)}</pre>`;
}

function evidenceHtml(item: Evidence): string {
  const title = `<div class="ev-title"><span class="ev-kind">${html(item.kind)}</span> ${html(evidenceTitle(item))}</div>`;
  switch (item.kind) {
    case 'packet':
      return `<div class="ev">${title}${item.packets.length ? pre(item.packets) : '<p class="muted">No packets captured.</p>'}</div>`;
    case 'counter':
      return `<div class="ev">${title}<div class="ev-counter"><span>${html(item.before)}</span><span class="arrow">→</span><span>${html(item.after)}</span><span class="delta ${item.delta === 0 ? 'zero' : ''}">${html(item.delta > 0 ? `+${item.delta}` : item.delta)}</span></div></div>`;
    case 'map': {
      const usage = mapUsage(item);
      const warn = mapOverWarn(item) ? ' warn' : '';
      const mark = item.capacity * (item.warnAt ?? 1);
      return `<div class="ev${warn}">${title}<div class="ev-map"><meter min="0" max="${html(item.capacity)}" low="${html(mark)}" high="${html(mark)}" optimum="0" value="${html(item.entries)}"></meter><span>${html(percent(usage))}</span></div></div>`;
    }
    case 'echo': {
      const rows: [string, string | undefined][] = [
        ['from', item.from],
        ['to', `${item.target} (${item.protocol})`],
        ['result', item.ok ? 'answered' : `failed${item.error ? `: ${item.error}` : ''}`],
        ['server saw', item.sourceSeen],
        ['time', item.totalMs === undefined ? undefined : formatDuration(item.totalMs)],
      ];
      const dl = rows
        .filter((r): r is [string, string] => r[1] !== undefined)
        .map(([k, v]) => `<dt>${html(k)}</dt><dd>${html(v)}</dd>`)
        .join('');
      return `<div class="ev${item.ok ? '' : ' bad'}">${title}<dl class="kv">${dl}</dl>${item.reply ? pre(item.reply.split('\n'), 40) : ''}</div>`;
    }
    case 'text':
      return `<div class="ev">${title}${pre(item.text.split('\n'))}</div>`;
    case 'figure':
      return `<div class="ev">${title}<p class="muted">${html(figureText(item))}</p></div>`;
  }
}

/** The href of an evidence file, relative to the page. */
export function fileHref(a: Attachment, base: string): string {
  return encodeURI(`${base}${a.path}`).replace(/[?#]/g, (c) => encodeURIComponent(c));
}

function filesHtml(r: Requirement, base: string): string {
  const files = attachmentGroups(r.attachments ?? []).flatMap((g) => g.files);
  if (files.length === 0) return '';
  const items = files.map((a) => {
    const name = a.omitted
      ? `<span class="omitted">${html(attachmentName(a))}</span>`
      : `<a href="${html(fileHref(a, base))}" type="${html(a.mediaType)}" data-kind="${html(a.kind)}">${html(attachmentName(a))}</a>`;
    return `<li>${name}<span>${html(attachmentText(a))}</span></li>`;
  });
  return `<div class="files"><h5>Evidence files</h5><ul>${items.join('')}</ul></div>`;
}

function failureHtml(r: Requirement): string {
  const parts: string[] = [];
  if (r.reason && r.verdict !== 'non-conformant') {
    parts.push(
      `<p class="reason"><b>${r.verdict === 'skipped' ? 'Skipped' : 'Stopped'}:</b> ${html(r.reason)}</p>`,
    );
  }
  const f = r.failure;
  if (f) {
    const rows: [string, string | undefined][] = [
      ['expected', f.expected],
      ['seen', f.seen],
      ['where', f.where],
      ['at', f.source],
    ];
    const dl = rows
      .filter((x): x is [string, string] => x[1] !== undefined)
      .map(([k, v]) => `<dt>${html(k)}</dt><dd><pre>${html(v)}</pre></dd>`)
      .join('');
    parts.push(
      `<div class="failure v-${r.verdict}"><pre class="message">${html(f.message)}</pre>${dl ? `<dl class="kv">${dl}</dl>` : ''}${f.type ? `<div class="muted small">${html(f.type)}</div>` : ''}</div>`,
    );
  }
  return parts.join('');
}

function requirementRow(
  id: string,
  view: RunView,
  pass: Pass,
  area: Area,
  r: Requirement,
  context: boolean,
  open: boolean,
): string {
  const run = view.label ? `${html(view.run.runId)} · ` : '';
  const where = context
    ? `<span class="ctx">${run}${html(area.name)} · ${html(modeLabel(pass.mode))}</span>`
    : '';
  const line =
    r.summary || r.evidence.length > 0 || r.attachments?.length
      ? `<p class="ev-line">${html(evidenceLine(r))}</p>`
      : '';
  const evidence = r.evidence.length
    ? `<div class="evidence"><h5>Evidence</h5>${r.evidence.map(evidenceHtml).join('')}</div>`
    : r.attachments?.length
      ? ''
      : '<p class="muted">No evidence recorded.</p>';
  return (
    `<details class="req v-${r.verdict}" data-verdict="${r.verdict}" id="${id}"${open ? ' open' : ''}>` +
    `<summary>${pill(r.verdict)}<span class="rid">${html(r.id)}</span><span class="stmt">${html(r.statement)}${where}</span><span class="dur">${html(formatDuration(r.durationMs))}</span></summary>` +
    `<div class="req-body">${failureHtml(r)}${line}${filesHtml(r, view.base)}${evidence}</div></details>`
  );
}

function matrix(views: readonly RunView[]): string {
  const columns = columnsOf(views);
  const grouped = views.some((v) => v.label);
  const runRow = grouped
    ? `<tr class="runs"><th></th>${views
        .filter((v) => v.run.passes.length > 0)
        .map(
          (v) =>
            `<th scope="colgroup" colspan="${v.run.passes.length}"><a href="#${v.idPrefix}run">${html(v.label)}</a></th>`,
        )
        .join('')}</tr>`
    : '';
  const head = columns.map((col) => `<th scope="col">${html(modeLabel(col.pass.mode))}</th>`).join('');
  const rows = areaNamesOf(views).map((name) => {
    const cells = columns.map(({ view, pass, index }) => {
      const area = pass.areas.find((a) => a.name === name);
      if (!area) return '<td class="cell none">not run</td>';
      const c = countVerdicts(area.requirements);
      const checked = c.total - c.skipped;
      const lines = [`${c.conformant}/${checked} conformant`];
      if (c['non-conformant']) lines.push(`${c['non-conformant']} non-conformant`);
      if (c.error) lines.push(`${c.error} error`);
      if (c.skipped) lines.push(`${c.skipped} skipped`);
      if (area.problems.length)
        lines.push(`${area.problems.length} problem${area.problems.length === 1 ? '' : 's'}`);
      return `<td class="cell v-${area.verdict}" data-verdict="${area.verdict}"><a href="#${areaAnchor(view, pass, index, name)}"><b>${ICON[area.verdict]} ${WORD[area.verdict]}</b><small>${html(lines.join(' · '))}</small></a></td>`;
    });
    return `<tr><th scope="row">${html(name)}</th>${cells.join('')}</tr>`;
  });
  const foot = columns
    .map(
      ({ pass }) =>
        `<td class="cell v-${pass.verdict}"><b>${ICON[pass.verdict]} ${WORD[pass.verdict]}</b></td>`,
    )
    .join('');
  return `<table class="matrix"><colgroup><col class="area-col">${columns.map(() => '<col>').join('')}</colgroup><thead>${runRow}<tr><th scope="col">area</th>${head}</tr></thead><tbody>${rows.join('')}</tbody><tfoot><tr><th scope="row">pass</th>${foot}</tr></tfoot></table>`;
}

function failuresSection(views: readonly RunView[]): string {
  const failed = failingOf(views);
  const problems = problemsOf(views);
  if (failed.length === 0 && problems.length === 0) {
    return '<section id="failures"><h2>Failures</h2><p class="none-failed">No requirement failed.</p></section>';
  }
  const openRows = failed.length <= 5;
  const rows = failed.map(({ view, pass, area, requirement }, i) =>
    requirementRow(`f${i}-${slug(requirement.id)}`, view, pass, area, requirement, true, openRows),
  );
  const probs = problems.map(
    (p) =>
      `<div class="problem">${pill('error')}<span class="ctx">${p.view.label ? `${html(p.view.run.runId)} · ` : ''}${html(p.where)} · ${html(modeLabel(p.pass.mode))}</span><pre>${html(p.text)}</pre></div>`,
  );
  return `<section id="failures"><h2>Failures <span class="count-badge">${failed.length + problems.length}</span></h2>${rows.join('')}${probs.join('')}</section>`;
}

function requirementRowId(view: RunView, pass: Pass, passIndex: number, area: Area, index: number): string {
  const r = area.requirements[index];
  return `${areaAnchor(view, pass, passIndex, area.name)}-${index}-${slug(r?.id ?? '')}`;
}

const BETTER = { higher: '↑', lower: '↓' } as const;

/** The performance section: the charts, then every figure in a table; nothing without figures. */
function performanceSection(views: readonly RunView[], perf: Performance): string {
  if (perf.rows.length === 0) return '';
  const byRun = perf.rows.some((r) => r.run);
  const rows = perf.rows.map((r) => {
    const view = views[r.at.view];
    const pass = view?.run.passes[r.at.pass];
    const area = pass?.areas[r.at.area];
    const id =
      view && pass && area ? requirementRowId(view, pass, r.at.pass, area, r.at.requirement) : undefined;
    const req = id
      ? `<a class="rid" href="#${html(id)}" title="${html(r.statement)}">${html(r.requirement)}</a>`
      : `<span class="rid">${html(r.requirement)}</span>`;
    const better = r.better
      ? ` <span class="better" title="${html(r.better)} is better">${BETTER[r.better]}</span>`
      : '';
    return (
      `<tr>${byRun ? `<td><code>${html(r.run)}</code></td>` : ''}<td>${req}</td><td><code>${html(r.lane)}</code></td>` +
      `<td>${html(r.name)}${r.label ? ` <span class="muted">(${html(r.label)})</span>` : ''}${r.where ? `<small class="ctx">${html(r.where)}</small>` : ''}</td>` +
      `<td class="num">${html(measuredText(r))}${better}</td>` +
      `<td>${r.claim ? html(r.claim) : '<span class="muted">—</span>'}</td><td>${pill(r.verdict)}</td></tr>`
    );
  });
  const headCells = [
    ...(byRun ? ['run'] : []),
    'requirement',
    'lane',
    'figure',
    'measured',
    'guide’s claim',
    'verdict',
  ];
  const table = `<table class="perf"><thead><tr>${headCells.map((h) => `<th scope="col">${html(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
  const colours = seriesColours(perf);
  const charts = perf.charts.map(
    (chart, i) => `<figure class="chart" id="chart-${i}">${chartSvg(chart, `chart-${i}`, colours)}</figure>`,
  );
  const note = `<p class="muted small">${perf.rows.length} figure${perf.rows.length === 1 ? '' : 's'}; ↑ higher is better, ↓ lower is better; ± the spread between repeats.</p>`;
  // The charts give the picture at a glance; the table under them holds every number.
  return `<section id="performance"><h2>Performance</h2>${note}${charts.length ? `<div class="charts">${charts.join('')}</div>` : ''}${table}</section>`;
}

function passesHtml(view: RunView): string {
  return view.run.passes
    .map((pass, i) => {
      const c = countVerdicts(pass.areas.flatMap((a) => a.requirements));
      const areas = pass.areas.map((area) => {
        const anchor = areaAnchor(view, pass, i, area.name);
        const rows = area.requirements.map((r, j) =>
          requirementRow(requirementRowId(view, pass, i, area, j), view, pass, area, r, false, false),
        );
        const problems = area.problems.map(
          (p) => `<div class="problem">${pill('error')}<pre>${html(p)}</pre></div>`,
        );
        return `<div class="area" id="${anchor}"><h4>${pill(area.verdict)} <span>${html(area.name)}</span></h4>${rows.join('')}${problems.join('')}</div>`;
      });
      return (
        `<div class="pass" id="${passKey(view, pass, i)}"><h3>${html(modeLabel(pass.mode))} ${pill(pass.verdict)}<span class="muted small">${c.conformant} conformant · ${c['non-conformant']} non-conformant · ${c.skipped} skipped · ${c.error} error · ${html(formatDuration(pass.durationMs))}</span></h3>` +
        `${areas.join('') || '<p class="muted">No areas ran.</p>'}</div>`
      );
    })
    .join('');
}

function toolbar(): string {
  const filters = (['conformant', 'non-conformant', 'error', 'skipped'] as const)
    .map(
      (v) =>
        `<label class="filter v-${v}"><input type="checkbox" data-filter="${v}" checked> ${WORD[v]}</label>`,
    )
    .join('');
  return `<div class="toolbar"><button type="button" data-expand="open">Expand all</button><button type="button" data-expand="close">Collapse all</button><span class="sep"></span>${filters}</div>`;
}

function requirementsSection(views: readonly RunView[]): string {
  const runs = views.map((view) =>
    view.label
      ? `<div class="run" id="${view.idPrefix}run"><h3 class="run-head">Run ${html(view.label)} ${pill(view.run.verdict)}</h3>${passesHtml(view)}</div>`
      : passesHtml(view),
  );
  return `<section id="requirements"><h2>All requirements</h2>${toolbar()}${runs.join('')}</section>`;
}

function factTable(title: string, facts: readonly Fact[]): string {
  const rows = facts.map(
    (f) => `<tr><th scope="row">${html(f.label)}</th><td><code>${html(f.value)}</code></td></tr>`,
  );
  return `<div class="card"><h3>${html(title)}</h3><table class="facts">${rows.join('') || '<tr><td class="muted">none recorded</td></tr>'}</table></div>`;
}

function featureCard(run: Run): string {
  const chips = run.environment.features.map(
    (f) =>
      `<li class="chip f-${f.state}" title="${html(f.detail ?? f.state)}"><span aria-hidden="true">${f.state === 'yes' ? '✓' : f.state === 'no' ? '✕' : '?'}</span> ${html(f.name)}${f.detail ? `<small>${html(f.detail)}</small>` : ''}</li>`,
  );
  return `<div class="card"><h3>Kernel features</h3><ul class="chips">${chips.join('') || '<li class="muted">none probed</li>'}</ul></div>`;
}

// Many short facts with long names (FelixConfiguration fields) read best as tiles.
function factTiles(title: string, facts: readonly Fact[]): string {
  const tiles = facts.map(
    (f) => `<div class="tile"><dt>${html(f.label)}</dt><dd><code>${html(f.value)}</code></dd></div>`,
  );
  return `<div class="card wide"><h3>${html(title)}</h3><dl class="tiles">${tiles.join('') || '<div class="muted">none recorded</div>'}</dl></div>`;
}

function environmentCards(run: Run): string {
  return (
    '<div class="cards">' +
    factTable('Kernel', kernelFacts(run)) +
    featureCard(run) +
    factTable('Tools', toolFacts(run)) +
    factTiles('Run', [...configFacts(run), ...evidenceFacts(run)]) +
    factTiles('FelixConfiguration settings', settingFacts(run)) +
    '</div>'
  );
}

function environmentSection(views: readonly RunView[]): string {
  const parts = views.map((v) =>
    v.label ? `<h3>Run ${html(v.label)}</h3>${environmentCards(v.run)}` : environmentCards(v.run),
  );
  return `<section id="environment"><h2>Environment</h2>${parts.join('')}</section>`;
}

function capNotice(run: Run): string {
  const e = run.evidenceFiles;
  if (!e || e.omittedFiles === 0) return '';
  return `<p class="notice" id="evidence-cap"><b>Evidence size cap reached:</b> ${html(e.omittedFiles)} evidence file${e.omittedFiles === 1 ? '' : 's'} (${html(formatBytes(e.omittedBytes))}) of run <code>${html(run.runId)}</code> were not kept; the cap is ${html(formatBytes(e.capBytes))} (<code>--evidence-cap</code>).</p>`;
}

function counts(views: readonly RunView[]): ReturnType<typeof countVerdicts> {
  return countVerdicts(views.flatMap((v) => [...allRequirements(v.run)].map((x) => x.requirement)));
}

function banner(verdict: Verdict, views: readonly RunView[], eyebrow: string, sub: string): string {
  const c = counts(views);
  const headline =
    verdict === 'conformant'
      ? `All ${c.conformant} checked requirement results conform`
      : verdict === 'non-conformant'
        ? `${c['non-conformant']} of ${c.total} requirement results do not conform`
        : verdict === 'error'
          ? `${c.error} requirement result${c.error === 1 ? '' : 's'} could not be checked`
          : 'Nothing was checked';
  const boxes = (['conformant', 'non-conformant', 'error', 'skipped'] as const)
    .map((v) => `<div class="count v-${v}"><b>${c[v]}</b><span>${WORD[v].toLowerCase()}</span></div>`)
    .join('');
  return (
    `<header class="banner v-${verdict}" id="verdict" data-verdict="${verdict}">` +
    `<div class="banner-main"><div class="eyebrow">${html(eyebrow)}</div>` +
    `<h1><span class="big-icon" aria-hidden="true">${ICON[verdict]}</span> <span id="verdict-word">${WORD[verdict]}</span></h1>` +
    `<p class="headline">${html(headline)}</p>` +
    `<p class="sub">${sub}</p></div>` +
    `<div class="counts">${boxes}</div></header>`
  );
}

function page(title: string, schemaVersion: number, stamp: string, parts: readonly string[]): string {
  return [
    '<!doctype html>',
    '<html lang="en">',
    '<head>',
    '<meta charset="utf-8">',
    `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">`,
    '<meta name="viewport" content="width=device-width, initial-scale=1">',
    '<meta name="color-scheme" content="light dark">',
    `<meta name="dpconform-schema-version" content="${html(schemaVersion)}">`,
    `<title>${html(title)}</title>`,
    `<style>${CSS}</style>`,
    '</head>',
    '<body>',
    ...parts,
    `<footer>Generated by dpconform · report schema ${html(schemaVersion)} · ${html(stamp)}</footer>`,
    `<script>${JS}</script>`,
    '</body>',
    '</html>',
    '',
  ].join('\n');
}

const CSS = `
:root{--fg:#1f2328;--muted:#59636e;--bg:#f6f8fa;--card:#fff;--line:#d1d9e0;
--ok:#1a7f37;--ok-bg:#dafbe1;--bad:#cf222e;--bad-bg:#ffebe9;--err:#9a6700;--err-bg:#fff8c5;--skip:#59636e;--skip-bg:#eff2f5;
font:14px/1.5 system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif;color:var(--fg);background:var(--bg)}
@media (prefers-color-scheme:dark){:root{--fg:#e6edf3;--muted:#9198a1;--bg:#0d1117;--card:#151b23;--line:#3d444d;
--ok:#3fb950;--ok-bg:#12261e;--bad:#f85149;--bad-bg:#2d1214;--err:#d29922;--err-bg:#2b2111;--skip:#9198a1;--skip-bg:#212830}}
*{box-sizing:border-box}body{margin:0}main{max-width:1180px;margin:0 auto;padding:0 24px 48px}
code,pre{font-family:ui-monospace,SFMono-Regular,"SF Mono",Menlo,Consolas,monospace;font-size:12.5px}
pre{margin:6px 0;padding:8px 10px;background:var(--bg);border:1px solid var(--line);border-radius:6px;overflow:auto;max-height:360px;white-space:pre-wrap;word-break:break-word}
h2{font-size:20px;margin:36px 0 12px;padding-bottom:6px;border-bottom:1px solid var(--line)}
h3{font-size:16px;margin:20px 0 8px;display:flex;gap:10px;align-items:center;flex-wrap:wrap}
h4{font-size:14px;margin:16px 0 6px;display:flex;gap:8px;align-items:center}
h5{margin:10px 0 4px;font-size:12px;text-transform:uppercase;letter-spacing:.06em;color:var(--muted)}
.muted{color:var(--muted)}.small{font-size:12px;font-weight:400}
.v-conformant{--c:var(--ok);--cbg:var(--ok-bg)}.v-non-conformant{--c:var(--bad);--cbg:var(--bad-bg)}
.v-error{--c:var(--err);--cbg:var(--err-bg)}.v-skipped{--c:var(--skip);--cbg:var(--skip-bg)}
.banner-main{flex:1 1 560px;min-width:0}.banner{display:flex;gap:24px;align-items:center;justify-content:space-between;flex-wrap:wrap;padding:28px max(24px,calc((100% - 1132px)/2));background:var(--cbg);border-bottom:4px solid var(--c)}
.banner h1{margin:2px 0 4px;font-size:34px;line-height:1.15;color:var(--c);display:flex;gap:12px;align-items:center}
.big-icon{display:inline-grid;place-items:center;width:44px;height:44px;border-radius:50%;background:var(--c);color:#fff;font-size:26px}
.eyebrow{font-size:12px;text-transform:uppercase;letter-spacing:.08em;color:var(--muted);font-weight:600}
.headline{margin:0;font-size:16px;font-weight:600}.sub{margin:6px 0 0;color:var(--muted)}.sub code{white-space:nowrap}
.counts{display:flex;gap:10px}.count{min-width:92px;padding:10px 12px;border-radius:8px;background:var(--card);border:1px solid var(--line);border-top:3px solid var(--c);text-align:center}
.count b{display:block;font-size:24px;color:var(--c);line-height:1.2}.count span{font-size:12px;color:var(--muted)}
.pill{display:inline-flex;gap:4px;align-items:center;padding:1px 9px;border-radius:999px;font-size:12px;font-weight:600;color:var(--c);background:var(--cbg);border:1px solid color-mix(in srgb,var(--c) 35%,transparent);white-space:nowrap}
.matrix{border-collapse:separate;border-spacing:4px;width:100%;table-layout:fixed}.matrix col.area-col{width:150px}
.matrix th{text-align:left;font-weight:600;padding:6px 8px}.matrix thead th{color:var(--muted);font-size:12px;text-transform:uppercase;letter-spacing:.04em}
.matrix thead th:not(:first-child){font-family:ui-monospace,Menlo,monospace;text-transform:none;font-size:13px;color:var(--fg)}
.cell{background:var(--cbg);border-left:4px solid var(--c);border-radius:6px;padding:0}
.cell a,.cell>b{display:block;padding:8px 10px;color:inherit;text-decoration:none}.cell a:hover{filter:brightness(.97);outline:1px solid var(--c);border-radius:0 6px 6px 0}
.cell b{color:var(--c)}.cell small{display:block;color:var(--muted);font-size:12px}.cell.none{background:transparent;border:1px dashed var(--line);color:var(--muted);padding:8px 10px}
.req{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--c);border-radius:6px;margin:6px 0}
.req>summary{display:grid;grid-template-columns:150px 96px 1fr auto;gap:10px;align-items:center;padding:8px 12px;cursor:pointer;list-style:none}
.req>summary::-webkit-details-marker{display:none}
.req>summary::after{content:"▸";color:var(--muted);grid-column:5;transition:transform .15s}.req[open]>summary::after{transform:rotate(90deg)}
.req>summary:hover{background:var(--bg)}
.rid{font-family:ui-monospace,Menlo,monospace;font-weight:700}.stmt{min-width:0}.dur{color:var(--muted);font-variant-numeric:tabular-nums;font-size:12px}
.ctx{display:block;color:var(--muted);font-size:12px}
.req-body{padding:4px 16px 14px;border-top:1px solid var(--line)}
.failure{margin:10px 0;padding:10px 12px;border-radius:6px;background:var(--cbg);border:1px solid color-mix(in srgb,var(--c) 30%,transparent)}
.failure .message{background:transparent;border:0;padding:0;margin:0 0 6px;font-weight:600;color:var(--c);font-size:13px}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:4px 0}.kv dt{color:var(--muted);font-weight:600;padding-top:7px}.kv dd:not(:has(pre)){padding-top:7px}.kv dd{margin:0;min-width:0}.kv dd pre{margin:0}
.reason{margin:10px 0}.problem{background:var(--card);border:1px solid var(--line);border-left:4px solid var(--err);border-radius:6px;padding:8px 12px;margin:6px 0}
.evidence{margin-top:8px}.ev{border:1px solid var(--line);border-radius:6px;padding:8px 10px;margin:6px 0;background:var(--card)}
.ev.warn,.ev.bad{border-color:var(--err);background:var(--err-bg)}
.ev-title{font-weight:600}.ev-kind{display:inline-block;font-size:11px;text-transform:uppercase;letter-spacing:.05em;color:var(--muted);border:1px solid var(--line);border-radius:4px;padding:0 5px;margin-right:4px;font-weight:600}
.ev-counter{display:flex;gap:8px;align-items:center;font-family:ui-monospace,Menlo,monospace;margin-top:4px}.arrow{color:var(--muted)}
.delta{font-weight:700;padding:0 6px;border-radius:4px;background:var(--ok-bg);color:var(--ok)}.delta.zero{background:var(--skip-bg);color:var(--skip)}
.ev-map{display:flex;gap:10px;align-items:center;margin-top:4px}.ev-map meter{width:260px;height:14px}
.toolbar{display:flex;gap:8px;align-items:center;flex-wrap:wrap;margin:4px 0 8px;position:sticky;top:0;background:var(--bg);padding:6px 0;z-index:1}
.toolbar button{font:inherit;padding:3px 10px;border:1px solid var(--line);border-radius:6px;background:var(--card);color:var(--fg);cursor:pointer}
.sep{flex:0 0 12px}.filter{display:inline-flex;gap:4px;align-items:center;padding:2px 8px;border-radius:999px;background:var(--cbg);color:var(--c);font-weight:600;font-size:12px;cursor:pointer}
.count-badge{font-size:13px;background:var(--bad);color:#fff;border-radius:999px;padding:0 8px;vertical-align:middle}
.none-failed{color:var(--ok);font-weight:600}
.cards{display:grid;grid-template-columns:repeat(auto-fit,minmax(320px,1fr));gap:14px}.card.wide{grid-column:1/-1}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(250px,1fr));gap:6px 16px;margin:4px 0}
.tile{padding:4px 0;border-bottom:1px solid var(--line);min-width:0}.tile dt{font-size:12px;color:var(--muted)}.tile dd{margin:0;overflow-wrap:anywhere}
.card{background:var(--card);border:1px solid var(--line);border-radius:8px;padding:4px 14px 10px}.card h3{font-size:14px;margin:10px 0 6px}
.facts{border-collapse:collapse;width:100%}.facts th{text-align:left;font-weight:500;color:var(--muted);padding:3px 10px 3px 0;vertical-align:top;width:45%}
.facts td{padding:3px 0;overflow-wrap:anywhere}.facts tr+tr th,.facts tr+tr td{border-top:1px solid var(--line)}
.chips{list-style:none;padding:0;margin:4px 0;display:flex;flex-direction:column;gap:4px}
.chip{padding:3px 8px;border-radius:6px;font-size:13px}.chip small{display:block;color:var(--muted);margin-left:18px;font-size:11.5px}
.f-yes{background:var(--ok-bg)}.f-yes>span{color:var(--ok)}.f-no{background:var(--bad-bg)}.f-no>span{color:var(--bad)}.f-unknown{background:var(--skip-bg)}
.hidden{display:none}footer{max-width:1180px;margin:0 auto;padding:16px 24px 32px;color:var(--muted);font-size:12px;border-top:1px solid var(--line)}
.files{margin-top:8px}.files ul{list-style:none;padding:0;margin:4px 0}.files li{display:flex;gap:8px;align-items:baseline;flex-wrap:wrap;padding:3px 0;border-bottom:1px solid var(--line)}
.files a{font-family:ui-monospace,Menlo,monospace;font-weight:600}.files .omitted{color:var(--err)}.ev-line{margin:8px 0;color:var(--muted)}
.run-head{display:flex;gap:10px;align-items:center;flex-wrap:wrap}.runs{border-collapse:collapse;width:100%}.runs th,.runs td{text-align:left;padding:4px 10px 4px 0;vertical-align:top;width:auto}.runs thead th{color:var(--muted);font-size:12px;font-weight:600}.runs tbody tr{border-top:1px solid var(--line)}.notice{border:1px solid var(--err);background:var(--err-bg);border-radius:6px;padding:8px 12px;margin:12px 0}
.matrix thead tr.runs th{font-family:inherit;text-transform:none;font-size:12px;color:var(--fg);border-bottom:2px solid var(--line)}
.perf{border-collapse:collapse;width:100%;background:var(--card);border:1px solid var(--line);border-radius:8px}
.perf th,.perf td{text-align:left;padding:6px 10px;vertical-align:top;border-top:1px solid var(--line)}.perf thead th{color:var(--muted);font-size:12px;font-weight:600;border-top:0}
.perf td.num{font-variant-numeric:tabular-nums;white-space:nowrap}.perf .rid{white-space:nowrap}.better{color:var(--ok);font-weight:700}
.charts{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,500px),1fr));gap:14px;margin:0 0 14px}
.chart{margin:0;padding:12px 14px;background:var(--card);border:1px solid var(--line);border-radius:8px;overflow-x:auto}
.chart-svg{display:block;max-width:100%;height:auto;font-size:12px}.chart-svg text{fill:var(--fg)}
.chart-svg .c-title{font-size:14px;font-weight:600}.chart-svg .c-note,.chart-svg .c-tick,.chart-svg .c-axis-label{fill:var(--muted)}
.chart-svg .c-value{font-variant-numeric:tabular-nums}.chart-svg .c-axis{stroke:var(--muted);fill:none}.chart-svg .c-grid{stroke:var(--line);fill:none}
.chart-svg .c-spread{stroke:var(--fg);stroke-width:1.2;fill:none;opacity:.7}
@media (max-width:760px){.req>summary{grid-template-columns:1fr auto}.req>summary .stmt{grid-column:1/-1}.counts{flex-wrap:wrap}}
@media print{.toolbar{display:none}.req-body{display:block}}
`;

// Plain DOM code, no libraries: expand/collapse all, filter rows by verdict, open a row or an
// area named by the URL's fragment.
const JS = `
(function(){
var rows=function(){return Array.prototype.slice.call(document.querySelectorAll('#requirements details.req'));};
document.querySelectorAll('[data-expand]').forEach(function(b){b.addEventListener('click',function(){
var open=b.getAttribute('data-expand')==='open';rows().forEach(function(d){if(!d.classList.contains('hidden'))d.open=open;});});});
document.querySelectorAll('[data-filter]').forEach(function(box){box.addEventListener('change',function(){
var on={};document.querySelectorAll('[data-filter]').forEach(function(x){on[x.getAttribute('data-filter')]=x.checked;});
rows().forEach(function(d){d.classList.toggle('hidden',!on[d.getAttribute('data-verdict')]);});});});
function reveal(){var id=decodeURIComponent(location.hash.slice(1));if(!id)return;var el=document.getElementById(id);
if(el&&el.tagName==='DETAILS')el.open=true;}
window.addEventListener('hashchange',reveal);reveal();
})();
`;

/** Renders the run as one self-contained HTML document. */
export function renderHtml(run: Run): string {
  const views = [soloView(run)];
  const ms = Date.parse(run.endedAt) - Date.parse(run.startedAt);
  const modes = run.passes.map((p) => `<code>${html(modeLabel(p.mode))}</code>`).join(' ');
  const sub = `run <code>${html(run.runId)}</code> · ${html(run.startedAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))} · ${html(Number.isFinite(ms) ? formatDuration(ms) : '?')} · ${html(run.config.provider)}, ${html(run.config.nodeCount)} nodes · kernel <code>${html(run.environment.kernel.release)}</code> · modes ${modes}`;
  return page(`dpconform ${WORD[run.verdict]} — ${run.runId}`, run.schemaVersion, run.endedAt, [
    banner(run.verdict, views, 'dpconform conformance report', sub),
    '<main>',
    capNotice(run),
    `<section id="matrix"><h2>Areas by mode</h2>${run.passes.length ? matrix(views) : '<p class="muted">No passes ran.</p>'}</section>`,
    failuresSection(views),
    performanceSection(views, collectPerformance(views)),
    requirementsSection(views),
    environmentSection(views),
    '</main>',
  ]);
}

/** Renders a qualification (several runs merged) as one self-contained HTML document. */
export function renderQualificationHtml(q: Qualification): string {
  const views = qualificationViews(q);
  const runs = q.runs
    .map(
      (r, i) =>
        `<tr><th scope="row"><a href="#r${i}-run">${html(r.run.runId)}</a></th><td>${pill(r.run.verdict)}</td><td>${html(r.run.config.provider)}</td><td><code>${html(r.run.environment.kernel.release)}</code></td><td>${html(r.run.environment.arch)}</td><td>${html(r.run.environment.hostname)}</td><td>${r.run.passes.map((p) => `<code>${html(modeLabel(p.mode))}</code>`).join(' ')}</td><td><a href="${html(encodeURI(`${r.dir}/report.html`))}">report.html</a>${r.sourceSchemaVersion === r.run.schemaVersion ? '' : ` <span class="muted small">(schema ${html(r.sourceSchemaVersion)})</span>`}</td></tr>`,
    )
    .join('');
  const differences = q.differences.length
    ? `<ul>${q.differences.map((d) => `<li>${html(d)}</li>`).join('')}</ul>`
    : '<p class="muted">Nothing: the same requirements, the same report schema.</p>';
  const sub = `qualification <code>${html(q.name)}</code> · ${html(q.createdAt.replace('T', ' ').replace(/\.\d+Z$/, 'Z'))} · ${html(q.runs.length)} run${q.runs.length === 1 ? '' : 's'}`;
  return page(`dpconform qualification ${WORD[q.verdict]} — ${q.name}`, q.schemaVersion, q.createdAt, [
    banner(q.verdict, views, 'dpconform qualification report', sub),
    '<main>',
    ...q.runs.map((r) => capNotice(r.run)),
    `<section id="runs"><h2>Runs</h2><table class="runs"><thead><tr><th>run</th><th>verdict</th><th>provider</th><th>kernel</th><th>arch</th><th>host</th><th>modes</th><th>report</th></tr></thead><tbody>${runs}</tbody></table></section>`,
    `<section id="matrix"><h2>Areas by run and mode</h2>${columnsOf(views).length ? matrix(views) : '<p class="muted">No passes ran.</p>'}</section>`,
    `<section id="differences"><h2>What differs between the runs</h2>${differences}</section>`,
    failuresSection(views),
    performanceSection(views, collectPerformance(views)),
    requirementsSection(views),
    environmentSection(views),
    '</main>',
  ]);
}
