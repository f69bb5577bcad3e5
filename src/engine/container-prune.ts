/**
 * POST /containers/prune with dockerd's filters: `until` (timestamp or Go duration before now) and
 * `label` / `label!` (key or key=value). Space reclaimed is the size of each removed container's writable layer.
 */
import { errorMessage, invalidArgument } from '../errors';
import type { Logger } from '../util/logger';
import type { ContainerService } from './containers';
import type { ContainerRecord } from './containers-store';
import type { EventLog } from './events';
import { directorySize } from '../util/dir-size';

const UNITS: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

/** `until`: RFC 3339 / date, unix seconds, or a Go duration ("10m", "1h30m") counted back from now. */
export function parseUntil(v: string, now = Date.now()): number {
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  if (/^(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+$/.test(v)) {
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * UNITS[m[2]];
    return now - ms;
  }
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`failed to parse value as time or duration: "${v}"`);
  return t;
}

function labelMatch(labels: Record<string, string>, expr: string): boolean {
  const eq = expr.indexOf('=');
  const k = eq < 0 ? expr : expr.slice(0, eq);
  if (!(k in labels)) return false;
  return eq < 0 || labels[k] === expr.slice(eq + 1);
}

export function pruneMatches(c: ContainerRecord, filters: Map<string, string[]>, now = Date.now()): boolean {
  const labels = c.config.Labels ?? {};
  for (const u of filters.get('until') ?? []) if (!(Date.parse(c.created) < parseUntil(u, now))) return false;
  for (const l of filters.get('label') ?? []) if (!labelMatch(labels, l)) return false;
  for (const l of filters.get('label!') ?? []) if (labelMatch(labels, l)) return false;
  return true;
}

export async function pruneContainers(
  d: { containers: ContainerService; events: EventLog; log: Logger }, filters: Map<string, string[]>,
): Promise<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }> {
  await d.containers.init();
  const now = Date.now();
  const deleted: string[] = [];
  let reclaimed = 0;
  for (const c of d.containers.store.list()) {
    if (!['created', 'exited', 'dead'].includes(c.state.status) || !pruneMatches(c, filters, now)) continue;
    try {
      const size = await directorySize(d.containers.paths.upper(c.id));
      await d.containers.remove(c.id);
      deleted.push(c.id);
      reclaimed += size;
    } catch (err) {
      d.log.warn('prune could not remove a container', { id: c.id, error: errorMessage(err) });
    }
  }
  d.events.emit('container', 'prune', '', { reclaimed: String(reclaimed) });
  return { ContainersDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
}
