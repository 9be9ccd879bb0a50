/**
 * Reading and writing a node's iptables rule set: one iptables-save to see it, one
 * iptables-restore per table to change it.
 */
import type { Place } from '../../node/place.ts';
import { CommandError } from '../../sys/exec.ts';
import { parseIptablesSave, type SavedTable } from './save-parse.ts';

/** A restore that 10,000 services produce finishes in seconds; leave generous room. */
const RESTORE_TIMEOUT_MS = 120_000;

/** Every table of the place's rule set, as iptables-save prints it now. */
export async function readTables(place: Place): Promise<Map<string, SavedTable>> {
  const r = await place.exec(['iptables-save'], { timeoutMs: RESTORE_TIMEOUT_MS });
  return parseIptablesSave(r.stdout);
}

/**
 * Pairs iptables-restore's complaint with the input line it is about (its first line is only a
 * version banner), so the failure can be read without the input at hand.
 */
export function explainRestoreError(stderr: string, input: string): string | undefined {
  const complaint = stderr.split('\n').find((l) => /line \d+/.test(l));
  const m = complaint ? /line (\d+)/.exec(complaint) : null;
  if (!complaint || !m) return undefined;
  const line = input.split('\n')[Number(m[1]) - 1];
  return line === undefined ? complaint.trim() : `${complaint.trim()} [input: ${line}]`;
}

/** How to run one restore. */
export interface RestoreOptions {
  /**
   * nf_tables only, and only when every built-in chain the input inserts into exists: makes
   * iptables-nft load the whole table up front. Without it, --noflush keeps the chains it will
   * need in a sorted list that it searches linearly, which makes 10,000 services take minutes.
   * A chain-less `-S` is the read-only command that triggers the full load.
   */
  primeCache?: boolean;
}

/** Adds the cache-priming line right after the table header. */
export function withPrimedCache(input: string): string {
  const eol = input.indexOf('\n');
  return eol < 0 ? input : `${input.slice(0, eol + 1)}-S\n${input.slice(eol + 1)}`;
}

/**
 * Applies restore input without touching anything it does not name (`--noflush`), waiting for
 * the xtables lock when the legacy backend holds it.
 */
export async function restoreTables(place: Place, text: string, opts: RestoreOptions = {}): Promise<void> {
  const input = opts.primeCache ? withPrimedCache(text) : text;
  try {
    await place.exec(['iptables-restore', '--noflush', '-w', '5'], { input, timeoutMs: RESTORE_TIMEOUT_MS });
  } catch (err) {
    if (!(err instanceof CommandError)) throw err;
    const where = explainRestoreError(err.stderr, input);
    throw new CommandError({
      argv: err.argv,
      exitCode: err.exitCode,
      stdout: err.stdout,
      stderr: where ? `${where}\n${err.stderr}` : err.stderr,
      timedOut: err.timedOut,
      aborted: err.aborted,
      cause: err,
    });
  }
}
