/**
 * Images in SQLite: `images` rows (id = config digest, config JSON, chain IDs), `image_tags`
 * (full ref → id), `image_digests` (name@digest → id, manifest digest), `image_manifests` (blobs kept for
 * push/save). A tag names one image at a time: tagging moves it from its previous holder.
 */
import { invalidArgument, notFound } from '../errors';
import type { Db } from '../store/db';
import { fullName, fullString, parseReference, type Reference } from './reference';
import type { ImageConfig, ImageRecord, ImageStore, NewImage } from './types';

interface ImageRow {
  id: string;
  config: string;
  layers: string;
  created: string;
  size: number;
  parent: string;
  added_at: number;
}

const FULL_ID = /^sha256:[a-f0-9]{64}$/;
const HEX_PREFIX = /^(?:sha256:)?([a-f0-9]{1,64})$/;
const ZERO_TIME = '0001-01-01T00:00:00Z';

function parseRef(ref: string): Reference | undefined {
  try {
    return parseReference(ref);
  } catch {
    return undefined;
  }
}

/** Tag refs are stored in full form: `docker.io/library/busybox:latest`. */
function tagKey(ref: string): string {
  const r = parseReference(ref);
  if (r.digest) throw invalidArgument('refusing to create a tag with a digest reference');
  return fullString(r);
}

export class SqliteImageStore implements ImageStore {
  constructor(private readonly db: Db) {}

  private records(rows: ImageRow[]): ImageRecord[] {
    if (rows.length === 0) return [];
    const tags = new Map<string, string[]>();
    const digests = new Map<string, string[]>();
    const push = (m: Map<string, string[]>, id: string, ref: string) => {
      const list = m.get(id);
      if (list) list.push(ref);
      else m.set(id, [ref]);
    };
    const one = rows.length === 1 ? rows[0].id : undefined;
    const tagRows = (one
      ? this.db.prepare('SELECT ref, image_id FROM image_tags WHERE image_id = ? ORDER BY ref').all(one)
      : this.db.prepare('SELECT ref, image_id FROM image_tags ORDER BY ref').all()) as { ref: string; image_id: string }[];
    for (const t of tagRows) push(tags, t.image_id, t.ref);
    const digestRows = (one
      ? this.db.prepare('SELECT ref, image_id FROM image_digests WHERE image_id = ? ORDER BY ref').all(one)
      : this.db.prepare('SELECT ref, image_id FROM image_digests ORDER BY ref').all()) as { ref: string; image_id: string }[];
    for (const d of digestRows) push(digests, d.image_id, d.ref);
    return rows.map((r) => ({
      id: r.id,
      config: JSON.parse(r.config) as ImageConfig,
      layers: JSON.parse(r.layers) as string[],
      created: r.created,
      size: r.size,
      parent: r.parent,
      repoTags: tags.get(r.id) ?? [],
      repoDigests: digests.get(r.id) ?? [],
      addedAt: r.added_at,
    }));
  }

  get(id: string): ImageRecord | undefined {
    const full = /^[a-f0-9]{64}$/.test(id) ? `sha256:${id}` : id;
    const row = this.db.prepare('SELECT * FROM images WHERE id = ?').get(full) as ImageRow | undefined;
    return row ? this.records([row])[0] : undefined;
  }

  list(): ImageRecord[] {
    return this.records(this.db.prepare('SELECT * FROM images ORDER BY added_at DESC, id').all() as ImageRow[]);
  }

  /**
   * In dockerd's order: a full ID; a name (tag or digest reference); then a unique ID prefix. An ambiguous
   * prefix resolves to nothing.
   */
  resolve(refOrId: string): ImageRecord | undefined {
    const s = refOrId.trim();
    if (FULL_ID.test(s)) return this.get(s);
    if (/^[a-f0-9]{64}$/.test(s)) return this.get(`sha256:${s}`);
    const ref = parseRef(s);
    if (ref) {
      const row = ref.digest
        ? this.db.prepare('SELECT image_id FROM image_digests WHERE ref = ?').get(`${fullName(ref)}@${ref.digest}`)
        : this.db.prepare('SELECT image_id FROM image_tags WHERE ref = ?').get(fullString(ref));
      if (row) return this.get((row as { image_id: string }).image_id);
    }
    const m = HEX_PREFIX.exec(s);
    if (!m) return undefined;
    const lo = `sha256:${m[1]}`;
    const found = this.db.prepare('SELECT id FROM images WHERE id >= ? AND id < ? LIMIT 2').all(lo, `${lo}\u{7f}`) as { id: string }[];
    return found.length === 1 ? this.get(found[0].id) : undefined;
  }

  add(img: NewImage): ImageRecord {
    const id = img.configDigest;
    if (!FULL_ID.test(id)) throw invalidArgument(`invalid image ID ${id}`);
    if (img.layers.length !== img.config.rootfs.diff_ids.length) {
      throw invalidArgument(`image ${id} has ${img.layers.length} layers but ${img.config.rootfs.diff_ids.length} diff IDs`);
    }
    const tags = (img.tags ?? []).map(tagKey);
    const run = this.db.transaction(() => {
      const sizeOf = this.db.prepare('SELECT size FROM layers WHERE chain_id = ?');
      let size = 0;
      for (const chainId of img.layers) size += ((sizeOf.get(chainId) as { size: number } | undefined)?.size ?? 0);
      this.db.prepare(`INSERT OR IGNORE INTO images (id, config, layers, created, size, parent, added_at)
        VALUES (?, ?, ?, ?, ?, ?, ?)`).run(id, JSON.stringify(img.config), JSON.stringify(img.layers),
        img.config.created ?? ZERO_TIME, size, img.parent ?? '', Date.now());
      const tag = this.db.prepare('INSERT OR REPLACE INTO image_tags (ref, image_id, added_at) VALUES (?, ?, ?)');
      for (const t of tags) tag.run(t, id, Date.now());
      const digest = this.db.prepare('INSERT OR REPLACE INTO image_digests (ref, image_id, manifest_digest) VALUES (?, ?, ?)');
      for (const d of img.repoDigests ?? []) digest.run(d.ref, id, d.manifestDigest);
      const manifest = this.db.prepare('INSERT OR IGNORE INTO image_manifests (image_id, digest, media_type) VALUES (?, ?, ?)');
      for (const m of img.manifests ?? []) manifest.run(id, m.digest, m.mediaType);
    });
    run();
    return this.get(id)!;
  }

  tag(id: string, ref: string): void {
    const key = tagKey(ref);
    const image = this.get(id);
    if (!image) throw notFound(`No such image: ${id}`);
    this.db.prepare('INSERT OR REPLACE INTO image_tags (ref, image_id, added_at) VALUES (?, ?, ?)').run(key, image.id, Date.now());
  }

  untag(ref: string): boolean {
    const r = parseReference(ref);
    const res = r.digest
      ? this.db.prepare('DELETE FROM image_digests WHERE ref = ?').run(`${fullName(r)}@${r.digest}`)
      : this.db.prepare('DELETE FROM image_tags WHERE ref = ?').run(fullString(r));
    return res.changes > 0;
  }

  delete(id: string): void {
    this.db.transaction(() => {
      for (const table of ['image_tags', 'image_digests', 'image_manifests']) {
        this.db.prepare(`DELETE FROM ${table} WHERE image_id = ?`).run(id);
      }
      this.db.prepare('DELETE FROM images WHERE id = ?').run(id);
    })();
  }

  usedLayers(): Set<string> {
    const used = new Set<string>();
    for (const r of this.db.prepare('SELECT layers FROM images').all() as { layers: string }[]) {
      for (const chainId of JSON.parse(r.layers) as string[]) used.add(chainId);
    }
    return used;
  }
}
