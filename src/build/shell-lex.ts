/**
 * Word splitting and variable expansion as the Dockerfile frontend does it (a small shell lexer, not a shell):
 * single quotes are literal, double quotes keep spaces and allow `$VAR`, the escape character (`\` or the
 * one the `escape` directive chose) takes the next character literally. Expansions: `$VAR`, `${VAR}`,
 * `${VAR:-word}`, `${VAR-word}`, `${VAR:+word}`, `${VAR+word}`, `${VAR:?message}`, `${VAR?message}`,
 * `${VAR#pat}`, `${VAR##pat}`, `${VAR%pat}`, `${VAR%%pat}` (patterns are globs with `*` and `?`).
 */
import { invalidArgument } from '../errors';

/** A variable's value, or undefined when it is not set. */
export type Lookup = (name: string) => string | undefined;

export function lookupFrom(env: Map<string, string> | Record<string, string>): Lookup {
  if (env instanceof Map) return (n) => env.get(n);
  return (n) => (Object.prototype.hasOwnProperty.call(env, n) ? env[n] : undefined);
}

/** Split on unquoted whitespace; quotes and escapes stay in the words (expandWord removes them). */
export function splitRawWords(s: string, escape = '\\'): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quote) {
      cur += c;
      if (c === escape && quote === '"' && i + 1 < s.length) cur += s[++i];
      else if (c === quote) quote = '';
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    cur += c;
    if (c === escape && i + 1 < s.length) cur += s[++i];
    else if (c === '"' || c === "'") quote = c;
  }
  if (quote) throw invalidArgument(`unexpected end of statement while looking for matching ${quote}`);
  if (inWord) words.push(cur);
  return words;
}

class Lexer {
  private i = 0;
  constructor(private readonly s: string, private readonly lookup: Lookup, private readonly escape: string) {}

  /** The whole input, unquoted and expanded. `stop` ends a nested word (`}` inside `${…:-word}`). */
  word(stop?: string): string {
    let out = '';
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (stop !== undefined && c === stop) return out;
      if (c === "'") {
        const end = s.indexOf("'", this.i + 1);
        if (end < 0) throw invalidArgument('unexpected end of statement while looking for matching \'');
        out += s.slice(this.i + 1, end);
        this.i = end + 1;
      } else if (c === '"') {
        this.i++;
        out += this.doubleQuoted();
      } else if (c === this.escape) {
        this.i++;
        if (this.i < s.length) out += s[this.i++];
      } else if (c === '$') {
        out += this.dollar();
      } else {
        out += c;
        this.i++;
      }
    }
    return out;
  }

  private doubleQuoted(): string {
    let out = '';
    const s = this.s;
    while (this.i < s.length) {
      const c = s[this.i];
      if (c === '"') {
        this.i++;
        return out;
      }
      if (c === this.escape && this.i + 1 < s.length) {
        const n = s[this.i + 1];
        if (n === '"' || n === '$' || n === this.escape) {
          out += n;
          this.i += 2;
          continue;
        }
        out += c;
        this.i++;
        continue;
      }
      if (c === '$') {
        out += this.dollar();
        continue;
      }
      out += c;
      this.i++;
    }
    throw invalidArgument('unexpected end of statement while looking for matching "');
  }

  private name(): string {
    const m = /^[A-Za-z_][A-Za-z0-9_]*|^[0-9*#$?@!-]/.exec(this.s.slice(this.i));
    if (!m) return '';
    this.i += m[0].length;
    return m[0];
  }

  private dollar(): string {
    this.i++; // $
    const s = this.s;
    if (s[this.i] !== '{') {
      const name = this.name();
      if (!name) return '$';
      return this.lookup(name) ?? '';
    }
    this.i++; // {
    const name = this.name();
    if (!name) throw invalidArgument(`missing ':' in substitution`);
    if (s[this.i] === '}') {
      this.i++;
      return this.lookup(name) ?? '';
    }
    let op = s[this.i++];
    if (op === ':') op += s[this.i++] ?? '';
    if (op === '#' && s[this.i] === '#') op += s[this.i++];
    if (op === '%' && s[this.i] === '%') op += s[this.i++];
    const arg = this.word('}');
    if (s[this.i] !== '}') throw invalidArgument(`syntax error: missing '}'`);
    this.i++;
    const value = this.lookup(name);
    switch (op) {
      case ':-': return value ? value : arg;
      case '-': return value !== undefined ? value : arg;
      case ':+': return value ? arg : '';
      case '+': return value !== undefined ? arg : '';
      case ':?':
      case '?':
        if (op === ':?' ? !value : value === undefined) throw invalidArgument(`${name}: ${arg || 'is not allowed to be unset'}`);
        return value ?? '';
      case '#': case '##': return trimPrefix(value ?? '', arg, op === '##');
      case '%': case '%%': return trimSuffix(value ?? '', arg, op === '%%');
      default: throw invalidArgument(`unsupported modifier (${op}) in substitution`);
    }
  }
}

function globRegExp(pattern: string): string {
  return pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
}

function trimPrefix(value: string, pattern: string, longest: boolean): string {
  const re = new RegExp(`^${globRegExp(pattern)}$`);
  const lens: number[] = [];
  for (let n = 0; n <= value.length; n++) if (re.test(value.slice(0, n))) lens.push(n);
  if (!lens.length) return value;
  return value.slice(longest ? lens[lens.length - 1] : lens[0]);
}

function trimSuffix(value: string, pattern: string, longest: boolean): string {
  const re = new RegExp(`^${globRegExp(pattern)}$`);
  const starts: number[] = [];
  for (let n = value.length; n >= 0; n--) if (re.test(value.slice(n))) starts.push(n);
  if (!starts.length) return value;
  return value.slice(0, longest ? starts[starts.length - 1] : starts[0]);
}

/** One word: quotes removed, escapes applied, variables expanded. */
export function expandWord(word: string, lookup: Lookup, escape = '\\'): string {
  return new Lexer(word, lookup, escape).word();
}

/** A shell-form argument string → expanded words (split on unquoted whitespace first). */
export function expandWords(s: string, lookup: Lookup, escape = '\\'): string[] {
  return splitRawWords(s, escape).map((w) => expandWord(w, lookup, escape));
}
