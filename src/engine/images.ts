/**
 * The image service: what the Engine API's image routes call. Returns plain data in the API's shapes;
 * the work is split by concern (views, remove/prune, load, import, save) across image-*.ts.
 */
import type { Readable } from 'node:stream';
import { invalidArgument } from '../errors';
import { familiarString, fullString, parseReference } from '../image/reference';
import type { ImageRecord, ProgressMessage } from '../image/types';
import { mustResolve, noSuchImage, referencedBlobs, type ImageServiceDeps } from './image-deps';
import { globToRegExp, matchLabels, matchReference, parseDangling, parseFilterTime, type Filters } from './image-filters';
import { ImageImporter, type ImportOptions } from './image-import';
import { ImageLoader } from './image-load';
import { ImageRemover, type DeleteItem, type RemoveOptions } from './image-remove';
import { ImageSaver } from './image-save';
import {
  createdSeconds, historyView, inspectView, summarize, ZERO_TIME, type HistoryItem, type ImageSummary,
} from './image-views';
import type { PullOptions, PullResult } from './pull';

export type { ImageServiceDeps } from './image-deps';
export type { DeleteItem, RemoveOptions } from './image-remove';
export type { ImportOptions } from './image-import';
export type { HistoryItem, ImageSummary } from './image-views';

export interface ListOptions {
  all?: boolean;
  filters?: Filters;
  digests?: boolean;
  /** negotiated API version: below 1.44 untagged images show `<none>:<none>` */
  apiVersion?: string;
}

export class ImageService {
  private readonly remover: ImageRemover;
  private readonly loader: ImageLoader;
  private readonly importer: ImageImporter;
  private readonly saver: ImageSaver;

  constructor(private readonly d: ImageServiceDeps) {
    this.remover = new ImageRemover(d);
    this.loader = new ImageLoader(d);
    this.importer = new ImageImporter(d);
    this.saver = new ImageSaver(d);
  }

  /** The image a user reference names (ID, short ID, name[:tag], name@digest); NotFound otherwise. */
  resolve(ref: string): ImageRecord {
    return mustResolve(this.d.images, ref);
  }

  private using(id: string): string[] {
    return this.d.containersUsing?.(id) ?? [];
  }

  private childCounts(): Map<string, number> {
    const out = new Map<string, number>();
    for (const r of this.d.db.prepare("SELECT parent FROM images WHERE parent != ''").all() as { parent: string }[]) {
      out.set(r.parent, (out.get(r.parent) ?? 0) + 1);
    }
    return out;
  }

  /** GET /images/json */
  list(opts: ListOptions = {}): ImageSummary[] {
    const f = opts.filters ?? new Map<string, string[]>();
    const dangling = parseDangling(f.get('dangling'));
    const labels = f.get('label') ?? [];
    const patterns = f.get('reference') ?? [];
    for (const p of patterns) globToRegExp(p);
    const before = (f.get('before') ?? []).map((r) => createdSeconds(this.resolve(r)));
    const since = (f.get('since') ?? []).map((r) => createdSeconds(this.resolve(r)));
    const until = (f.get('until') ?? []).map((v) => parseFilterTime(v));
    const children = this.childCounts();
    const out: ImageSummary[] = [];
    for (const img of this.d.images.list()) {
      const created = createdSeconds(img);
      if (!before.every((b) => created < b) || !since.every((s) => created > s) || !until.every((u) => created < u)) continue;
      if (!matchLabels(img.config.config?.Labels, labels)) continue;
      let tags = img.repoTags;
      let digests = img.repoDigests;
      if (patterns.length) {
        tags = tags.filter((t) => patterns.some((p) => matchReference(p, t)));
        digests = digests.filter((dg) => patterns.some((p) => matchReference(p, dg)));
        if (tags.length + digests.length === 0) continue;
      }
      const hasChildren = (children.get(img.id) ?? 0) > 0;
      if (tags.length + digests.length === 0) {
        if (!opts.all && hasChildren) continue;
        if (dangling === false) continue;
      } else if (dangling === true && (tags.length > 0 || hasChildren)) continue;
      out.push(summarize(img, { tags, digests, apiVersion: opts.apiVersion }));
    }
    return out.sort((a, b) => b.Created - a.Created);
  }

  /** GET /images/{name}/json */
  inspect(ref: string, apiVersion?: string): Record<string, unknown> {
    const img = this.resolve(ref);
    const layers = img.layers.flatMap((c) => {
      const info = this.d.layers.get(c);
      return info ? [info] : [];
    });
    const row = this.d.db.prepare('SELECT MAX(added_at) AS t FROM image_tags WHERE image_id = ?').get(img.id) as { t: number | null };
    const lastTagTime = row.t ? new Date(row.t).toISOString() : ZERO_TIME;
    return inspectView(img, { layers, overlayRoot: this.d.layers.root, lastTagTime, apiVersion });
  }

  /** GET /images/{name}/history */
  history(ref: string): HistoryItem[] {
    const img = this.resolve(ref);
    return historyView(img, (chainId) => this.d.layers.get(chainId)?.size ?? 0);
  }

  /** POST /images/{name}/tag */
  tag(source: string, repo: string, tag?: string): void {
    if (!repo) throw invalidArgument('repository name must have at least one component');
    const ref = parseReference(tag ? `${repo}:${tag}` : repo);
    if (ref.digest) throw invalidArgument('refusing to create a tag with a digest reference');
    if (!ref.tag) ref.tag = 'latest';
    const img = this.resolve(source);
    this.d.images.tag(img.id, fullString(ref));
    this.d.events.emit('image', 'tag', img.id, { name: familiarString(ref) });
  }

  /** DELETE /images/{name} */
  remove(ref: string, opts: RemoveOptions = {}): Promise<DeleteItem[]> {
    return this.remover.remove(ref, opts);
  }

  /** POST /images/prune */
  prune(opts: { filters?: Filters } = {}): Promise<{ ImagesDeleted: DeleteItem[] | null; SpaceReclaimed: number }> {
    return this.remover.prune(opts.filters);
  }

  /** POST /images/create?fromImage= (the puller reports every progress line itself) */
  pull(ref: string, opts: PullOptions, progress: (m: ProgressMessage) => void): Promise<PullResult> {
    return this.d.puller.pull(ref, opts, progress);
  }

  /** GET /images/get, /images/{name}/get: NotFound for any unknown name before the stream starts. */
  save(names: string[]): Promise<Readable> {
    return this.saver.save(names);
  }

  /** POST /images/load */
  load(tar: Readable, opts: { quiet?: boolean }, progress: (m: ProgressMessage) => void): Promise<void> {
    return this.loader.load(tar, opts, progress);
  }

  /** POST /images/create?fromSrc=- (body) */
  import(source: Readable, opts: ImportOptions): Promise<ImageRecord> {
    return this.importer.import(source, '-', opts);
  }

  /** POST /images/create?fromSrc=<url> */
  importFromUrl(url: string, opts: ImportOptions, progress: (m: ProgressMessage) => void, signal?: AbortSignal): Promise<ImageRecord> {
    return this.importer.importFromUrl(url, opts, progress, signal);
  }

  /** The images part of GET /system/df. */
  async diskUsage(): Promise<{ LayersSize: number; Images: ImageSummary[] }> {
    const all = this.d.images.list();
    const users = new Map<string, number>();
    for (const img of all) for (const c of img.layers) users.set(c, (users.get(c) ?? 0) + 1);
    const layerSize = new Map(this.d.layers.list().map((l) => [l.chainId, l.size]));
    let layersSize = 0;
    for (const s of layerSize.values()) layersSize += s;
    const images = all.map((img) => summarize(img, {
      tags: img.repoTags,
      digests: img.repoDigests,
      containers: this.using(img.id).length,
      sharedSize: img.layers.reduce((n, c) => n + ((users.get(c) ?? 0) > 1 ? layerSize.get(c) ?? 0 : 0), 0),
    }));
    return { LayersSize: layersSize, Images: images.sort((a, b) => b.Created - a.Created) };
  }

  /**
   * Startup: blobs no image, layer or kept manifest references (left by a crash between publishing blobs
   * and the registering transaction) are deleted.
   */
  async collectGarbage(): Promise<void> {
    const referenced = referencedBlobs(this.d.db);
    for (const digest of await this.d.content.list()) {
      if (!referenced.has(digest)) await this.d.content.delete(digest);
    }
  }
}

export { noSuchImage };
