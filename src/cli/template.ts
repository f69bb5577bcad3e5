/**
 * The Go-template subset behind every --format flag. `compileTemplate(src)` parses once; `execute(data)` renders.
 * Data is plain JSON-like values; objects marked with goStruct() behave like Go structs (an unknown field is an
 * error, as in docker's formatter contexts), other objects like Go maps (a missing key prints "<no value>").
 */
import { parseTemplate, TemplateParseError, type Arg, type BlockNode, type Command, type Node, type Pipeline } from './template-parse';
import { BASE_FUNCS, goTypeName, printValue, structType, truthy, type TemplateFunc } from './template-funcs';

export { TemplateParseError } from './template-parse';
export { goStruct, printValue, HEADER_FUNCS, BASE_FUNCS } from './template-funcs';

export class TemplateExecError extends Error {}

class LoopSignal {
  constructor(readonly kind: 'break' | 'continue') {}
}

interface Scope {
  vars: { name: string; value: unknown }[];
}

export interface ExecuteOptions {
  /** replaces the function table (e.g. HEADER_FUNCS); extra functions are merged in with `extraFuncs` */
  funcs?: Record<string, TemplateFunc>;
  extraFuncs?: Record<string, TemplateFunc>;
}

export class CompiledTemplate {
  private readonly nodes: Node[];

  constructor(readonly source: string, readonly name = '') {
    this.nodes = parseTemplate(source);
  }

  execute(data: unknown, opts: ExecuteOptions = {}): string {
    const funcs = { ...(opts.funcs ?? BASE_FUNCS), ...(opts.extraFuncs ?? {}) };
    const run = new Execution(this.source, this.name, funcs);
    const scope: Scope = { vars: [{ name: '$', value: data }] };
    const out: string[] = [];
    run.list(this.nodes, data, scope, out);
    return out.join('');
  }
}

/** Parse a template; throws TemplateParseError. `name` appears in error messages as Go's template name. */
export function compileTemplate(source: string, name = ''): CompiledTemplate {
  try {
    return new CompiledTemplate(source, name);
  } catch (err) {
    if (err instanceof TemplateParseError && name) throw new TemplateParseError(err.message.replace('template: :', `template: ${name}:`));
    throw err;
  }
}

class Execution {
  constructor(private readonly src: string, private readonly name: string, private readonly funcs: Record<string, TemplateFunc>) {}

  private fail(pos: number, at: string, msg: string): never {
    const before = this.src.slice(0, pos);
    const line = before.split('\n').length;
    const col = pos - (before.lastIndexOf('\n') + 1);
    throw new TemplateExecError(`template: ${this.name}:${line}:${col}: executing "${this.name}" at <${at}>: ${msg}`);
  }

  list(nodes: Node[], dot: unknown, scope: Scope, out: string[]): void {
    const mark = scope.vars.length;
    try {
      for (const n of nodes) this.node(n, dot, scope, out);
    } finally {
      scope.vars.length = mark;
    }
  }

  private node(n: Node, dot: unknown, scope: Scope, out: string[]): void {
    switch (n.kind) {
      case 'text':
        out.push(n.text);
        return;
      case 'action': {
        const v = this.pipeline(n.pipe, dot, scope);
        if (n.pipe.decl.length === 0) out.push(printValue(v));
        return;
      }
      case 'break':
      case 'continue':
        throw new LoopSignal(n.kind);
      case 'if': {
        const mark = scope.vars.length;
        const v = this.pipeline(n.pipe, dot, scope);
        if (truthy(v)) this.list(n.list, dot, scope, out);
        else if (n.elseList) this.list(n.elseList, dot, scope, out);
        scope.vars.length = mark;
        return;
      }
      case 'with': {
        const mark = scope.vars.length;
        const v = this.pipeline(n.pipe, dot, scope);
        if (truthy(v)) this.list(n.list, v, scope, out);
        else if (n.elseList) this.list(n.elseList, dot, scope, out);
        scope.vars.length = mark;
        return;
      }
      case 'range':
        this.range(n, dot, scope, out);
        return;
    }
  }

  private range(n: BlockNode, dot: unknown, scope: Scope, out: string[]): void {
    const mark = scope.vars.length;
    const decl = n.pipe.decl;
    const v = this.pipeline({ ...n.pipe, decl: [] }, dot, scope);
    let entries: [unknown, unknown][];
    if (v === null || v === undefined) entries = [];
    else if (Array.isArray(v)) entries = v.map((e, i) => [i, e]);
    else if (typeof v === 'number') entries = Array.from({ length: Math.max(0, v) }, (_x, i) => [i, i]);
    else if (typeof v === 'object' && !structType(v)) entries = Object.keys(v).sort().map((k) => [k, (v as Record<string, unknown>)[k]]);
    else this.fail(n.pos, 'range', `range can't iterate over ${printValue(v)}`);
    if (entries.length === 0) {
      if (n.elseList) this.list(n.elseList, dot, scope, out);
      return;
    }
    for (const [k, e] of entries) {
      scope.vars.length = mark;
      if (decl.length === 1) scope.vars.push({ name: decl[0], value: e });
      if (decl.length === 2) scope.vars.push({ name: decl[0], value: k }, { name: decl[1], value: e });
      try {
        this.list(n.list, e, scope, out);
      } catch (sig) {
        if (!(sig instanceof LoopSignal)) throw sig;
        if (sig.kind === 'break') break;
      }
    }
    scope.vars.length = mark;
  }

  private pipeline(p: Pipeline, dot: unknown, scope: Scope): unknown {
    let value: unknown;
    let hasValue = false;
    for (const cmd of p.cmds) {
      value = this.command(cmd, dot, scope, hasValue ? { v: value } : undefined);
      hasValue = true;
    }
    if (p.decl.length > 0) {
      if (p.assign) {
        const found = [...scope.vars].reverse().find((x) => x.name === p.decl[0]);
        if (!found) this.fail(p.pos, p.decl[0], `undefined variable: ${p.decl[0]}`);
        found.value = value;
      } else {
        scope.vars.push({ name: p.decl[0], value });
      }
    }
    return value;
  }

  private command(cmd: Command, dot: unknown, scope: Scope, piped?: { v: unknown }): unknown {
    const [first, ...rest] = cmd.args;
    if (first.kind === 'ident') {
      const fn = this.funcs[first.name];
      if (!fn) this.fail(first.pos, first.name, `function "${first.name}" not defined`);
      const args = rest.map((a) => this.arg(a, dot, scope));
      if (piped) args.push(piped.v);
      try {
        return fn(...args);
      } catch (err) {
        if (err instanceof TemplateExecError) throw err;
        return this.fail(first.pos, this.cmdText(cmd), `error calling ${first.name}: ${(err as Error).message}`);
      }
    }
    if (rest.length > 0 || piped) {
      if (first.kind === 'field' || first.kind === 'var' || first.kind === 'dot' || first.kind === 'pipe') {
        const fnv = this.arg(first, dot, scope);
        if (typeof fnv === 'function') {
          const args = rest.map((a) => this.arg(a, dot, scope));
          if (piped) args.push(piped.v);
          return (fnv as TemplateFunc)(...args);
        }
      }
      this.fail(first.pos, this.argText(first), `can't give argument to non-function ${this.argText(first)}`);
    }
    return this.arg(first, dot, scope);
  }

  private arg(a: Arg, dot: unknown, scope: Scope): unknown {
    switch (a.kind) {
      case 'dot': return dot;
      case 'string': return a.value;
      case 'number': return a.value;
      case 'bool': return a.value;
      case 'nil': return null;
      case 'ident': {
        const fn = this.funcs[a.name];
        if (!fn) this.fail(a.pos, a.name, `function "${a.name}" not defined`);
        return fn();
      }
      case 'field': return this.fields(dot, a.names, a.pos, '');
      case 'var': {
        const found = [...scope.vars].reverse().find((x) => x.name === a.name);
        if (!found) this.fail(a.pos, a.name, `undefined variable: ${a.name}`);
        return this.fields(found.value, a.names, a.pos, a.name);
      }
      case 'pipe': {
        const v = this.pipeline(a.pipe, dot, scope);
        return this.fields(v, a.names, a.pos, '(...)');
      }
    }
  }

  private fields(start: unknown, names: string[], pos: number, prefix: string): unknown {
    let cur = start;
    let path = prefix;
    for (const name of names) {
      const receiver = cur;
      path += '.' + name;
      if (receiver === undefined) return undefined;
      if (receiver === null) this.fail(pos, path, `nil pointer evaluating interface {}.${name}`);
      if (typeof receiver !== 'object' || Array.isArray(receiver)) {
        this.fail(pos, path, `can't evaluate field ${name} in type ${goTypeName(receiver)}`);
      }
      const obj = receiver as Record<string, unknown>;
      if (structType(receiver) !== undefined && !(name in obj)) {
        this.fail(pos, path, `can't evaluate field ${name} in type ${structType(receiver)}`);
      }
      cur = obj[name];
      if (typeof cur === 'function') cur = (cur as () => unknown).call(receiver);
    }
    return cur;
  }

  private argText(a: Arg): string {
    switch (a.kind) {
      case 'dot': return '.';
      case 'field': return '.' + a.names.join('.');
      case 'var': return a.name + a.names.map((n) => '.' + n).join('');
      case 'ident': return a.name;
      case 'string': return JSON.stringify(a.value);
      case 'number': return String(a.value);
      case 'bool': return String(a.value);
      case 'nil': return 'nil';
      case 'pipe': return '(...)';
    }
  }

  private cmdText(cmd: Command): string {
    return cmd.args.map((a) => this.argText(a)).join(' ');
  }
}
