import type { EngineEvent } from './events';

export type EventFilters = Map<string, string[]>;

export const EVENT_FILTER_KEYS = ['container', 'daemon', 'event', 'image', 'label', 'network', 'plugin', 'scope', 'type', 'volume', 'config', 'node', 'secret', 'service'] as const;

function anyOf(values: string[] | undefined, candidates: (string | undefined)[]): boolean {
  if (!values || values.length === 0) return true;
  return values.some((v) => candidates.some((c) => c !== undefined && (c === v || (v.length >= 1 && c.startsWith(v) && /^[a-f0-9]+$/.test(v) && c.length === 64))));
}

/** dockerd's event filter semantics: values of one key are OR-ed, keys are AND-ed. */
export function matchEvent(e: EngineEvent, f: EventFilters): boolean {
  const attrs = e.Actor.Attributes;
  const action = e.Action.split(':')[0];
  if (!anyOf(f.get('type'), [e.Type])) return false;
  if (!anyOf(f.get('event'), [e.Action, action])) return false;
  if (!anyOf(f.get('scope'), [e.scope])) return false;
  if (f.has('container') && (e.Type !== 'container' || !anyOf(f.get('container'), [e.Actor.ID, attrs.name]))) return false;
  if (f.has('image')) {
    const imgCandidates = e.Type === 'image' ? [e.Actor.ID, attrs.name] : e.Type === 'container' ? [attrs.image] : [];
    if (!anyOf(f.get('image'), imgCandidates)) return false;
  }
  if (f.has('volume') && (e.Type !== 'volume' || !anyOf(f.get('volume'), [e.Actor.ID, attrs.name]))) return false;
  if (f.has('network') && (e.Type !== 'network' || !anyOf(f.get('network'), [e.Actor.ID, attrs.name]))) return false;
  if (f.has('daemon') && (e.Type !== 'daemon' || !anyOf(f.get('daemon'), [e.Actor.ID, attrs.name]))) return false;
  const labels = f.get('label');
  if (labels && labels.length) {
    const ok = labels.every((l) => {
      const eq = l.indexOf('=');
      return eq < 0 ? l in attrs : attrs[l.slice(0, eq)] === l.slice(eq + 1);
    });
    if (!ok) return false;
  }
  return true;
}

/**
 * `since`/`until` as the CLI sends them: unix seconds with an optional fraction (`1700000000.123456789`).
 * Returns nanoseconds.
 */
export function parseEventTime(v: string | null): number | undefined {
  if (v === null || v === '') return undefined;
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(v);
  if (!m) return undefined;
  const frac = (m[2] ?? '').padEnd(9, '0');
  return Number(BigInt(m[1]) * 1_000_000_000n + BigInt(frac || '0'));
}
