/**
 * Teardown on Ctrl-C, SIGTERM and SIGHUP: whatever a process builds (a cluster, the suites'
 * runner, a report being written) registers how to undo it here, and an interrupted process
 * undoes it all, newest first, before it exits. A second signal stops waiting and says what is
 * left and how to finish. The handlers exist only while something is registered, so a process
 * with nothing to undo keeps the default behaviour.
 */

/** Something to undo when the process is interrupted. */
export interface Teardown {
  /** What it undoes, for messages: `run ab12cd`; empty for work that only wants the interrupt handled here. */
  label: string;
  /** Undoes it; awaited before the process exits. */
  run(signal: NodeJS.Signals): Promise<void>;
  /** What would be left if the process stopped now, and the command that removes it. */
  left?(): string;
  /**
   * Undoes it at once when a second signal stops waiting: quick, synchronous work only (files
   * of this process's own), so that nothing a `down` cannot find is left.
   */
  now?(): void;
}

/** Work stopped because the process was interrupted; the teardown is under way. */
export class Interrupted extends Error {
  readonly signal: NodeJS.Signals;
  constructor(signal: NodeJS.Signals) {
    super(`interrupted by ${signal}`);
    this.name = 'Interrupted';
    this.signal = signal;
  }
}

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;
/** The shell's convention: 128 plus the signal number. */
const EXIT_CODES: Record<(typeof SIGNALS)[number], number> = { SIGHUP: 129, SIGINT: 130, SIGTERM: 143 };

const pending: Teardown[] = [];
let caught: NodeJS.Signals | undefined;

function say(line: string): void {
  process.stderr.write(`${line}\n`);
}

function exitCode(signal: NodeJS.Signals): number {
  return EXIT_CODES[signal as keyof typeof EXIT_CODES] ?? 130;
}

function describe(list: readonly Teardown[]): string {
  const labels = list.map((t) => t.label).filter((l) => l !== '');
  return labels.length > 0 ? `tearing down ${labels.join(', ')}` : 'nothing was built yet';
}

async function onSignal(signal: NodeJS.Signals): Promise<void> {
  if (caught) {
    // The user will not wait: say exactly what is left, then go.
    say(`\n${signal} again: stopped before the teardown finished`);
    for (const t of [...pending].reverse()) {
      if (t.now) {
        try {
          t.now();
          continue;
        } catch {}
      }
      if (t.left) say(t.left());
      else if (t.label) say(`${t.label} may be partly left behind`);
    }
    process.exit(exitCode(signal));
  }
  caught = signal;
  // The work this cuts short fails on its way out (Interrupted, commands killed with it): the
  // teardown, not those errors, decides when the process ends.
  process.on('uncaughtException', ignore);
  process.on('unhandledRejection', ignore);
  const again = signal === 'SIGINT' ? 'Ctrl-C again' : 'a second signal';
  say(`\n${signal}: interrupted; ${describe([...pending].reverse())} (${again} stops waiting)`);
  // Newest first, and whatever registers while we are at it too.
  let failed = false;
  for (let t = pending.at(-1); t; t = pending.at(-1)) {
    try {
      await t.run(signal);
    } catch (err) {
      failed = true;
      say(
        `teardown of ${t.label} failed: ${err instanceof Error ? err.message.split('\n')[0] : String(err)}`,
      );
      if (t.left) say(t.left());
    }
    const i = pending.indexOf(t);
    if (i >= 0) pending.splice(i, 1);
  }
  say(failed ? `${signal}: the teardown did not finish (see above)` : `${signal}: torn down`);
  process.exit(exitCode(signal));
}

const handler = (signal: NodeJS.Signals) => void onSignal(signal);
const ignore = () => {};

/** Registers a teardown to run if the process is interrupted; returns the function that unregisters it. */
export function onInterrupt(teardown: Teardown): () => void {
  if (pending.length === 0) for (const s of SIGNALS) process.on(s, handler);
  pending.push(teardown);
  return () => {
    const i = pending.indexOf(teardown);
    if (i >= 0) pending.splice(i, 1);
    if (pending.length === 0 && !caught) for (const s of SIGNALS) process.off(s, handler);
  };
}

/** The signal that interrupted this process, once one has. */
export function interruptedBy(): NodeJS.Signals | undefined {
  return caught;
}

/** Throws {@link Interrupted} once the process has been interrupted: long work checks it between steps. */
export function throwIfInterrupted(): void {
  if (caught) throw new Interrupted(caught);
}
