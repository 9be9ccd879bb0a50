/**
 * Progress a person can follow while the suites run: on a terminal, one coloured line per
 * requirement with what is running now; elsewhere (CI logs, pipes), one plain line per
 * requirement that grep and awk can read: `PASS NP-003 nodeport 120ms`.
 */
import { styleText } from 'node:util';
import type { SerializedError } from 'vitest';
import type { Reporter, TestCase, TestModule, TestRunEndReason, Vitest } from 'vitest/node';
import { areaFromFile, parseTestName } from './classify.ts';
import { formatDuration } from './format.ts';
import {
  countVerdicts,
  modeLabel,
  type Pass,
  type PassMode,
  type Requirement,
  type Verdict,
} from './model.ts';
import { gatherPass, requirementFrom } from './reporter.ts';

/** The word a plain line starts with, per verdict. */
export const PLAIN_WORD: Record<Verdict, string> = {
  conformant: 'PASS',
  'non-conformant': 'FAIL',
  skipped: 'SKIP',
  error: 'ERROR',
};

const SYMBOL: Record<Verdict, string> = { conformant: '✔', 'non-conformant': '✘', skipped: '○', error: '!' };
const COLOUR: Record<Verdict, 'green' | 'red' | 'yellow' | 'magenta'> = {
  conformant: 'green',
  'non-conformant': 'red',
  skipped: 'yellow',
  error: 'magenta',
};

type Style = Parameters<typeof styleText>[0];
/** Applies a terminal style, or nothing when colour is off. */
export type Paint = (style: Style, text: string) => string;

/** Paints with ANSI colours. */
export const colour: Paint = (style, text) => styleText(style, text, { validateStream: false });
/** Leaves text as it is. */
export const noColour: Paint = (_style, text) => text;

/** One line for logs: `PASS NP-003 nodeport 120ms`, then the reason for a skip or error. */
export function plainLine(area: string, r: Requirement): string {
  const reason = r.verdict === 'skipped' || r.verdict === 'error' ? r.reason : undefined;
  const base = `${PLAIN_WORD[r.verdict]} ${r.id} ${area} ${Math.round(r.durationMs)}ms`;
  return reason ? `${base} ${oneLine(reason)}` : base;
}

/** One line for a terminal of the given width: symbol, id, area, statement, time. */
export function ttyLine(area: string, r: Requirement, width: number, paint: Paint): string {
  const time = formatDuration(r.durationMs);
  const head = `  ${SYMBOL[r.verdict]} ${r.id.padEnd(10)} ${area.padEnd(12)} `;
  const tail = r.verdict === 'skipped' ? `skipped: ${oneLine(r.reason ?? '')}` : r.statement;
  const room = Math.max(10, width - head.length - time.length - 2);
  const body = tail.length > room ? `${tail.slice(0, room - 1)}…` : tail.padEnd(room);
  const coloured = `  ${paint(COLOUR[r.verdict], SYMBOL[r.verdict])} ${paint('bold', r.id.padEnd(10))} ${paint('cyan', area.padEnd(12))} `;
  const text = r.verdict === 'skipped' ? paint('dim', body) : body;
  return `${coloured}${text} ${paint('gray', time)}`;
}

/** The lines under a failed requirement on a terminal: expected, seen, where. */
export function ttyFailureLines(r: Requirement, paint: Paint): string[] {
  const f = r.failure;
  if (!f || r.verdict === 'conformant' || r.verdict === 'skipped') return [];
  const lines = [`      ${paint(COLOUR[r.verdict], firstLines(f.message, 3).join('\n      '))}`];
  for (const [label, value] of [
    ['expected', f.expected],
    ['seen', f.seen],
    ['where', f.where],
    ['at', f.source],
  ] as const) {
    if (value)
      lines.push(
        `      ${paint('dim', `${label}:`.padEnd(9))} ${firstLines(value, 4).join('\n                ')}`,
      );
  }
  return lines;
}

/** The closing line of a pass: its verdict and counts. */
export function summaryLine(pass: Pass): string {
  const c = countVerdicts(pass.areas.flatMap((a) => a.requirements));
  return (
    `${modeLabel(pass.mode)}: ${pass.verdict} — ${c.conformant} conformant, ${c['non-conformant']} non-conformant, ` +
    `${c.skipped} skipped, ${c.error} error in ${formatDuration(pass.durationMs)}`
  );
}

/** Options of a {@link ProgressReporter}. */
export interface ProgressOptions {
  mode: PassMode;
  /** Where to write (default process.stdout). */
  stream?: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  /** Terminal layout with a live line (default: the stream is a TTY). */
  tty?: boolean;
  /** ANSI colours (default: on a TTY unless NO_COLOR is set). */
  color?: boolean;
}

/** A vitest reporter that prints progress for one pass. */
export class ProgressReporter implements Reporter {
  readonly #mode: PassMode;
  readonly #out: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly #tty: boolean;
  readonly #paint: Paint;
  #root: string | undefined;
  #live = false;
  #started = performance.now();

  constructor(options: ProgressOptions) {
    this.#mode = options.mode;
    this.#out = options.stream ?? process.stdout;
    this.#tty = options.tty ?? this.#out.isTTY === true;
    const useColour = options.color ?? (this.#tty && !process.env.NO_COLOR);
    this.#paint = useColour ? colour : noColour;
  }

  onInit(vitest: Vitest): void {
    this.#root = vitest.config.root;
  }

  onTestRunStart(specifications: ReadonlyArray<unknown>): void {
    this.#started = performance.now();
    const label = modeLabel(this.#mode);
    if (this.#tty) {
      const n = specifications.length;
      this.#write(
        `\n${this.#paint('bold', 'dpconform')} ${this.#paint('cyan', label)} — ${n} suite${n === 1 ? '' : 's'}\n`,
      );
    } else {
      this.#write(`== pass ${label}\n`);
    }
  }

  onTestCaseReady(test: TestCase): void {
    if (!this.#tty) return;
    const { id } = parseTestName(test.name);
    const area = areaFromFile(test.module.moduleId);
    this.#clearLive();
    this.#write(this.#paint('dim', `  … ${id.padEnd(10)} ${area.padEnd(12)} running`));
    this.#live = true;
  }

  onTestCaseResult(test: TestCase): void {
    const { requirement } = requirementFrom(test, this.#root);
    const area = areaFromFile(test.module.moduleId);
    if (!this.#tty) {
      this.#write(`${plainLine(area, requirement)}\n`);
      return;
    }
    this.#clearLive();
    const width = this.#out.columns ?? 100;
    const lines = [
      ttyLine(area, requirement, width, this.#paint),
      ...ttyFailureLines(requirement, this.#paint),
    ];
    this.#write(`${lines.join('\n')}\n`);
  }

  onTestRunEnd(
    modules: ReadonlyArray<TestModule>,
    unhandledErrors: ReadonlyArray<SerializedError>,
    reason: TestRunEndReason,
  ): void {
    this.#clearLive();
    const pass = gatherPass(modules, unhandledErrors, reason, {
      mode: this.#mode,
      root: this.#root,
      startedAt: new Date(),
      durationMs: performance.now() - this.#started,
    });
    const problems = [
      ...pass.areas.flatMap((a) => a.problems.map((p) => `${a.name}: ${p}`)),
      ...pass.problems.map((p) => `${modeLabel(pass.mode)}: ${p}`),
    ];
    for (const p of problems) {
      this.#write(this.#tty ? `  ${this.#paint('magenta', '!')} ${p}\n` : `PROBLEM ${oneLine(p)}\n`);
    }
    const summary = summaryLine(pass);
    this.#write(
      this.#tty
        ? `${this.#paint(pass.verdict === 'conformant' ? 'green' : pass.verdict === 'skipped' ? 'yellow' : 'red', summary)}\n`
        : `== ${summary}\n`,
    );
  }

  #clearLive(): void {
    if (this.#live) this.#write('\r\x1b[2K');
    this.#live = false;
  }

  #write(text: string): void {
    this.#out.write(text);
  }
}

function oneLine(text: string): string {
  return text.replace(/\s*\n\s*/g, ' ').trim();
}

function firstLines(text: string, n: number): string[] {
  const lines = text.split('\n');
  return lines.length > n ? [...lines.slice(0, n), '…'] : lines;
}
