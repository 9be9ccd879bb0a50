/**
 * Evidence and failures as plain text, in the same words for every format (JUnit, Markdown,
 * HTML captions), so a person sees the same thing wherever they read the report.
 */
import type {
  Attachment,
  Evidence,
  Failure,
  FigureEvidence,
  MapUsageEvidence,
  Requirement,
} from './model.ts';

/** A map's usage as a share of its capacity (0 when the capacity is unknown). */
export function mapUsage(item: MapUsageEvidence): number {
  return item.capacity > 0 ? item.entries / item.capacity : 0;
}

/** A percentage with at most one decimal: `81.3%`. */
export function percent(share: number): string {
  return `${Math.round(share * 1000) / 10}%`;
}

function signed(n: number): string {
  return n > 0 ? `+${n}` : String(n);
}

/** True when a map reading is at or above the threshold the dataplane gave with it. */
export function mapOverWarn(item: MapUsageEvidence): boolean {
  return item.warnAt !== undefined && mapUsage(item) >= item.warnAt;
}

/** One line naming a piece of evidence and what it showed. */
export function evidenceTitle(item: Evidence): string {
  const label = item.label ? `${item.label}: ` : '';
  switch (item.kind) {
    case 'packet':
      return `${label}capture on ${item.where}${item.filter ? ` (${item.filter})` : ''}: ${item.packets.length} packet${item.packets.length === 1 ? '' : 's'}`;
    case 'counter':
      return `${label}counter ${item.name}${item.where ? ` on ${item.where}` : ''}: ${item.before} → ${item.after} (${signed(item.delta)})`;
    case 'map': {
      const usage = mapUsage(item);
      const warn = mapOverWarn(item) ? ` — above ${percent(item.warnAt ?? 1)}` : '';
      return `${label}map ${item.name}${item.where ? ` on ${item.where}` : ''}: ${item.entries} of ${item.capacity} entries (${percent(usage)})${warn}`;
    }
    case 'echo':
      return `${label}${item.protocol} ${item.from} → ${item.target}: ${item.ok ? 'answered' : `failed${item.error ? ` (${item.error})` : ''}`}${item.sourceSeen ? `, server saw ${item.sourceSeen}` : ''}`;
    case 'text':
      return item.label ?? 'note';
    case 'figure':
      return `${label}${figureText(item)}${item.where ? ` on ${item.where}` : ''}`;
  }
}

/** A figure with its unit and spread: `1520 req/s ± 40 (higher is better)`. */
export function figureText(item: FigureEvidence): string {
  const unit = item.unit ? ` ${item.unit}` : '';
  const spread = item.spread === undefined ? ', no spread measured' : ` ± ${round(item.spread)}${unit}`;
  return `${item.name}: ${round(item.value)}${unit}${spread}${item.better ? ` (${item.better} is better)` : ''}`;
}

/** A number with at most three significant decimals, as people read figures. */
export function round(n: number): string {
  return String(Math.round(n * 1000) / 1000);
}

/** Bytes the way a person reads them: `812 B`, `14.2 KiB`, `3.0 MiB`. */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let n = bytes / 1024;
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i += 1;
  }
  return `${n.toFixed(1)} ${units[i]}`;
}

/** The file name of an evidence file (its path's last part). */
export function attachmentName(a: Attachment): string {
  return a.path.slice(a.path.lastIndexOf('/') + 1);
}

/** An evidence file in one line: title, size, or why it was left out. */
export function attachmentText(a: Attachment): string {
  if (a.omitted) return `${a.title} — not kept: ${a.omitted}`;
  return `${a.title}${a.bytes === undefined ? '' : ` (${formatBytes(a.bytes)})`}`;
}

const FILE_WORD: Record<Attachment['kind'], string> = {
  pcap: 'captures',
  'map-dump': 'map dumps',
  counters: 'counters',
  metrics: 'metrics',
  transcript: 'transcripts',
  other: 'files',
};

/** The files of a requirement grouped by kind: captures first, transcripts and others last. */
export function attachmentGroups(
  attachments: readonly Attachment[],
): { word: string; files: Attachment[] }[] {
  return (Object.keys(FILE_WORD) as Attachment['kind'][])
    .map((kind) => ({ word: FILE_WORD[kind], files: attachments.filter((a) => a.kind === kind) }))
    .filter((g) => g.files.length > 0);
}

/**
 * What a requirement's evidence showed, in one line without its files: the suite's own summary,
 * or else the first item of evidence and how many more there are.
 */
export function evidenceLine(r: Requirement): string {
  if (r.summary) return r.summary;
  const [first, ...rest] = r.evidence;
  if (!first) return (r.attachments ?? []).length > 0 ? 'evidence files only' : 'no evidence recorded';
  return `${evidenceTitle(first)}${rest.length > 0 ? ` (and ${rest.length} more item${rest.length === 1 ? '' : 's'})` : ''}`;
}

/** The body of an evidence item beyond its title (packets, reply, text), as lines. */
export function evidenceBody(item: Evidence): string[] {
  switch (item.kind) {
    case 'packet':
      return item.packets;
    case 'echo':
      return item.reply ? [`reply: ${item.reply}`] : [];
    case 'text':
      return item.text.split('\n');
    default:
      return [];
  }
}

/** An evidence item as text: its title, then its body indented. */
export function evidenceText(item: Evidence): string {
  const body = evidenceBody(item).map((l) => `  ${l}`);
  return [evidenceTitle(item), ...body].join('\n');
}

/** A failure as labelled lines: message, expected, seen, where, at. */
export function failureText(failure: Failure): string {
  const lines = [failure.message];
  if (failure.expected !== undefined) lines.push(`expected: ${failure.expected}`);
  if (failure.seen !== undefined) lines.push(`seen: ${failure.seen}`);
  if (failure.where !== undefined) lines.push(`where: ${failure.where}`);
  if (failure.source !== undefined) lines.push(`at: ${failure.source}`);
  return lines.join('\n');
}

function clip(text: string, limit: number): string {
  const flat = text.replace(/\s*\n\s*/g, ' / ').trim();
  return flat.length > limit ? `${flat.slice(0, limit - 1)}…` : flat;
}

/**
 * A failure in one line, for viewers that show only a message: `what — expected: ...; seen:
 * ...; where: ...`, each part cut short when long.
 */
export function failureHeadline(failure: Failure): string {
  const headline = clip(failure.message.split('\n')[0] ?? '', 300);
  const labelled: [string, string | undefined][] = [
    ['expected', failure.expected],
    ['seen', failure.seen],
    ['where', failure.where],
  ];
  const parts = labelled
    .filter((p): p is [string, string] => p[1] !== undefined && p[1] !== '')
    .map(([label, value]) => `${label}: ${clip(value, 300)}`);
  return parts.length > 0 ? `${headline} — ${parts.join('; ')}` : headline;
}
