/**
 * The classic builder's step cache (table `build_cache`, migration 4). A key names what a step did: the
 * image it ran on (config digest, or `scratch:<platform>`), the instruction after variable expansion, and
 * the checksum of the content it copied. The value is the config the step produced, byte for byte, so a
 * cache hit gives the very same image ID, and the chain IDs it stands on. A row whose layers were removed
 * since (by `rmi`) is a miss and is dropped.
 */
import { createHash } from 'node:crypto';
import type { ContentStore, ImageStore, LayerStore } from '../image/types';
import type { Db } from '../store/db';
import { isConflict } from '../errors';

export interface CachedStep {
  key: string;
  imageId: string;
  /** the config JSON exactly as it hashes to imageId */
  config: string;
  layers: string[];
  layer: string | null;
}

interface Row {
  key: string;
  image_id: string;
  config: string;
  layers: string;
  layer: string | null;
}

export function cacheKey(parentId: string, instruction: string, checksum = ''): string {
  return createHash('sha256').update(JSON.stringify([parentId, instruction, checksum])).digest('hex');
}

export class BuildCache {
  constructor(private readonly db: Db, private readonly layers: LayerStore) {}

  get(key: string): CachedStep | undefined {
    const row = this.db.prepare('SELECT key, image_id, config, layers, layer FROM build_cache WHERE key = ?').get(key) as Row | undefined;
    if (!row) return undefined;
    const layers = JSON.parse(row.layers) as string[];
    if (!layers.every((c) => this.layers.get(c))) {
      this.db.prepare('DELETE FROM build_cache WHERE key = ?').run(key);
      return undefined;
    }
    this.db.prepare('UPDATE build_cache SET last_used = ? WHERE key = ?').run(Date.now(), key);
    return { key, imageId: row.image_id, config: row.config, layers, layer: row.layer };
  }

  put(parentId: string, step: CachedStep): void {
    const now = Date.now();
    this.db.prepare(`INSERT OR REPLACE INTO build_cache (key, parent_id, image_id, config, layers, layer, created_at, last_used)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?)`).run(step.key, parentId, step.imageId, step.config, JSON.stringify(step.layers), step.layer, now, now);
  }

  delete(keys: string[]): void {
    const del = this.db.prepare('DELETE FROM build_cache WHERE key = ?');
    this.db.transaction(() => { for (const k of keys) del.run(k); })();
  }

  /** Chain IDs some cache row still names as the layer it added. */
  cachedLayers(): Set<string> {
    const rows = this.db.prepare('SELECT DISTINCT layer FROM build_cache WHERE layer IS NOT NULL').all() as { layer: string }[];
    return new Set(rows.map((r) => r.layer));
  }

  count(): number {
    return (this.db.prepare('SELECT COUNT(*) AS n FROM build_cache').get() as { n: number }).n;
  }

  clear(): void {
    this.db.prepare('DELETE FROM build_cache').run();
  }
}

/**
 * Removes `candidates` (chain IDs) that no image and no cache row uses, top layers first, with the blobs
 * nothing references any more. Returns the unpacked bytes freed.
 */
export async function releaseLayers(d: { db: Db; layers: LayerStore; images: ImageStore; content: ContentStore; cache: BuildCache },
  candidates: Iterable<string>): Promise<number> {
  const used = d.images.usedLayers();
  const cached = d.cache.cachedLayers();
  const pending = new Set([...candidates].filter((c) => !used.has(c) && !cached.has(c)));
  let freed = 0;
  const blobs = new Set<string>();
  let progress = true;
  while (pending.size && progress) {
    progress = false;
    for (const chainId of [...pending]) {
      const info = d.layers.get(chainId);
      if (!info) { pending.delete(chainId); progress = true; continue; }
      try {
        await d.layers.remove(chainId);
      } catch (err) {
        if (isConflict(err)) continue; // a child is still there: try again after it went
        throw err;
      }
      pending.delete(chainId);
      progress = true;
      freed += info.size;
      if (info.blobDigest) blobs.add(info.blobDigest);
    }
  }
  const referenced = new Set<string>();
  for (const r of d.db.prepare('SELECT blob_digest AS d FROM layers WHERE blob_digest IS NOT NULL UNION SELECT digest AS d FROM image_manifests UNION SELECT id AS d FROM images').all() as { d: string }[]) referenced.add(r.d);
  for (const b of blobs) if (!referenced.has(b)) await d.content.delete(b).catch(() => {});
  return freed;
}
