/**
 * A flag parser with pflag's (cobra's) behaviour and wording, so errors and help read like docker's:
 *   --name value, --name=value, -n value, -nvalue, -n=value, -abc (bool shorthands combined), --bool=false,
 *   "--" ends flags, "-" is an argument, flags may follow arguments unless `interspersed` is false.
 * Value kinds: bool, string, int, list (repeatable; shown as "list"), stringArray, strings (comma-split and
 * repeatable), filter (repeatable key=value; shown as "filter").
 */
import { FlagError } from './errors';

export type FlagKind = 'bool' | 'string' | 'int' | 'list' | 'stringArray' | 'strings' | 'filter';

export interface FlagSpec {
  name: string;
  short?: string;
  kind: FlagKind;
  description: string;
  /** shown as "(default ...)" when it is not the zero value */
  default?: boolean | string | number | string[];
  hidden?: boolean;
  /** name of the value in help, when it is not the kind ("string", "list", ...) */
  valueName?: string;
}

export type FlagValue = boolean | string | number | string[];

export class FlagValues {
  constructor(private readonly values: Map<string, FlagValue>, readonly changed: Set<string>) {}

  bool(name: string): boolean {
    return this.values.get(name) === true;
  }
  string(name: string): string {
    const v = this.values.get(name);
    return typeof v === 'string' ? v : '';
  }
  int(name: string): number {
    const v = this.values.get(name);
    return typeof v === 'number' ? v : 0;
  }
  list(name: string): string[] {
    const v = this.values.get(name);
    return Array.isArray(v) ? v : [];
  }
  /** true when the flag was given on the command line */
  isSet(name: string): boolean {
    return this.changed.has(name);
  }
}

export interface ParseResult {
  flags: FlagValues;
  args: string[];
}

export const HELP_FLAG: FlagSpec = { name: 'help', kind: 'bool', description: 'Print usage', hidden: true };

function zero(kind: FlagKind): FlagValue {
  switch (kind) {
    case 'bool': return false;
    case 'int': return 0;
    case 'string': return '';
    default: return [];
  }
}

function parseBool(v: string): boolean | undefined {
  if (['1', 't', 'T', 'true', 'TRUE', 'True'].includes(v)) return true;
  if (['0', 'f', 'F', 'false', 'FALSE', 'False'].includes(v)) return false;
  return undefined;
}

function flagLabel(spec: FlagSpec): string {
  return spec.short ? `-${spec.short}, --${spec.name}` : `--${spec.name}`;
}

/** Parse `argv` against `specs` (plus --help/-h). Throws FlagError with pflag's messages. */
export function parseFlags(argv: string[], specs: FlagSpec[], opts: { interspersed?: boolean } = {}): ParseResult {
  const all = [...specs, { ...HELP_FLAG, short: 'h' }];
  const byName = new Map(all.map((s) => [s.name, s]));
  const byShort = new Map(all.filter((s) => s.short).map((s) => [s.short!, s]));
  const values = new Map<string, FlagValue>();
  for (const s of all) values.set(s.name, s.default !== undefined ? (Array.isArray(s.default) ? [...s.default] : s.default) : zero(s.kind));
  const changed = new Set<string>();
  const args: string[] = [];
  const interspersed = opts.interspersed !== false;

  const set = (spec: FlagSpec, raw: string) => {
    const first = !changed.has(spec.name);
    changed.add(spec.name);
    switch (spec.kind) {
      case 'bool': {
        const b = parseBool(raw);
        if (b === undefined) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseBool: parsing "${raw}": invalid syntax`);
        values.set(spec.name, b);
        return;
      }
      case 'int': {
        if (!/^[+-]?\d+$/.test(raw)) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: strconv.ParseInt: parsing "${raw}": invalid syntax`);
        values.set(spec.name, Number(raw));
        return;
      }
      case 'string':
        values.set(spec.name, raw);
        return;
      case 'strings': {
        const prev = first ? [] : (values.get(spec.name) as string[]);
        values.set(spec.name, [...prev, ...(raw === '' ? [] : raw.split(','))]);
        return;
      }
      default: {
        if (spec.kind === 'filter' && !raw.includes('=')) throw new FlagError(`invalid argument "${raw}" for "${flagLabel(spec)}" flag: bad format of filter (expected name=value)`);
        const prev = first ? [] : (values.get(spec.name) as string[]);
        values.set(spec.name, [...prev, raw]);
      }
    }
  };

  let i = 0;
  while (i < argv.length) {
    const a = argv[i++];
    if (a === '--') {
      args.push(...argv.slice(i));
      break;
    }
    if (!a.startsWith('-') || a === '-') {
      args.push(a);
      if (!interspersed) {
        args.push(...argv.slice(i));
        break;
      }
      continue;
    }
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      const name = eq >= 0 ? a.slice(2, eq) : a.slice(2);
      const spec = byName.get(name);
      if (!spec) throw new FlagError(`unknown flag: --${name}`);
      if (eq >= 0) set(spec, a.slice(eq + 1));
      else if (spec.kind === 'bool') set(spec, 'true');
      else {
        if (i >= argv.length) throw new FlagError(`flag needs an argument: --${name}`);
        set(spec, argv[i++]);
      }
      continue;
    }
    // shorthand cluster
    const cluster = a.slice(1);
    for (let j = 0; j < cluster.length; j++) {
      const c = cluster[j];
      const spec = byShort.get(c);
      if (!spec) throw new FlagError(`unknown shorthand flag: '${c}' in ${a}`);
      const rest = cluster.slice(j + 1);
      if (rest.startsWith('=')) {
        set(spec, rest.slice(1));
        break;
      }
      if (spec.kind === 'bool') {
        set(spec, 'true');
        continue;
      }
      if (rest !== '') {
        set(spec, rest);
        break;
      }
      if (i >= argv.length) throw new FlagError(`flag needs an argument: '${c}' in -${c}`);
      set(spec, argv[i++]);
      break;
    }
  }
  return { flags: new FlagValues(values, changed), args };
}

/** pflag's word wrap for flag descriptions (wrap/wrapN in flag.go). */
function wrapN(i: number, slop: number, s: string): [string, string] {
  if (i + slop > s.length) return [s, ''];
  const head = s.slice(0, i);
  const w = Math.max(head.lastIndexOf(' '), head.lastIndexOf('\t'), head.lastIndexOf('\n'));
  if (w <= 0) return [s, ''];
  const nl = head.lastIndexOf('\n');
  if (nl > 0 && nl < w) return [s.slice(0, nl), s.slice(nl + 1)];
  return [s.slice(0, w), s.slice(w + 1)];
}

function wrap(indent: number, cols: number, s: string): string {
  let width = cols - indent;
  let r = '';
  if (width < 24) {
    indent = 16;
    width = cols - indent;
    r += '\n' + ' '.repeat(indent);
  }
  if (width < 24) return s.replace(/\n/g, r);
  const slop = 5;
  width -= slop;
  const pad = '\n' + ' '.repeat(indent);
  let [l, rest] = wrapN(width, slop, s);
  r += l.replace(/\n/g, pad);
  while (rest !== '') {
    let t: string;
    [t, rest] = wrapN(width, slop, rest);
    r += pad + t.replace(/\n/g, pad);
  }
  return r;
}

function defaultText(spec: FlagSpec): string {
  const d = spec.default;
  if (d === undefined || d === false || d === '' || d === 0 || (Array.isArray(d) && d.length === 0)) return '';
  if (spec.kind === 'string') return ` (default ${JSON.stringify(d)})`;
  if (Array.isArray(d)) return ` (default [${d.join(',')}])`;
  return ` (default ${String(d)})`;
}

/** The "Options:" block, formatted as pflag's FlagUsagesWrapped(cols). */
export function flagUsages(specs: FlagSpec[], cols = 79): string {
  const visible = specs.filter((s) => !s.hidden).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const lines: [string, string][] = [];
  let maxlen = 0;
  for (const s of visible) {
    let line = s.short ? `  -${s.short}, --${s.name}` : `      --${s.name}`;
    const valueName = s.kind === 'bool' ? '' : s.valueName ?? s.kind;
    if (valueName) line += ' ' + valueName;
    maxlen = Math.max(maxlen, line.length + 1);
    lines.push([line, s.description + defaultText(s)]);
  }
  return lines.map(([head, usage]) => `${head} ${' '.repeat(maxlen - head.length)} ${wrap(maxlen + 2, cols, usage)}\n`).join('');
}
