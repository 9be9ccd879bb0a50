/**
 * Calico's selector language (`role == 'db' && !has(legacy)`, `all()`, `k in {'a', 'b'}`,
 * `global()`), parsed into a tree and matched against labels. Used by GlobalNetworkPolicy,
 * Calico NetworkPolicy and their rules; Kubernetes objects keep their own LabelSelector.
 */

/** A parsed selector. */
export type CalicoSelector =
  | { op: 'all' }
  | { op: 'global' }
  | { op: 'has'; key: string }
  | { op: 'eq' | 'ne'; key: string; value: string }
  | { op: 'in' | 'notin'; key: string; values: string[] }
  | { op: 'contains' | 'starts' | 'ends'; key: string; value: string }
  | { op: 'not'; arg: CalicoSelector }
  | { op: 'and' | 'or'; args: CalicoSelector[] };

/** A selector that does not parse; `at` is the 0-based offset of the problem. */
export class SelectorError extends Error {
  readonly at: number;
  constructor(message: string, at: number) {
    super(message);
    this.name = 'SelectorError';
    this.at = at;
  }
}

type Token =
  | { t: 'word'; v: string; at: number }
  | { t: 'str'; v: string; at: number }
  | { t: 'sym'; v: string; at: number }
  | { t: 'end'; at: number };

const SYMBOLS = ['&&', '||', '==', '!=', '!', '(', ')', '{', '}', ','];
const WORD = /[A-Za-z0-9_./-]/;

function tokenize(text: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < text.length) {
    const ch = text[i]!;
    if (/\s/.test(ch)) {
      i++;
      continue;
    }
    if (ch === "'" || ch === '"') {
      const close = text.indexOf(ch, i + 1);
      if (close < 0) throw new SelectorError('unterminated string', i);
      out.push({ t: 'str', v: text.slice(i + 1, close), at: i });
      i = close + 1;
      continue;
    }
    const sym = SYMBOLS.find((s) => text.startsWith(s, i));
    if (sym) {
      out.push({ t: 'sym', v: sym, at: i });
      i += sym.length;
      continue;
    }
    if (WORD.test(ch)) {
      let j = i;
      while (j < text.length && WORD.test(text[j]!)) j++;
      out.push({ t: 'word', v: text.slice(i, j), at: i });
      i = j;
      continue;
    }
    throw new SelectorError(`unexpected character ${JSON.stringify(ch)}`, i);
  }
  out.push({ t: 'end', at: text.length });
  return out;
}

class Parser {
  readonly #tokens: Token[];
  #pos = 0;

  constructor(tokens: Token[]) {
    this.#tokens = tokens;
  }

  #peek(offset = 0): Token {
    return this.#tokens[Math.min(this.#pos + offset, this.#tokens.length - 1)]!;
  }

  #next(): Token {
    const t = this.#peek();
    if (t.t !== 'end') this.#pos++;
    return t;
  }

  #isSym(v: string, offset = 0): boolean {
    const t = this.#peek(offset);
    return t.t === 'sym' && t.v === v;
  }

  #expectSym(v: string): void {
    const t = this.#next();
    if (t.t !== 'sym' || t.v !== v) throw new SelectorError(`expected "${v}"`, t.at);
  }

  #string(): string {
    const t = this.#next();
    if (t.t !== 'str') throw new SelectorError('expected a quoted string', t.at);
    return t.v;
  }

  parse(): CalicoSelector {
    const sel = this.#or();
    const t = this.#peek();
    if (t.t !== 'end') throw new SelectorError('unexpected text after the selector', t.at);
    return sel;
  }

  #or(): CalicoSelector {
    const args = [this.#and()];
    while (this.#isSym('||')) {
      this.#next();
      args.push(this.#and());
    }
    return args.length === 1 ? args[0]! : { op: 'or', args };
  }

  #and(): CalicoSelector {
    const args = [this.#unary()];
    while (this.#isSym('&&')) {
      this.#next();
      args.push(this.#unary());
    }
    return args.length === 1 ? args[0]! : { op: 'and', args };
  }

  #unary(): CalicoSelector {
    if (this.#isSym('!')) {
      this.#next();
      return { op: 'not', arg: this.#unary() };
    }
    if (this.#isSym('(')) {
      this.#next();
      const inner = this.#or();
      this.#expectSym(')');
      return inner;
    }
    return this.#primary();
  }

  #set(): string[] {
    this.#expectSym('{');
    const values: string[] = [];
    if (this.#isSym('}')) {
      this.#next();
      return values;
    }
    values.push(this.#string());
    while (this.#isSym(',')) {
      this.#next();
      values.push(this.#string());
    }
    this.#expectSym('}');
    return values;
  }

  #primary(): CalicoSelector {
    const t = this.#next();
    if (t.t !== 'word') throw new SelectorError('expected a label key, all(), has() or global()', t.at);
    if ((t.v === 'all' || t.v === 'global') && this.#isSym('(')) {
      this.#next();
      this.#expectSym(')');
      return { op: t.v };
    }
    if (t.v === 'has' && this.#isSym('(')) {
      this.#next();
      const key = this.#next();
      if (key.t !== 'word') throw new SelectorError('expected a label key inside has()', key.at);
      this.#expectSym(')');
      return { op: 'has', key: key.v };
    }
    const key = t.v;
    if (this.#isSym('==') || this.#isSym('!=')) {
      const op = this.#next() as { v: string };
      return { op: op.v === '==' ? 'eq' : 'ne', key, value: this.#string() };
    }
    const word = this.#peek();
    if (word.t === 'word') {
      if (word.v === 'in') {
        this.#next();
        return { op: 'in', key, values: this.#set() };
      }
      if (word.v === 'not' && this.#peek(1).t === 'word' && (this.#peek(1) as { v: string }).v === 'in') {
        this.#next();
        this.#next();
        return { op: 'notin', key, values: this.#set() };
      }
      if (word.v === 'contains') {
        this.#next();
        return { op: 'contains', key, value: this.#string() };
      }
      const second = this.#peek(1);
      if ((word.v === 'starts' || word.v === 'ends') && second.t === 'word' && second.v === 'with') {
        this.#next();
        this.#next();
        return { op: word.v, key, value: this.#string() };
      }
    }
    throw new SelectorError(
      `expected ==, !=, in, not in, contains, starts with or ends with after ${key}`,
      word.at,
    );
  }
}

/** Parses a selector; the empty string is `all()`. Throws {@link SelectorError}. */
export function parseCalicoSelector(text: string): CalicoSelector {
  if (text.trim() === '') return { op: 'all' };
  return new Parser(tokenize(text)).parse();
}

/** True when the selector uses `global()` somewhere (only namespaceSelector may). */
export function usesGlobal(sel: CalicoSelector): boolean {
  switch (sel.op) {
    case 'global':
      return true;
    case 'not':
      return usesGlobal(sel.arg);
    case 'and':
    case 'or':
      return sel.args.some(usesGlobal);
    default:
      return false;
  }
}

/**
 * True when labels satisfy the selector. `global` says whether the thing matched is outside
 * every namespace (a host endpoint, when matching a namespaceSelector): only `global()` and
 * negations select it then.
 */
export function calicoSelects(
  sel: CalicoSelector,
  labels: Readonly<Record<string, string>>,
  global = false,
): boolean {
  const has = (k: string) => Object.hasOwn(labels, k);
  switch (sel.op) {
    case 'all':
      return !global;
    case 'global':
      return global;
    case 'has':
      return has(sel.key);
    case 'eq':
      return labels[sel.key] === sel.value;
    case 'ne':
      return labels[sel.key] !== sel.value;
    case 'in':
      return has(sel.key) && sel.values.includes(labels[sel.key]!);
    case 'notin':
      return !has(sel.key) || !sel.values.includes(labels[sel.key]!);
    case 'contains':
      return has(sel.key) && labels[sel.key]!.includes(sel.value);
    case 'starts':
      return has(sel.key) && labels[sel.key]!.startsWith(sel.value);
    case 'ends':
      return has(sel.key) && labels[sel.key]!.endsWith(sel.value);
    case 'not':
      return !calicoSelects(sel.arg, labels, global);
    case 'and':
      return sel.args.every((a) => calicoSelects(a, labels, global));
    case 'or':
      return sel.args.some((a) => calicoSelects(a, labels, global));
  }
}
