/**
 * Value semantics and functions of the Go-template subset: how values print (fmt.Sprint), which are "true",
 * and the function table (Go's builtins plus docker's: json, split, join, title, lower, upper, pad, truncate).
 */

/** Marks an object as a Go struct: unknown fields are an error instead of "<no value>". */
export const STRUCT_TYPE = Symbol('go-struct-type');
/** Marks an object whose {{json}} escapes <, >, & as Go's json.Marshal does (docker's formatter rows). */
export const JSON_ESCAPE_HTML = Symbol('json-escape-html');

export interface StructOptions {
  /** escape <, >, & in {{json .}} like a Go MarshalJSON built on json.Marshal */
  escapeHtml?: boolean;
}

/** Make `obj` behave like a Go struct of the given type name in templates. */
export function goStruct<T extends object>(obj: T, typeName: string, opts: StructOptions = {}): T {
  Object.defineProperty(obj, STRUCT_TYPE, { value: typeName, enumerable: false });
  if (opts.escapeHtml) Object.defineProperty(obj, JSON_ESCAPE_HTML, { value: true, enumerable: false });
  return obj;
}

export function structType(v: unknown): string | undefined {
  return v !== null && typeof v === 'object' ? (v as Record<symbol, string>)[STRUCT_TYPE] : undefined;
}

export function goTypeName(v: unknown): string {
  if (v === undefined) return '<nil>';
  if (v === null) return 'interface {}';
  const st = structType(v);
  if (st) return st;
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (typeof v === 'function') return 'func';
  return 'map[string]interface {}';
}

/** fmt.Sprint of one value. */
export function printValue(v: unknown): string {
  if (v === undefined) return '<no value>';
  if (v === null) return '<nil>';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return formatNumber(v);
  if (typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) return '[' + v.map(printValue).join(' ') + ']';
  if (typeof v === 'object') {
    const obj = v as Record<string, unknown>;
    if (structType(v)) return '{' + Object.keys(obj).map((k) => printValue(obj[k])).join(' ') + '}';
    return 'map[' + Object.keys(obj).sort().map((k) => `${k}:${printValue(obj[k])}`).join(' ') + ']';
  }
  return String(v);
}

function formatNumber(n: number): string {
  if (Number.isInteger(n) && Math.abs(n) < 1e21) return String(n);
  // Go's %v writes two-digit exponents: 1e-07, 1e+21
  return String(n).replace(/e([+-])(\d)$/, 'e$10$2');
}

/** Go's truth: false, 0, nil, and empty strings, slices and maps are false; structs are always true. */
export function truthy(v: unknown): boolean {
  if (v === undefined || v === null || v === false || v === 0 || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === 'object') return structType(v) !== undefined || Object.keys(v as object).length > 0;
  return true;
}

function toJson(v: unknown): string {
  const escape = v !== null && typeof v === 'object' && (v as Record<symbol, unknown>)[JSON_ESCAPE_HTML] === true;
  let s = JSON.stringify(v === undefined ? null : v) ?? 'null';
  if (escape) s = s.replace(/</g, '\\u003c').replace(/>/g, '\\u003e').replace(/&/g, '\\u0026');
  return s;
}

function joinElements(elems: unknown, sep: unknown): string {
  if (elems === null || elems === undefined) return '';
  if (Array.isArray(elems)) return elems.map(printValue).join(String(sep));
  if (typeof elems === 'object') return Object.values(elems as object).map(printValue).sort().join(String(sep));
  throw new Error(`expected slice, got ${goTypeName(elems)}`);
}

function title(s: unknown): string {
  return String(s).replace(/(^|[^\p{L}\p{N}_'])(\p{L})/gu, (_m, pre: string, ch: string) => pre + ch.toUpperCase());
}

function index(item: unknown, ...keys: unknown[]): unknown {
  let cur = item;
  for (const k of keys) {
    if (cur === null || cur === undefined) throw new Error('index of untyped nil');
    if (Array.isArray(cur) || typeof cur === 'string') {
      const n = Number(k);
      if (!Number.isInteger(n) || n < 0 || n >= cur.length) throw new Error(`index out of range: ${printValue(k)}`);
      cur = cur[n];
    } else if (typeof cur === 'object') {
      cur = (cur as Record<string, unknown>)[String(k)];
    } else {
      throw new Error(`can't index item of type ${goTypeName(cur)}`);
    }
  }
  return cur;
}

function length(v: unknown): number {
  if (typeof v === 'string' || Array.isArray(v)) return v.length;
  if (v !== null && typeof v === 'object') return Object.keys(v).length;
  throw new Error(`len of type ${goTypeName(v)}`);
}

function compare(a: unknown, b: unknown): number {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'string' && typeof b === 'string') return a < b ? -1 : a > b ? 1 : 0;
  throw new Error('incompatible types for comparison');
}

function eq(a: unknown, ...rest: unknown[]): boolean {
  const norm = (x: unknown) => (x === undefined ? null : x);
  for (const b of rest) {
    const x = norm(a);
    const y = norm(b);
    if (x === y) return true;
    if (x !== null && y !== null && typeof x !== typeof y) throw new Error('incompatible types for comparison');
  }
  return false;
}

/** A small fmt.Sprintf: %s %v %d %q %x %X %f %g %t %% with flags, width and precision. */
export function sprintf(format: string, ...args: unknown[]): string {
  let argi = 0;
  return format.replace(/%([-+# 0]*)(\d+)?(?:\.(\d+))?([svdqxXfgetc%])/g, (_m, flags: string, width?: string, prec?: string, verb?: string) => {
    if (verb === '%') return '%';
    if (argi >= args.length) return `%!${verb}(MISSING)`;
    const a = args[argi++];
    let s: string;
    switch (verb) {
      case 'd': s = typeof a === 'number' ? String(Math.trunc(a)) : `%!d(${goTypeName(a)}=${printValue(a)})`; break;
      case 'q': s = JSON.stringify(printValue(a)); break;
      case 'x': case 'X': {
        s = typeof a === 'number' ? a.toString(16) : Buffer.from(printValue(a)).toString('hex');
        if (verb === 'X') s = s.toUpperCase();
        break;
      }
      case 'f': s = typeof a === 'number' ? a.toFixed(prec === undefined ? 6 : Number(prec)) : printValue(a); break;
      case 'e': s = typeof a === 'number' ? a.toExponential(prec === undefined ? 6 : Number(prec)) : printValue(a); break;
      case 'c': s = typeof a === 'number' ? String.fromCodePoint(a) : printValue(a); break;
      default: s = printValue(a); if (prec !== undefined && (verb === 's' || verb === 'v')) s = s.slice(0, Number(prec));
    }
    if (width && s.length < Number(width)) {
      const pad = (flags.includes('0') && !flags.includes('-') ? '0' : ' ').repeat(Number(width) - s.length);
      s = flags.includes('-') ? s + pad : pad + s;
    }
    return s;
  });
}

/** fmt.Sprint: spaces between operands when neither side is a string. */
function sprint(...args: unknown[]): string {
  let out = '';
  args.forEach((a, i) => {
    if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
    out += printValue(a);
  });
  return out;
}

export type TemplateFunc = (...args: unknown[]) => unknown;

/** Functions whose first operand decides (and/or short-circuit in Go; here all args are already evaluated). */
export const BASE_FUNCS: Record<string, TemplateFunc> = {
  and: (...a) => { for (const x of a) if (!truthy(x)) return x; return a[a.length - 1]; },
  or: (...a) => { for (const x of a) if (truthy(x)) return x; return a[a.length - 1]; },
  not: (a) => !truthy(a),
  len: (a) => length(a),
  index: (item, ...keys) => index(item, ...keys),
  slice: (item, ...ix) => {
    if (typeof item !== 'string' && !Array.isArray(item)) throw new Error(`can't slice item of type ${goTypeName(item)}`);
    const [a, b] = ix.map(Number);
    return item.slice(a ?? 0, b ?? item.length);
  },
  print: (...a) => sprint(...a),
  println: (...a) => a.map(printValue).join(' ') + '\n',
  printf: (f, ...a) => sprintf(String(f), ...a),
  eq: (a, ...b) => eq(a, ...b),
  ne: (a, b) => !eq(a, b),
  lt: (a, b) => compare(a, b) < 0,
  le: (a, b) => compare(a, b) <= 0,
  gt: (a, b) => compare(a, b) > 0,
  ge: (a, b) => compare(a, b) >= 0,
  html: (...a) => sprint(...a).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&#34;').replace(/'/g, '&#39;'),
  urlquery: (...a) => encodeURIComponent(sprint(...a)),
  js: (...a) => JSON.stringify(sprint(...a)).slice(1, -1),
  // docker's additions (templates/templates.go)
  json: (v) => toJson(v),
  split: (s, sep) => String(s).split(String(sep)),
  join: (e, sep) => joinElements(e, sep),
  title: (s) => title(s),
  lower: (s) => String(printValue(s)).toLowerCase(),
  upper: (s) => String(printValue(s)).toUpperCase(),
  pad: (s, pre, suf) => (s === '' ? '' : ' '.repeat(Number(pre)) + printValue(s) + ' '.repeat(Number(suf))),
  truncate: (s, n) => { const str = printValue(s); return str.length < Number(n) ? str : str.slice(0, Number(n)); },
};

/** docker's HeaderFunctions: while rendering a table header the string functions return their input. */
export const HEADER_FUNCS: Record<string, TemplateFunc> = {
  ...BASE_FUNCS,
  json: (v) => v,
  split: (v) => v,
  join: (v) => v,
  title: (v) => v,
  lower: (v) => v,
  upper: (v) => v,
  truncate: (v) => v,
};
