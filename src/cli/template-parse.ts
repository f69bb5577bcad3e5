/**
 * Parser for the subset of Go's text/template that docker's --format flags use: text, actions with pipelines
 * (`{{.A.B | lower}}`, `{{join .List ", "}}`, `{{(index .M "k").X}}`), variables (`$`, `$x := ...`), literals,
 * `if` / `else if` / `with` / `range` (with `$i, $v :=`) blocks, comments and `{{-  -}}` trim markers.
 * Positions are kept as 0-based byte offsets so errors read like Go's ("template: :1:27: ...").
 */

export type Arg =
  | { kind: 'dot'; pos: number }
  | { kind: 'field'; names: string[]; pos: number }
  | { kind: 'var'; name: string; names: string[]; pos: number }
  | { kind: 'ident'; name: string; pos: number }
  | { kind: 'string'; value: string; pos: number }
  | { kind: 'number'; value: number; pos: number }
  | { kind: 'bool'; value: boolean; pos: number }
  | { kind: 'nil'; pos: number }
  | { kind: 'pipe'; pipe: Pipeline; names: string[]; pos: number };

export interface Command {
  args: Arg[];
  pos: number;
}

export interface Pipeline {
  decl: string[];
  /** `=` re-assigns an existing variable; `:=` declares */
  assign: boolean;
  cmds: Command[];
  pos: number;
}

export interface BlockNode {
  kind: 'if' | 'with' | 'range';
  pipe: Pipeline;
  list: Node[];
  elseList?: Node[];
  pos: number;
}

export type Node =
  | { kind: 'text'; text: string }
  | { kind: 'action'; pipe: Pipeline; pos: number }
  | BlockNode
  | { kind: 'break' | 'continue'; pos: number };

export class TemplateParseError extends Error {}

interface Token {
  t: 'field' | 'var' | 'ident' | 'string' | 'number' | 'char' | 'pipe' | 'lparen' | 'rparen' | 'declare' | 'assign' | 'comma' | 'dotfield' | 'eof';
  v: string;
  pos: number;
}

const IDENT_START = /[A-Za-z_]/;
const IDENT_CHAR = /[A-Za-z0-9_]/;

function lexAction(src: string, start: number, end: number, lineOf: (p: number) => number): Token[] {
  const toks: Token[] = [];
  let i = start;
  const fail = (msg: string): never => {
    throw new TemplateParseError(`template: :${lineOf(i)}: ${msg}`);
  };
  while (i < end) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue; }
    const pos = i;
    if (c === '|') { toks.push({ t: 'pipe', v: c, pos }); i++; continue; }
    if (c === '(') { toks.push({ t: 'lparen', v: c, pos }); i++; continue; }
    if (c === ')') { toks.push({ t: 'rparen', v: c, pos }); i++; continue; }
    if (c === ',') { toks.push({ t: 'comma', v: c, pos }); i++; continue; }
    if (c === ':' && src[i + 1] === '=') { toks.push({ t: 'declare', v: ':=', pos }); i += 2; continue; }
    if (c === '=') { toks.push({ t: 'assign', v: '=', pos }); i++; continue; }
    if (c === '"') {
      let j = i + 1;
      let out = '';
      while (j < end && src[j] !== '"') {
        if (src[j] === '\\') {
          const n = src[j + 1];
          const map: Record<string, string> = { n: '\n', t: '\t', r: '\r', '\\': '\\', '"': '"', "'": "'", '0': '\0' };
          if (n === 'u' || n === 'x') {
            const len = n === 'u' ? 4 : 2;
            out += String.fromCharCode(parseInt(src.slice(j + 2, j + 2 + len), 16));
            j += 2 + len;
            continue;
          }
          if (!(n in map)) fail('unknown escape sequence');
          out += map[n];
          j += 2;
          continue;
        }
        out += src[j++];
      }
      if (j >= end) fail('unterminated quoted string');
      toks.push({ t: 'string', v: out, pos });
      i = j + 1;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0 || j >= end) fail('unterminated raw quoted string');
      toks.push({ t: 'string', v: src.slice(i + 1, j), pos });
      i = j + 1;
      continue;
    }
    if (c === "'") {
      const j = src.indexOf("'", i + 1);
      if (j < 0 || j >= end) fail('unterminated character constant');
      toks.push({ t: 'number', v: String(src.codePointAt(i + 1)), pos });
      i = j + 1;
      continue;
    }
    if (/[0-9]/.test(c) || ((c === '-' || c === '+') && /[0-9]/.test(src[i + 1] ?? ''))) {
      const m = /^[+-]?(?:0[xX][0-9a-fA-F]+|[0-9]*\.?[0-9]+(?:[eE][+-]?[0-9]+)?)/.exec(src.slice(i, end));
      const num = m ? m[0] : c;
      toks.push({ t: 'number', v: num, pos });
      i += num.length;
      continue;
    }
    if (c === '.' || c === '$') {
      let j = i + 1;
      while (j < end && IDENT_CHAR.test(src[j])) j++;
      const word = src.slice(i, j);
      const prev = toks[toks.length - 1];
      if (c === '.' && prev && prev.t === 'ident' && prev.pos + prev.v.length === i) fail(`unexpected <${word}> in operand`);
      // `.Field` right after `)` or a variable/field with no space is a chained field access
      const chained = c === '.' && prev && prev.pos + prev.v.length === i && (prev.t === 'rparen' || prev.t === 'var' || prev.t === 'field' || prev.t === 'dotfield');
      toks.push({ t: c === '$' ? 'var' : chained ? 'dotfield' : 'field', v: word, pos });
      i = j;
      continue;
    }
    if (IDENT_START.test(c)) {
      let j = i + 1;
      while (j < end && IDENT_CHAR.test(src[j])) j++;
      toks.push({ t: 'ident', v: src.slice(i, j), pos });
      i = j;
      continue;
    }
    fail(`unexpected "${c}" in command`);
  }
  toks.push({ t: 'eof', v: '', pos: end });
  return toks;
}

class ActionParser {
  private i = 0;
  constructor(private readonly toks: Token[], private readonly fail: (msg: string) => never) {}

  peek(): Token { return this.toks[this.i]; }
  next(): Token { return this.toks[this.i++]; }
  atEnd(): boolean { return this.peek().t === 'eof'; }

  pipeline(allowDecl: boolean, stop: Token['t'] = 'eof'): Pipeline {
    const pos = this.peek().pos;
    const decl: string[] = [];
    let assign = false;
    if (allowDecl && this.peek().t === 'var') {
      const save = this.i;
      const names: string[] = [];
      while (this.peek().t === 'var') {
        names.push(this.next().v);
        if (this.peek().t === 'comma') { this.next(); continue; }
        break;
      }
      const op = this.peek();
      if (op.t === 'declare' || op.t === 'assign') {
        this.next();
        decl.push(...names);
        assign = op.t === 'assign';
      } else {
        this.i = save;
      }
    }
    const cmds: Command[] = [];
    for (;;) {
      cmds.push(this.command(stop));
      if (this.peek().t === 'pipe') { this.next(); continue; }
      break;
    }
    if (this.peek().t !== stop) this.fail(`unexpected ${JSON.stringify(this.peek().v)} in command`);
    return { decl, assign, cmds, pos };
  }

  private command(stop: Token['t']): Command {
    const pos = this.peek().pos;
    const args: Arg[] = [];
    while (this.peek().t !== 'pipe' && this.peek().t !== stop && this.peek().t !== 'eof') {
      args.push(this.operand());
    }
    if (args.length === 0) this.fail('missing value for command');
    return { args, pos };
  }

  private operand(): Arg {
    const tok = this.next();
    let arg: Arg;
    switch (tok.t) {
      case 'field':
        arg = tok.v === '.' ? { kind: 'dot', pos: tok.pos } : { kind: 'field', names: tok.v.slice(1).split('.'), pos: tok.pos };
        break;
      case 'var':
        arg = { kind: 'var', name: tok.v, names: [], pos: tok.pos };
        break;
      case 'string':
        arg = { kind: 'string', value: tok.v, pos: tok.pos };
        break;
      case 'number': {
        const n = Number(tok.v);
        if (Number.isNaN(n)) this.fail(`bad number syntax: "${tok.v}"`);
        arg = { kind: 'number', value: n, pos: tok.pos };
        break;
      }
      case 'ident':
        if (tok.v === 'true' || tok.v === 'false') arg = { kind: 'bool', value: tok.v === 'true', pos: tok.pos };
        else if (tok.v === 'nil') arg = { kind: 'nil', pos: tok.pos };
        else arg = { kind: 'ident', name: tok.v, pos: tok.pos };
        break;
      case 'lparen': {
        const pipe = this.pipeline(true, 'rparen');
        this.next();
        arg = { kind: 'pipe', pipe, names: [], pos: tok.pos };
        break;
      }
      default:
        return this.fail(`unexpected ${JSON.stringify(tok.v)} in operand`);
    }
    while (this.peek().t === 'dotfield') {
      const f = this.next().v.slice(1);
      if (arg.kind === 'var' || arg.kind === 'pipe' || arg.kind === 'field') arg.names.push(f);
      else this.fail(`unexpected . after term`);
    }
    return arg;
  }
}

interface Frame {
  kind: 'root' | 'if' | 'with' | 'range';
  node?: BlockNode;
  list: Node[];
  /** else-if chains close together at one {{end}} */
  chained?: boolean;
}

/** Parse a template into its node tree; throws TemplateParseError with Go-like wording. */
export function parseTemplate(src: string): Node[] {
  const lineOf = (p: number) => src.slice(0, p).split('\n').length;
  const root: Frame = { kind: 'root', list: [] };
  const stack: Frame[] = [root];
  const top = () => stack[stack.length - 1];
  let i = 0;
  let trimNextText = false;
  while (i < src.length) {
    const open = src.indexOf('{{', i);
    let text = open < 0 ? src.slice(i) : src.slice(i, open);
    if (trimNextText) text = text.replace(/^[ \t\r\n]+/, '');
    trimNextText = false;
    if (open < 0) {
      if (text) top().list.push({ kind: 'text', text });
      break;
    }
    let bodyStart = open + 2;
    if (src[bodyStart] === '-' && /[ \t\r\n]/.test(src[bodyStart + 1] ?? '')) {
      text = text.replace(/[ \t\r\n]+$/, '');
      bodyStart++;
    }
    if (text) top().list.push({ kind: 'text', text });
    // comments may contain "}}"-free text only up to */}}
    const afterWs = src.slice(bodyStart).match(/^\s*/)?.[0].length ?? 0;
    if (src.startsWith('/*', bodyStart + afterWs)) {
      const endC = src.indexOf('*/', bodyStart + afterWs + 2);
      if (endC < 0) throw new TemplateParseError(`template: :${lineOf(open)}: unclosed comment`);
      let k = endC + 2;
      if (src.startsWith(' -}}', k)) { trimNextText = true; k += 4; } else if (src.startsWith('}}', k)) k += 2;
      else throw new TemplateParseError(`template: :${lineOf(open)}: comment ends before closing delimiter`);
      i = k;
      continue;
    }
    const close = findClose(src, bodyStart);
    if (close < 0) throw new TemplateParseError(`template: :${lineOf(open)}: unclosed action`);
    let bodyEnd = close;
    if (src[close - 1] === '-' && /[ \t\r\n]/.test(src[close - 2] ?? '')) {
      bodyEnd = close - 1;
      trimNextText = true;
    }
    i = close + 2;
    const line = lineOf(open);
    const fail = (msg: string): never => { throw new TemplateParseError(`template: :${line}: ${msg}`); };
    const toks = lexAction(src, bodyStart, bodyEnd, lineOf);
    if (toks[0].t === 'eof') fail('missing value for command');
    const p = new ActionParser(toks, fail);
    const first = toks[0];
    if (first.t === 'ident' && ['if', 'with', 'range', 'else', 'end', 'break', 'continue', 'define', 'template', 'block'].includes(first.v)) {
      p.next();
      switch (first.v) {
        case 'if': case 'with': case 'range': {
          const pipe = p.pipeline(true);
          const node = { kind: first.v, pipe, list: [] as Node[], pos: first.pos } as BlockNode;
          top().list.push(node);
          stack.push({ kind: first.v as Frame['kind'], node, list: node.list });
          break;
        }
        case 'else': {
          const fr = top();
          if (fr.kind === 'root' || !fr.node) fail('unexpected {{else}}');
          if (fr.node!.elseList) fail('expected end; found {{else}}');
          const elseList: Node[] = [];
          fr.node!.elseList = elseList;
          fr.list = elseList;
          if (!p.atEnd()) {
            const kw = p.next();
            if (kw.t !== 'ident' || (kw.v !== 'if' && kw.v !== 'with')) fail('unexpected token in else');
            const pipe = p.pipeline(true);
            const node = { kind: kw.v, pipe, list: [] as Node[], pos: kw.pos } as BlockNode;
            elseList.push(node);
            stack.push({ kind: kw.v as Frame['kind'], node, list: node.list, chained: true });
          }
          break;
        }
        case 'end': {
          if (!p.atEnd()) fail('unexpected token in end');
          if (top().kind === 'root') fail('unexpected {{end}}');
          while (top().chained) stack.pop();
          stack.pop();
          break;
        }
        case 'break': case 'continue':
          if (!stack.some((f) => f.kind === 'range')) fail(`{{${first.v}}} outside {{range}}`);
          top().list.push({ kind: first.v, pos: first.pos });
          break;
        default:
          fail(`{{${first.v}}} is not supported`);
      }
      continue;
    }
    const pipe = p.pipeline(true);
    top().list.push({ kind: 'action', pipe, pos: first.pos });
  }
  if (stack.length > 1) throw new TemplateParseError(`template: :${lineOf(src.length)}: unexpected EOF`);
  return root.list;
}

/** Index of the "}}" closing an action, skipping quoted strings. */
function findClose(src: string, from: number): number {
  let i = from;
  while (i < src.length) {
    const c = src[i];
    if (c === '"') {
      i++;
      while (i < src.length && src[i] !== '"') i += src[i] === '\\' ? 2 : 1;
      i++;
      continue;
    }
    if (c === '`') {
      const j = src.indexOf('`', i + 1);
      if (j < 0) return -1;
      i = j + 1;
      continue;
    }
    if (c === '}' && src[i + 1] === '}') return i;
    i++;
  }
  return -1;
}
