/**
 * The Dockerfile parser: text → instruction nodes. Handles the parser directives at the top (`# escape=`,
 * `# syntax=`, `# check=`), the escape character (`\` or `` ` ``), line continuations (comments and empty
 * lines between continued lines are dropped), leading `--flag=value` tokens, JSON vs shell forms, heredocs
 * for RUN/COPY/ADD (`<<EOF`, `<<-EOF`, quoted delimiters) and ONBUILD's nested instruction. Errors name
 * the line: `dockerfile parse error on line 3: unknown instruction: FORM`.
 */
import { invalidArgument } from '../errors';

export const INSTRUCTIONS = [
  'from', 'run', 'cmd', 'label', 'maintainer', 'expose', 'env', 'add', 'copy', 'entrypoint', 'volume', 'user',
  'workdir', 'arg', 'onbuild', 'stopsignal', 'healthcheck', 'shell',
] as const;

const HEREDOC_INSTRUCTIONS = new Set(['run', 'copy', 'add']);

export interface Heredoc {
  /** the delimiter word (`EOF`) */
  name: string;
  /** body lines joined with `\n`, a final newline included; leading tabs removed for `<<-` */
  content: string;
  /** false when the delimiter was quoted: no variable expansion */
  expand: boolean;
  /** `<<-` */
  chomp: boolean;
  /** the body and the terminator line exactly as written (a shell given the command line reads them again) */
  raw: string;
}

export interface DockerfileNode {
  /** lower-case keyword */
  cmd: string;
  /** the keyword as written */
  keyword: string;
  /** the instruction with continuations joined, as `Step n/m :` and history show it */
  original: string;
  /** leading `--name=value` / `--name` tokens, unquoted */
  flags: string[];
  /** what follows the keyword and the flags */
  rest: string;
  /** set when `rest` is a JSON array of strings */
  json?: string[];
  heredocs: Heredoc[];
  /** 1-based first and last line */
  line: number;
  endLine: number;
  /** ONBUILD's trigger */
  inner?: DockerfileNode;
}

export interface ParsedDockerfile {
  escape: string;
  directives: Record<string, string>;
  nodes: DockerfileNode[];
  warnings: string[];
}

export function parseError(line: number, message: string): Error {
  return invalidArgument(`dockerfile parse error on line ${line}: ${message}`, 'BERTH_ERR_DOCKERFILE_PARSE');
}

const DIRECTIVE = /^\s*#\s*([a-zA-Z][a-zA-Z0-9_-]*)\s*=\s*(.*?)\s*$/;
const KNOWN_DIRECTIVES = new Set(['escape', 'syntax', 'check']);

function isComment(line: string): boolean {
  return /^\s*#/.test(line);
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\`]/g, '\\$&');
}

/** Leading `--flag[=value]` tokens (a value may be quoted) and the rest of the line. */
export function splitFlags(args: string): { flags: string[]; rest: string } {
  const flags: string[] = [];
  let s = args.replace(/^\s+/, '');
  while (s.startsWith('--')) {
    let i = 0;
    let token = '';
    let quote = '';
    for (; i < s.length; i++) {
      const c = s[i];
      if (quote) {
        if (c === quote) quote = '';
        else token += c;
      } else if (c === '"' || c === "'") quote = c;
      else if (c === ' ' || c === '\t') break;
      else token += c;
    }
    if (token === '--') {
      s = s.slice(i).replace(/^\s+/, '');
      break;
    }
    flags.push(token);
    s = s.slice(i).replace(/^\s+/, '');
  }
  return { flags, rest: s };
}

/** A JSON array of strings, or undefined when `rest` is not one (then it is shell form). */
export function maybeJson(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // shell form after all
  }
  return undefined;
}

interface HeredocMarker {
  name: string;
  expand: boolean;
  chomp: boolean;
}

/** `<<EOF`, `<<-EOF`, `<<"EOF"`, `<<'EOF'` words outside quotes, in order. */
function heredocMarkers(rest: string): HeredocMarker[] {
  const out: HeredocMarker[] = [];
  let quote = '';
  for (let i = 0; i < rest.length; i++) {
    const c = rest[i];
    if (quote) {
      if (c === quote) quote = '';
      continue;
    }
    if (c === '"' || c === "'") { quote = c; continue; }
    if (c !== '<' || rest[i + 1] !== '<' || rest[i + 2] === '<' || (i > 0 && rest[i - 1] === '<')) continue;
    const m = /^<<(-?)(["']?)([A-Za-z0-9_.-]+)\2/.exec(rest.slice(i));
    if (!m) continue;
    out.push({ name: m[3], expand: m[2] === '', chomp: m[1] === '-' });
    i += m[0].length - 1;
  }
  return out;
}

class LineReader {
  i = 0;
  constructor(readonly lines: string[]) {}
  get done(): boolean { return this.i >= this.lines.length; }
}

export function parseDockerfile(text: string): ParsedDockerfile {
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const r = new LineReader(lines);
  const directives: Record<string, string> = {};
  const warnings: string[] = [];
  while (!r.done) {
    const m = DIRECTIVE.exec(lines[r.i]);
    if (!m || !KNOWN_DIRECTIVES.has(m[1].toLowerCase())) break;
    const key = m[1].toLowerCase();
    if (key in directives) throw parseError(r.i + 1, `only one ${key} parser directive can be used`);
    directives[key] = m[2];
    r.i++;
  }
  const escape = directives.escape ?? '\\';
  if (escape !== '\\' && escape !== '`') throw parseError(1, `invalid escape token '${escape}' does not match \` or \\`);
  const continuation = new RegExp(`${escapeRegExp(escape)}[ \\t]*$`);

  const nodes: DockerfileNode[] = [];
  for (; !r.done; r.i++) {
    const first = lines[r.i];
    if (first.trim() === '' || isComment(first)) continue;
    const line = r.i + 1;
    let joined = '';
    let text = first.replace(/^\s+/, '');
    for (;;) {
      const cont = continuation.test(text);
      joined += cont ? text.replace(continuation, '') : text;
      if (!cont) break;
      let next = r.i + 1;
      while (next < lines.length && (isComment(lines[next]) || lines[next].trim() === '')) {
        if (lines[next].trim() === '') warnings.push(`[WARNING]: Empty continuation line found in: ${joined.trim()}`);
        next++;
      }
      if (next >= lines.length) { r.i = lines.length - 1; break; }
      r.i = next;
      text = lines[next];
    }
    const node = parseNode(joined.trim(), line, r.i + 1);
    if (node.heredocs.length === 0 && HEREDOC_INSTRUCTIONS.has(node.cmd) && !node.json) readHeredocs(node, r);
    nodes.push(node);
  }
  return { escape, directives, nodes, warnings: [...new Set(warnings)] };
}

function parseNode(joined: string, line: number, endLine: number, nested = false): DockerfileNode {
  const m = /^(\S+)\s*([\s\S]*)$/.exec(joined)!;
  const keyword = m[1];
  const cmd = keyword.toLowerCase();
  if (!(INSTRUCTIONS as readonly string[]).includes(cmd)) throw parseError(line, `unknown instruction: ${keyword}`);
  const node: DockerfileNode = { cmd, keyword, original: joined, flags: [], rest: m[2], heredocs: [], line, endLine };
  if (cmd === 'onbuild') {
    if (nested) throw parseError(line, "ONBUILD ONBUILD isn't allowed");
    if (!node.rest.trim()) throw parseError(line, 'ONBUILD requires at least one argument');
    node.inner = parseNode(node.rest.trim(), line, endLine, true);
    if (node.inner.cmd === 'from' || node.inner.cmd === 'maintainer') {
      throw parseError(line, `${node.inner.keyword.toUpperCase()} isn't allowed as an ONBUILD trigger`);
    }
    return node;
  }
  const { flags, rest } = splitFlags(node.rest);
  node.flags = flags;
  node.rest = rest;
  node.json = maybeJson(rest);
  return node;
}

/** Reads the bodies of the heredocs `node` opens, from the lines after it. */
function readHeredocs(node: DockerfileNode, r: LineReader): void {
  for (const marker of heredocMarkers(node.rest)) {
    const body: string[] = [];
    const raw: string[] = [];
    let found = false;
    while (r.i + 1 < r.lines.length) {
      r.i++;
      const l = r.lines[r.i];
      raw.push(l);
      const candidate = marker.chomp ? l.replace(/^\t+/, '') : l;
      if (candidate === marker.name) { found = true; break; }
      body.push(candidate);
    }
    if (!found) throw parseError(node.line, `unterminated heredoc ${marker.name}`);
    node.heredocs.push({
      name: marker.name, expand: marker.expand, chomp: marker.chomp,
      content: body.length ? body.join('\n') + '\n' : '', raw: raw.join('\n'),
    });
    node.endLine = r.i + 1;
  }
}

/** `--name=value` flags of a node as a map (`--link` alone maps to 'true'); unknown names are refused. */
export function nodeFlags(node: DockerfileNode, allowed: readonly string[]): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of node.flags) {
    const eq = f.indexOf('=');
    const name = eq < 0 ? f.slice(2) : f.slice(2, eq);
    const value = eq < 0 ? 'true' : f.slice(eq + 1);
    if (!allowed.includes(name)) throw parseError(node.line, `unknown flag: ${name}`);
    out.set(name, value);
  }
  return out;
}
