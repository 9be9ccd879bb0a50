/**
 * Reading `iptables-save` output: which chains exist in which table and which rules jump where.
 * Enough to find stale chains, missing jump rules and everything to remove at cleanup.
 */

/** One rule as iptables-save printed it. */
export interface SavedRule {
  chain: string;
  /** Everything after `-A <chain> `, ready to be replayed as `-D <chain> <spec>`. */
  spec: string;
  /** Target of `-j` or `-g`, if any. */
  target?: string;
  /** Text of `--comment`, unquoted, if any. */
  comment?: string;
}

/** One table of an iptables-save dump. */
export interface SavedTable {
  name: string;
  /** Chain name -> policy (`ACCEPT`, `DROP` for built-ins, `-` for user chains). */
  chains: Map<string, string>;
  rules: SavedRule[];
}

/** Splits a rule into words, honouring iptables-save's double quotes and backslash escapes. */
export function splitRuleWords(text: string): string[] {
  const words: string[] = [];
  let current = '';
  let inWord = false;
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i] as string;
    if (quoted) {
      if (ch === '\\' && i + 1 < text.length) {
        current += text[++i];
      } else if (ch === '"') {
        quoted = false;
      } else {
        current += ch;
      }
    } else if (ch === '"') {
      quoted = true;
      inWord = true;
    } else if (ch === ' ' || ch === '\t') {
      if (inWord) words.push(current);
      current = '';
      inWord = false;
    } else {
      current += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(current);
  return words;
}

function parseRule(chain: string, spec: string): SavedRule {
  const words = splitRuleWords(spec);
  const rule: SavedRule = { chain, spec };
  for (let i = 0; i < words.length - 1; i++) {
    const word = words[i];
    if (word === '-j' || word === '-g' || word === '--jump' || word === '--goto') rule.target = words[i + 1];
    else if (word === '--comment') rule.comment = words[i + 1];
  }
  return rule;
}

/** Parses iptables-save output (any number of tables) into tables by name. */
export function parseIptablesSave(text: string): Map<string, SavedTable> {
  const tables = new Map<string, SavedTable>();
  let table: SavedTable | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('*')) {
      const name = line.slice(1);
      table = tables.get(name) ?? { name, chains: new Map(), rules: [] };
      tables.set(name, table);
    } else if (line === 'COMMIT') {
      table = undefined;
    } else if (table && line.startsWith(':')) {
      const [name, policy] = line.slice(1).split(/\s+/);
      if (name) table.chains.set(name, policy ?? '-');
    } else if (table && line.startsWith('-A ')) {
      const rest = line.slice(3);
      const space = rest.indexOf(' ');
      const chain = space < 0 ? rest : rest.slice(0, space);
      const spec = space < 0 ? '' : rest.slice(space + 1);
      table.rules.push(parseRule(chain, spec));
    }
  }
  return tables;
}

/** An empty table, for a node where iptables-save printed nothing for it. */
export function emptyTable(name: string): SavedTable {
  return { name, chains: new Map(), rules: [] };
}
