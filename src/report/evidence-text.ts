/**
 * Evidence and failures as plain text, in the same words for every format (JUnit, Markdown,
 * HTML captions), so a person sees the same thing wherever they read the report.
 */
import type { Evidence, Failure, MapUsageEvidence } from './model.ts';

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
  }
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
