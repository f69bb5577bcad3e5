import { notFound } from '../errors';
import { familiarString, parseWithDefaultTag } from '../image/reference';
import type { ContentStore, ImageRecord, ImageStore, LayerStore, ProgressMessage } from '../image/types';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import type { EventLog } from './events';
import type { PullOptions, PullResult } from './pull';

/** What the image service is built from (the daemon wires real ones; tests build them over a temp root). */
export interface ImageServiceDeps {
  dataRoot: string;
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  events: EventLog;
  puller: { pull(ref: string, opts: PullOptions, progress: (m: ProgressMessage) => void): Promise<PullResult> };
  log: Logger;
  /** IDs of containers (any state) created from the image; containers arrive later, default none */
  containersUsing?: (imageId: string) => string[];
}

/** dockerd's "No such image" wording: a name gets its default tag, anything else is echoed. */
export function noSuchImage(ref: string): Error {
  let shown = ref;
  try {
    if (!/^(sha256:)?[a-f0-9]{1,64}$/.test(ref)) shown = familiarString(parseWithDefaultTag(ref));
  } catch {
    // not a reference: show what was asked for
  }
  return notFound(`No such image: ${shown}`, 'BERTH_ERR_NO_SUCH_IMAGE');
}

export function mustResolve(images: ImageStore, ref: string): ImageRecord {
  const img = images.resolve(ref);
  if (!img) throw noSuchImage(ref);
  return img;
}

/** Was `ref` an ID (full, short, with or without `sha256:`) of `imageId`? */
export function isIdPrefix(imageId: string, ref: string): boolean {
  return ref.length > 0 && (imageId.startsWith(ref) || imageId.slice('sha256:'.length).startsWith(ref));
}

/** Blobs that image rows, layers and kept manifests still reference. */
export function referencedBlobs(db: Db): Set<string> {
  const out = new Set<string>();
  for (const r of db.prepare('SELECT id FROM images').all() as { id: string }[]) out.add(r.id);
  for (const r of db.prepare('SELECT blob_digest FROM layers WHERE blob_digest IS NOT NULL').all() as { blob_digest: string }[]) out.add(r.blob_digest);
  for (const r of db.prepare('SELECT digest FROM image_manifests').all() as { digest: string }[]) out.add(r.digest);
  return out;
}
