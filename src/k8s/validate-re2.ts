/**
 * Felix reads its interface patterns (`bpfDataIfacePattern`, ...) as Go regular expressions
 * (RE2 syntax). This translates one into a JavaScript RegExp that matches exactly the same
 * strings, or refuses it with the reason: constructs that JavaScript spells differently are
 * rewritten (`(?P<n>...)`, `(?i)`, `\A`, `\z`, `\Q...\E`, POSIX classes, octal and `\x{..}`
 * escapes), constructs whose JavaScript meaning differs are pinned to RE2's (`.`, `\s`, a
 * leading `]` in a class), and what RE2 rejects or JavaScript cannot express the same way
 * (lookaround, backreferences, Unicode classes, `\C`, the `U` flag) is refused, so that a
 * pattern that passes validation can never fail to compile, or mean something else, later.
 */

/** RE2's flags that JavaScript has too (as a leading flag set or a `(?flags:...)` group). */
const SAME_FLAGS = new Set(['i', 'm', 's']);

/** ASCII POSIX classes, as RE2 defines them, spelled as JavaScript class contents. */
const POSIX: Readonly<Record<string, string>> = {
  alnum: '0-9A-Za-z',
  alpha: 'A-Za-z',
  ascii: '\\x00-\\x7f',
  blank: '\\t ',
  cntrl: '\\x00-\\x1f\\x7f',
  digit: '0-9',
  graph: '!-~',
  lower: 'a-z',
  print: ' -~',
  punct: '!-\\/:-@\\[-`{-~',
  space: '\\t\\n\\v\\f\\r ',
  upper: 'A-Z',
  word: '0-9A-Za-z_',
  xdigit: '0-9A-Fa-f',
};

/** RE2's `\s`: ASCII white space without `\v` (JavaScript's `\s` also takes `\v` and Unicode spaces). */
const RE2_SPACE = '\\t\\n\\f\\r ';

/** Escapes that mean the same single character in both. */
const SAME_CHAR_ESCAPES = new Set(['f', 't', 'n', 'r', 'v']);
/** Escapes of classes and assertions that mean the same in both (ASCII, no `u` flag). */
const SAME_CLASS_ESCAPES = new Set(['d', 'D', 'w', 'W', 'b', 'B']);

/** A pattern RE2 would reject or that JavaScript cannot match the same way. */
export class Re2Error extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'Re2Error';
  }
}

function hex(code: number): string {
  if (code <= 0xff) return `\\x${code.toString(16).padStart(2, '0')}`;
  if (code <= 0xffff) return `\\u${code.toString(16).padStart(4, '0')}`;
  throw new Re2Error(
    `code point \\x{${code.toString(16)}} is beyond what a pattern without the u flag can match`,
  );
}

/** A literal character, escaped for JavaScript when it is special (in or out of a class). */
function literal(ch: string): string {
  return /[\\^$.|?*+()[\]{}/-]/.test(ch) ? `\\${ch}` : ch;
}

/** Reads an escape at `s[i] === '\\'`; returns the JavaScript for it and the index after it. */
function readEscape(s: string, i: number, inClass: boolean): [string, number] {
  const c = s[i + 1];
  if (c === undefined) throw new Re2Error('trailing backslash');
  if (SAME_CHAR_ESCAPES.has(c)) return [`\\${c}`, i + 2];
  if (SAME_CLASS_ESCAPES.has(c)) {
    if (inClass && (c === 'b' || c === 'B'))
      throw new Re2Error(`\\${c} inside a character class is not valid in RE2`);
    return [`\\${c}`, i + 2];
  }
  if (c === 'a') return ['\\x07', i + 2];
  if (c === 's') return [inClass ? RE2_SPACE : `[${RE2_SPACE}]`, i + 2];
  if (c === 'S') {
    if (inClass) throw new Re2Error('\\S inside a character class has no exact JavaScript equivalent');
    return [`[^${RE2_SPACE}]`, i + 2];
  }
  if (c === 'A' || c === 'z') {
    if (inClass) throw new Re2Error(`\\${c} inside a character class is not valid in RE2`);
    return [c === 'A' ? '(?<![\\s\\S])' : '(?![\\s\\S])', i + 2];
  }
  if (c === 'x') {
    if (s[i + 2] === '{') {
      const end = s.indexOf('}', i + 3);
      const digits = end < 0 ? '' : s.slice(i + 3, end);
      if (!/^[0-9A-Fa-f]{1,6}$/.test(digits)) throw new Re2Error('bad \\x{...} escape');
      return [hex(Number.parseInt(digits, 16)), end + 1];
    }
    const digits = s.slice(i + 2, i + 4);
    if (!/^[0-9A-Fa-f]{2}$/.test(digits)) throw new Re2Error('bad \\x escape (want two hex digits)');
    return [hex(Number.parseInt(digits, 16)), i + 4];
  }
  if (/[0-7]/.test(c)) {
    // RE2: a lone non-zero digit would be a backreference, which it does not have; otherwise
    // up to three octal digits.
    const m = /^[0-7]{1,3}/.exec(s.slice(i + 1))![0];
    if (m.length === 1 && c !== '0') throw new Re2Error(`backreference \\${c} is not supported by RE2`);
    return [hex(Number.parseInt(m, 8)), i + 1 + m.length];
  }
  if (c === 'Q') {
    const end = s.indexOf('\\E', i + 2);
    const text = s.slice(i + 2, end < 0 ? s.length : end);
    return [[...text].map(literal).join(''), end < 0 ? s.length : end + 2];
  }
  if (c === 'p' || c === 'P') throw new Re2Error('Unicode classes (\\p, \\P) are not supported here');
  if (c === 'C') throw new Re2Error('\\C (any byte) has no JavaScript equivalent');
  if (/[0-9A-Za-z_]/.test(c)) throw new Re2Error(`\\${c} is not an escape RE2 knows`);
  return [literal(c), i + 2];
}

/** Reads a class at `s[i] === '['`; returns its JavaScript and the index after it. */
function charClass(s: string, i: number): [string, number] {
  let j = i + 1;
  let out = '[';
  if (s[j] === '^') {
    out += '^';
    j++;
  }
  // A `]` right after `[` or `[^` is a literal in RE2; in JavaScript it would end the class.
  if (s[j] === ']') {
    out += '\\]';
    j++;
  }
  for (;;) {
    const c = s[j];
    if (c === undefined) throw new Re2Error('missing closing ]');
    if (c === ']') return [`${out}]`, j + 1];
    if (c === '[' && s[j + 1] === ':') {
      const end = s.indexOf(':]', j + 2);
      const name = end < 0 ? '' : s.slice(j + 2, end);
      if (name.startsWith('^'))
        throw new Re2Error(`negated POSIX class [:${name}:] has no exact JavaScript equivalent here`);
      const body = POSIX[name];
      if (body === undefined) throw new Re2Error(`unknown POSIX class [:${name}:]`);
      out += body;
      j = end + 2;
      continue;
    }
    if (c === '\\') {
      const [js, next] = readEscape(s, j, true);
      out += js;
      j = next;
      continue;
    }
    out += c === '[' || c === '/' ? `\\${c}` : c;
    j++;
  }
}

/** Translates RE2 syntax into JavaScript source and flags; throws {@link Re2Error}. */
export function translateRe2(pattern: string): { source: string; flags: string } {
  let flags = '';
  let i = 0;
  const leading = /^\(\?([A-Za-z]+)\)/.exec(pattern);
  if (leading) {
    for (const f of leading[1]!) {
      if (f === 'U') throw new Re2Error('the U (ungreedy) flag has no JavaScript equivalent');
      if (!SAME_FLAGS.has(f)) throw new Re2Error(`unknown flag ${f}`);
      if (!flags.includes(f)) flags += f;
    }
    i = leading[0].length;
  }
  let dotAll = flags.includes('s');
  let out = '';
  const groups: boolean[] = [];
  while (i < pattern.length) {
    const c = pattern[i]!;
    if (c === '\\') {
      const [js, next] = readEscape(pattern, i, false);
      out += js;
      i = next;
    } else if (c === '[') {
      const [js, next] = charClass(pattern, i);
      out += js;
      i = next;
    } else if (c === '.') {
      // RE2's `.` excludes only \n; JavaScript's also \r and the Unicode line separators.
      out += dotAll ? '[\\s\\S]' : '[^\\n]';
      i++;
    } else if (c === '(') {
      const rest = pattern.slice(i);
      if (rest.startsWith('(?<=') || rest.startsWith('(?<!')) {
        throw new Re2Error('lookaround is not supported by RE2');
      } else if (rest.startsWith('(?P<') || rest.startsWith('(?<')) {
        const m = /^\(\?P?<([^>]*)>/.exec(rest);
        if (!m) throw new Re2Error('unterminated group name');
        if (!/^[A-Za-z_][0-9A-Za-z_]*$/.test(m[1]!)) throw new Re2Error(`bad group name "${m[1]}"`);
        out += `(?<${m[1]}>`;
        groups.push(dotAll);
        i += m[0].length;
      } else if (rest.startsWith('(?')) {
        const m = /^\(\?([A-Za-z-]*)([:)])/.exec(rest);
        if (!m) throw new Re2Error('lookaround and other (?...) groups are not supported by RE2');
        const fl = m[1]!;
        if (m[2] === ')')
          throw new Re2Error('flags can only be set at the start of the pattern or in (?flags:...)');
        for (const f of fl.replace('-', '')) {
          if (f === 'U') throw new Re2Error('the U (ungreedy) flag has no JavaScript equivalent');
          if (!SAME_FLAGS.has(f)) throw new Re2Error(`unknown flag ${f}`);
        }
        groups.push(dotAll);
        const [on = '', off = ''] = fl.split('-');
        if (on.includes('s')) dotAll = true;
        if (off.includes('s')) dotAll = false;
        out += `(?${fl}:`;
        i += m[0].length;
      } else {
        out += '(';
        groups.push(dotAll);
        i++;
      }
    } else if (c === ')') {
      if (groups.length === 0) throw new Re2Error('unexpected )');
      dotAll = groups.pop()!;
      out += ')';
      i++;
    } else if (c === '/') {
      out += '\\/';
      i++;
    } else {
      out += c;
      i++;
    }
  }
  if (groups.length > 0) throw new Re2Error('missing )');
  return { source: out, flags };
}

/**
 * Compiles a Go (RE2) pattern into a RegExp that matches the same strings. Throws with a
 * one-line reason when RE2 would reject it or JavaScript cannot match it the same way.
 */
export function compileRe2(pattern: string): RegExp {
  const { source, flags } = translateRe2(pattern);
  try {
    return new RegExp(source, flags);
  } catch (err) {
    // What remains invalid is invalid in RE2 too (a bad repetition, an empty class, ...).
    throw new Re2Error((err as Error).message.replace(/^Invalid regular expression: \/.*\/[a-z]*: /, ''));
  }
}
