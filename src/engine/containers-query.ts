/** The read-only views of the container service: `ps` rows and `inspect`. */
import * as path from 'node:path';
import type { ImageStore, LayerStore } from '../image/types';
import { hasNetworkListFilters, matchesNetworkListFilters } from './container-list-filters';
import { containerSizes, withSizes, type ContainerSizes } from './container-sizes';
import type { ContainerResources } from './container-resources';
import type { ContainerStore, ContainerRecord } from './containers-store';
import type { ContainerPaths } from './containers-task';
import { inspectView, matchesFilters, summaryView } from './containers-view';

type Health = { Status: string; FailingStreak: number; Log: unknown[] };

export interface ContainerQueryDeps {
  store: ContainerStore;
  images: ImageStore;
  layers: LayerStore;
  resources: ContainerResources;
  paths: ContainerPaths;
  health?(id: string): Health | undefined;
}

export interface ListOptions {
  all?: boolean;
  limit?: number;
  filters?: Map<string, string[]>;
}

const isUp = (c: ContainerRecord) => c.state.status === 'running' || c.state.status === 'paused' || c.state.status === 'restarting';

/** `GET /containers/json` rows, newest first. */
export function listContainers(d: ContainerQueryDeps, opts: ListOptions = {}) {
  const filters = opts.filters ?? new Map<string, string[]>();
  let rows = d.store.list();
  // as dockerd: a limit (ps -n, ps -l) counts stopped containers too
  if (!opts.all && !(opts.limit && opts.limit > 0) && !filters.has('status') && !filters.has('exited')) rows = rows.filter((c) => isUp(c));
  rows = rows.filter((c) => matchesFilters(c, filters, {
    resolveImage: (r) => d.images.resolve(r)?.id,
    find: (r) => { const f = d.store.find(r); return f === 'ambiguous' ? undefined : f; },
  }));
  const health = filters.get('health') ?? [];
  if (health.length) rows = rows.filter((c) => health.includes(d.health?.(c.id)?.Status ?? 'none'));
  const index = d.resources.endpointSettingsIndex();
  if (hasNetworkListFilters(filters)) rows = rows.filter((c) => matchesNetworkListFilters(d.resources.view(c, index), filters));
  if (opts.limit && opts.limit > 0) rows = rows.slice(0, opts.limit);
  const t = Date.now();
  const resolved = new Map<string, string | undefined>(); // most containers share a few image references
  return rows.map((c) => {
    const { record, ports } = d.resources.view(c, index);
    const row = { ...summaryView(record, imageName(d, c, resolved), t), Ports: ports };
    const h = c.state.status === 'running' ? d.health?.(c.id) : undefined;
    if (h) row.Status += h.Status === 'starting' ? ' (health: starting)' : ` (${h.Status})`;
    return row;
  });
}

/** The image column: the reference the container was created with while it still names the same image. */
function imageName(d: ContainerQueryDeps, c: ContainerRecord, resolved: Map<string, string | undefined>): string {
  let id = resolved.get(c.config.Image);
  if (id === undefined && !resolved.has(c.config.Image)) {
    id = d.images.resolve(c.config.Image)?.id;
    resolved.set(c.config.Image, id);
  }
  return id === c.imageId ? c.config.Image : c.imageId;
}

/** `GET /containers/{id}/json` of a found record. */
export function inspectContainer(d: ContainerQueryDeps, c: ContainerRecord) {
  const { paths } = d;
  const image = d.images.get(c.imageId);
  const imageDirs = image && image.layers.length ? d.layers.lowerDirs(image.layers[image.layers.length - 1]) : [];
  const lower = [path.join(paths.dataRoot, 'init'), ...imageDirs].join(':');
  const view = inspectView(d.resources.view(c).record, {
    containerDir: paths.dir(c.id),
    logPath: paths.log(c.id),
    graphDriver: { LowerDir: lower, UpperDir: paths.upper(c.id), WorkDir: paths.work(c.id), MergedDir: paths.rootfs(c.id) },
  });
  const health = d.health?.(c.id);
  return health ? { ...view, State: { ...view.State, Health: health } } : view;
}

/** API rows (list, inspect, /system/df) with `SizeRw` and `SizeRootFs` added (`size=1`). */
export function sizedRows<T extends { Id: string }>(d: ContainerQueryDeps, rows: T[]): Promise<(T & Partial<ContainerSizes>)[]> {
  return withSizes(rows, async (id) => {
    const c = d.store.get(id);
    return c ? containerSizes(c, d.paths.upper(id), d.images) : undefined;
  });
}

/** Container counts for /info and docker info: running includes restarting, as dockerd counts them. */
export function countByState(all: ContainerRecord[]): { total: number; running: number; paused: number; stopped: number } {
  const running = all.filter((c) => c.state.status === 'running' || c.state.status === 'restarting').length;
  const paused = all.filter((c) => c.state.status === 'paused').length;
  return { total: all.length, running, paused, stopped: all.length - running - paused };
}
