/**
 * Building `iptables-restore` input: one table section with its chain declarations, rules and
 * chain deletions, in the order the restore needs them.
 */

/** The tables this dataplane writes to. */
export type TableName = 'nat' | 'filter';

const PLAIN_WORD = /^[A-Za-z0-9_@%+=:,./!-]+$/;

/**
 * Quotes one argument the way iptables-restore reads it back: words with spaces (comments)
 * go in double quotes, with `"` and `\` escaped.
 */
export function restoreWord(word: string): string {
  if (PLAIN_WORD.test(word)) return word;
  return `"${word.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/** Renders one rule line from its argv-style words. */
export function restoreLine(words: readonly string[]): string {
  return words.map(restoreWord).join(' ');
}

/** Decides, per declared chain, whether the node already holds exactly these rules. */
export type UnchangedTest = (chain: string, rules: readonly string[]) => boolean;

/**
 * One table's worth of restore input. Declaring a chain under `--noflush` flushes it (or creates
 * it), so a declared chain ends up holding exactly the rules appended here.
 */
export class TableSection {
  readonly table: TableName;
  /** Chain -> its rule lines (`-A ...`), in declaration order. */
  private readonly chainRules = new Map<string, string[]>();
  private readonly unhooks: string[] = [];
  private readonly heads: string[] = [];
  private readonly deletions: string[] = [];

  constructor(table: TableName) {
    this.table = table;
  }

  /** Declares (creates or flushes) a chain; declaring twice is harmless. */
  chain(name: string): void {
    if (!this.chainRules.has(name)) this.chainRules.set(name, []);
  }

  /** True when the chain has been declared in this section. */
  has(name: string): boolean {
    return this.chainRules.has(name);
  }

  /** Chains declared so far, in declaration order. */
  chains(): string[] {
    return [...this.chainRules.keys()];
  }

  /** The rule lines of a declared chain. */
  rules(name: string): readonly string[] {
    return this.chainRules.get(name) ?? [];
  }

  /** Appends a rule to a chain (declaring it if needed). */
  append(chain: string, words: readonly string[]): void {
    this.chain(chain);
    this.chainRules.get(chain)?.push(`-A ${chain} ${restoreLine(words)}`);
  }

  /** Inserts a rule at the top of a (built-in) chain; emitted before every append. */
  insertFirst(chain: string, words: readonly string[]): void {
    this.heads.push(`-I ${chain} 1 ${restoreLine(words)}`);
  }

  /** Deletes one rule, given as iptables-save printed it after `-A <chain> `. */
  deleteRule(chain: string, spec: string): void {
    this.unhooks.push(`-D ${chain} ${spec}`);
  }

  /** Flushes and deletes a chain; deletions run after every other line of the section. */
  remove(name: string): void {
    this.chain(name);
    this.deletions.push(`-X ${name}`);
  }

  /** Number of rules appended so far. */
  ruleCount(): number {
    let n = 0;
    for (const rules of this.chainRules.values()) n += rules.length;
    return n;
  }

  /**
   * The section as restore input, ending in COMMIT. Chains for which `unchanged` answers true
   * are neither declared nor refilled, so the restore leaves them (and their counters) alone.
   */
  text(unchanged?: UnchangedTest): string {
    const removed = new Set(this.deletions.map((d) => d.slice(3)));
    const written: [string, string[]][] = [];
    for (const [name, rules] of this.chainRules) {
      if (unchanged && !removed.has(name) && unchanged(name, rules)) continue;
      written.push([name, rules]);
    }
    const lines = [`*${this.table}`];
    for (const [name] of written) lines.push(`:${name} - [0:0]`);
    lines.push(...this.unhooks, ...this.heads);
    for (const [, rules] of written) lines.push(...rules);
    lines.push(...this.deletions, 'COMMIT', '');
    return lines.join('\n');
  }
}
