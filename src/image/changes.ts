/**
 * `--change` instructions for import and commit: a Dockerfile line each (`CMD ["sh"]`, `ENV A=1 B=2`,
 * `EXPOSE 80/udp`, …) applied to a container config, as dockerd does for `docker import -c` / `docker commit -c`.
 * Only the instructions that change image metadata are allowed; anything else is InvalidArgument.
 */
import { invalidArgument } from '../errors';
import type { ContainerConfig } from './types';

export const CHANGE_INSTRUCTIONS = [
  'CMD', 'ENTRYPOINT', 'ENV', 'EXPOSE', 'HEALTHCHECK', 'LABEL', 'ONBUILD', 'STOPSIGNAL', 'USER', 'VOLUME', 'WORKDIR',
] as const;

const SHELL = ['/bin/sh', '-c'];

/** Splits on whitespace honouring '…', "…" and backslash escapes; quotes are removed, as Dockerfile words. */
export function splitWords(s: string): string[] {
  const words: string[] = [];
  let cur = '';
  let inWord = false;
  let quote: '"' | "'" | '' = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) cur += s[++i];
      else cur += ch;
      continue;
    }
    if (/\s/.test(ch)) {
      if (inWord) words.push(cur);
      cur = '';
      inWord = false;
      continue;
    }
    inWord = true;
    if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < s.length) cur += s[++i];
    else cur += ch;
  }
  if (quote) throw invalidArgument(`unterminated quote in: ${s}`);
  if (inWord) words.push(cur);
  return words;
}

/** Quote and escape removal over a whole text, whitespace kept (the legacy `ENV k v w` value). */
export function unquote(s: string): string {
  let out = '';
  let quote = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i];
    if (quote) {
      if (ch === quote) quote = '';
      else if (ch === '\\' && quote === '"' && i + 1 < s.length) out += s[++i];
      else out += ch;
    } else if (ch === '"' || ch === "'") quote = ch;
    else if (ch === '\\' && i + 1 < s.length) out += s[++i];
    else out += ch;
  }
  return out;
}

/** `["a","b"]` → the array; undefined when the text is not a JSON array of strings (shell form then). */
function jsonForm(rest: string): string[] | undefined {
  const t = rest.trim();
  if (!t.startsWith('[')) return undefined;
  try {
    const v: unknown = JSON.parse(t);
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v as string[];
  } catch {
    // not JSON: Docker treats it as shell form
  }
  return undefined;
}

function commandOf(rest: string): string[] {
  return jsonForm(rest) ?? [...SHELL, rest.trim()];
}

/** `ENV`/`LABEL` arguments: `k=v k2="v 2"`, or the legacy single pair `k v with spaces`. */
function keyValues(instr: string, rest: string): [string, string][] {
  const words = splitWords(rest);
  if (words.length === 0) throw invalidArgument(`${instr} requires at least one argument`);
  if (!words[0].includes('=')) {
    const m = /^\s*(\S+)\s+(.*?)\s*$/.exec(rest);
    if (!m) throw invalidArgument(`${instr} requires at least two arguments`);
    return [[m[1], unquote(m[2])]];
  }
  return words.map((w) => {
    const eq = w.indexOf('=');
    if (eq <= 0) throw invalidArgument(`${instr} names can not be blank`);
    return [w.slice(0, eq), w.slice(eq + 1)];
  });
}

/** `80`, `80/udp`, `8000-8002/tcp` → `80/tcp` … (ranges expanded, as nat.ParsePortSpecs does). */
export function exposedPorts(rest: string): string[] {
  const out: string[] = [];
  for (const word of splitWords(rest)) {
    const m = /^(\d+)(?:-(\d+))?(?:\/(tcp|udp|sctp))?$/i.exec(word);
    if (!m) throw invalidArgument(`invalid containerPort: ${word}`);
    const start = Number(m[1]);
    const end = m[2] ? Number(m[2]) : start;
    const proto = (m[3] ?? 'tcp').toLowerCase();
    if (start < 1 || end > 65535 || end < start) throw invalidArgument(`invalid port range: ${word}`);
    for (let p = start; p <= end; p++) out.push(`${p}/${proto}`);
  }
  return out;
}

const DURATION_UNITS: Record<string, number> = { ns: 1, us: 1e3, 'µs': 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** Go duration text (`30s`, `1m30s`, `500ms`) → nanoseconds. */
export function parseGoDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/gy;
  let total = 0;
  let matched = 0;
  for (let m = re.exec(s); m; m = re.exec(s)) {
    total += Number(m[1]) * DURATION_UNITS[m[2]];
    matched = re.lastIndex;
  }
  if (s === '0') return 0;
  if (!s || matched !== s.length) throw invalidArgument(`time: invalid duration "${s}"`);
  return Math.round(total);
}

function healthcheck(rest: string): Record<string, unknown> {
  let text = rest.trim();
  if (/^none$/i.test(text)) return { Test: ['NONE'] };
  const hc: Record<string, unknown> = {};
  const flags: Record<string, string> = { interval: 'Interval', timeout: 'Timeout', 'start-period': 'StartPeriod', 'start-interval': 'StartInterval' };
  for (let m = /^--([a-z-]+)=(\S+)\s*/.exec(text); m; m = /^--([a-z-]+)=(\S+)\s*/.exec(text)) {
    if (m[1] === 'retries') {
      const n = Number(m[2]);
      if (!Number.isInteger(n) || n < 0) throw invalidArgument(`invalid value for --retries: ${m[2]}`);
      hc.Retries = n;
    } else if (flags[m[1]]) hc[flags[m[1]]] = parseGoDuration(m[2]);
    else throw invalidArgument(`unknown flag: --${m[1]}`);
    text = text.slice(m[0].length);
  }
  const cmd = /^CMD\s+(.*)$/is.exec(text);
  if (!cmd) throw invalidArgument('Unknown type for HEALTHCHECK: the only valid types are CMD and NONE');
  const json = jsonForm(cmd[1]);
  hc.Test = json ? ['CMD', ...json] : ['CMD-SHELL', cmd[1].trim()];
  return hc;
}

/** Applies one instruction line to `cfg` (mutated). */
export function applyChange(cfg: ContainerConfig, line: string): void {
  const m = /^\s*(\S+)\s*([\s\S]*)$/.exec(line);
  if (!m || !m[1]) return;
  const instr = m[1].toUpperCase();
  const rest = m[2].trim();
  if (!(CHANGE_INSTRUCTIONS as readonly string[]).includes(instr)) {
    throw invalidArgument(`${m[1].toLowerCase()} is not a valid change command`);
  }
  switch (instr) {
    case 'CMD':
      cfg.Cmd = commandOf(rest);
      break;
    case 'ENTRYPOINT':
      cfg.Entrypoint = rest === '' ? null : commandOf(rest);
      break;
    case 'ENV': {
      const env = [...(cfg.Env ?? [])];
      for (const [k, v] of keyValues('ENV', rest)) {
        const i = env.findIndex((e) => e.split('=')[0] === k);
        if (i >= 0) env[i] = `${k}=${v}`;
        else env.push(`${k}=${v}`);
      }
      cfg.Env = env;
      break;
    }
    case 'EXPOSE': {
      if (!rest) throw invalidArgument('EXPOSE requires at least one argument');
      const ports = { ...(cfg.ExposedPorts ?? {}) };
      for (const p of exposedPorts(rest)) ports[p] = {};
      cfg.ExposedPorts = ports;
      break;
    }
    case 'LABEL': {
      const labels = { ...(cfg.Labels ?? {}) };
      for (const [k, v] of keyValues('LABEL', rest)) labels[k] = v;
      cfg.Labels = labels;
      break;
    }
    case 'USER':
      if (!rest) throw invalidArgument('USER requires exactly one argument');
      cfg.User = rest;
      break;
    case 'VOLUME': {
      const paths = jsonForm(rest) ?? splitWords(rest);
      if (paths.length === 0 || paths.some((p) => !p.trim())) throw invalidArgument('VOLUME specified can not be an empty string');
      const vols = { ...(cfg.Volumes ?? {}) };
      for (const p of paths) vols[p] = {};
      cfg.Volumes = vols;
      break;
    }
    case 'WORKDIR': {
      if (!rest) throw invalidArgument('WORKDIR requires exactly one argument');
      const dir = rest.startsWith('/') || !cfg.WorkingDir ? rest : `${cfg.WorkingDir.replace(/\/$/, '')}/${rest}`;
      cfg.WorkingDir = dir.startsWith('/') ? dir : `/${dir}`;
      break;
    }
    case 'STOPSIGNAL':
      if (!/^(SIG)?[A-Z0-9+-]+$/i.test(rest)) throw invalidArgument(`Invalid signal: ${rest}`);
      cfg.StopSignal = rest;
      break;
    case 'ONBUILD': {
      const trigger = /^(\S+)\s*([\s\S]*)$/.exec(rest);
      if (!trigger) throw invalidArgument('ONBUILD requires at least one argument');
      const word = trigger[1].toUpperCase();
      if (word === 'ONBUILD') throw invalidArgument("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
      if (word === 'FROM' || word === 'MAINTAINER') throw invalidArgument(`${word} isn't allowed as an ONBUILD trigger`);
      cfg.OnBuild = [...(cfg.OnBuild ?? []), `${word} ${trigger[2]}`.trim()];
      break;
    }
    case 'HEALTHCHECK':
      cfg.Healthcheck = healthcheck(rest);
      break;
  }
}

/** Applies every `--change` line, in order, to a copy of `base`. */
export function applyChanges(changes: string[], base: ContainerConfig = {}): ContainerConfig {
  const cfg: ContainerConfig = JSON.parse(JSON.stringify(base)) as ContainerConfig;
  for (const change of changes) {
    // one --change value may hold several lines (the API joins nothing; clients may send "A\nB")
    for (const line of change.split(/\r?\n/)) if (line.trim()) applyChange(cfg, line);
  }
  for (const k of Object.keys(cfg)) if (cfg[k] === undefined) delete cfg[k];
  return cfg;
}
