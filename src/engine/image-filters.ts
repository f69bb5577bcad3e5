/**
 * Filter matching for image list and prune, with dockerd's semantics: values of one key are OR-ed for
 * `reference`, AND-ed for `label`; times are unix seconds, RFC 3339 dates or Go durations back from now.
 */
import { invalidArgument } from '../errors';
import { parseGoDuration } from '../image/changes';
import { familiarName, familiarString, parseReference } from '../image/reference';

export const LIST_FILTER_KEYS = ['dangling', 'label', 'before', 'since', 'reference', 'until'] as const;
export const PRUNE_FILTER_KEYS = ['dangling', 'label', 'label!', 'until'] as const;

export type Filters = Map<string, string[]>;

/** Go's path.Match pattern → RegExp: `*` and `?` never match `/`; `[…]` classes; `\` escapes. */
export function globToRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i];
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escapeRe(pattern[++i]);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end < 0) throw invalidArgument(`syntax error in pattern: ${pattern}`);
      let body = pattern.slice(i + 1, end);
      const negate = body.startsWith('^');
      if (negate) body = body.slice(1);
      re += `[${negate ? '^' : ''}${body.replace(/[\]\\]/g, '\\$&')}]`;
      i = end;
    } else re += escapeRe(ch);
  }
  return new RegExp(`^${re}$`);
}

function escapeRe(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
}

/**
 * Does `pattern` match a stored full reference? Like dockerd's FamiliarMatch: the familiar string
 * (`busybox:latest`) first, then the familiar name (`busybox`).
 */
export function matchReference(pattern: string, fullRef: string): boolean {
  let ref;
  try {
    ref = parseReference(fullRef);
  } catch {
    return false;
  }
  const re = globToRegExp(pattern);
  return re.test(familiarString(ref)) || re.test(familiarName(ref));
}

/** Every `key` or `key=value` in `wanted` must hold for `labels`. */
export function matchLabels(labels: Record<string, string> | null | undefined, wanted: string[]): boolean {
  const have = labels ?? {};
  return wanted.every((w) => {
    const eq = w.indexOf('=');
    if (eq < 0) return Object.prototype.hasOwnProperty.call(have, w);
    const key = w.slice(0, eq);
    return Object.prototype.hasOwnProperty.call(have, key) && have[key] === w.slice(eq + 1);
  });
}

/** `label!=k` / `label!=k=v` (prune): true when none of them holds. */
export function matchNoLabels(labels: Record<string, string> | null | undefined, unwanted: string[]): boolean {
  return unwanted.every((u) => !matchLabels(labels, [u]));
}

/**
 * A filter time as dockerd reads it (`until`, `since` of events): unix seconds with optional fraction,
 * a Go duration counted back from `nowMs` (`24h`, `10m`), or an RFC 3339 / date-only timestamp.
 * Returns unix seconds.
 */
export function parseFilterTime(value: string, nowMs = Date.now()): number {
  const v = value.trim();
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v);
  if (/^\d+(\.\d+)?(ns|us|µs|ms|s|m|h)/.test(v)) return (nowMs - parseGoDuration(v) / 1e6) / 1000;
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const withZone = /(Z|[+-]\d{2}:?\d{2})$/i.test(v) || v.length === 10 ? v : v + 'Z';
    const t = Date.parse(withZone);
    if (!Number.isNaN(t)) return t / 1000;
  }
  throw invalidArgument(`failed to parse value as time or duration: "${value}"`);
}

/** `dangling` filter value: true/false (1/0 too); anything else is 400 as in dockerd. */
export function parseDangling(values: string[] | undefined): boolean | undefined {
  if (!values || values.length === 0) return undefined;
  const set = new Set(values.map((v) => v.toLowerCase()));
  for (const v of set) if (!['true', 'false', '1', '0'].includes(v)) throw invalidArgument(`Invalid filter 'dangling=${v}'`);
  return set.has('true') || set.has('1');
}
