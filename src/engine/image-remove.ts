/**
 * Image removal and prune with dockerd's rules: removing by name untags, and the image goes with its last
 * reference; removing by ID removes every reference only when that is unambiguous (or forced); images used
 * by containers are kept. Layers no image uses any more are removed top down, then blobs nothing references.
 */
import { conflict, isConflict } from '../errors';
import { familiarize, fullName, fullString, parseReference } from '../image/reference';
import type { ImageRecord } from '../image/types';
import { shortId } from '../util/ids';
import { isIdPrefix, mustResolve, referencedBlobs, type ImageServiceDeps } from './image-deps';
import { matchLabels, matchNoLabels, parseDangling, parseFilterTime, type Filters } from './image-filters';
import { createdSeconds } from './image-views';

export interface DeleteItem {
  Untagged?: string;
  Deleted?: string;
}

export interface RemoveOptions {
  force?: boolean;
  noprune?: boolean;
}

interface Outcome {
  records: DeleteItem[];
  reclaimed: number;
}

function storedRef(refText: string): string {
  const r = parseReference(refText);
  return r.digest ? `${fullName(r)}@${r.digest}` : fullString(r);
}

function repoOf(ref: string): string {
  return fullName(parseReference(ref));
}

export class ImageRemover {
  constructor(private readonly d: ImageServiceDeps) {}

  private using(id: string): string[] {
    return this.d.containersUsing?.(id) ?? [];
  }

  private untag(img: ImageRecord, ref: string, out: DeleteItem[]): void {
    if (!this.d.images.untag(ref)) return;
    out.push({ Untagged: familiarize(ref) });
    this.d.events.emit('image', 'untag', img.id, { name: img.id });
  }

  async remove(refText: string, opts: RemoveOptions = {}): Promise<DeleteItem[]> {
    return (await this.removeWithOutcome(refText, opts)).records;
  }

  async removeWithOutcome(refText: string, opts: RemoveOptions): Promise<Outcome> {
    const { images } = this.d;
    let img = mustResolve(images, refText);
    const records: DeleteItem[] = [];
    const using = this.using(img.id);
    const force = !!opts.force;
    const short = shortId(img.id);

    if (!isIdPrefix(img.id, refText)) {
      const ref = storedRef(refText);
      const refs = [...img.repoTags, ...img.repoDigests];
      // dockerd's "single reference": at most one tag, and every reference (tags + digests) in one repository
      const single = img.repoTags.length <= 1 && new Set(refs.map(repoOf)).size === 1;
      if (using.length && single && !force) {
        throw conflict(`conflict: unable to remove repository reference "${refText}" (must force) - container ${shortId(using[0])} is using its referenced image ${short}`);
      }
      this.untag(img, ref, records);
      img = images.get(img.id)!;
      // a removed tag takes the digest references of its repository along once no tag of it is left
      if (!parseReference(refText).digest && !img.repoTags.some((t) => repoOf(t) === repoOf(ref))) {
        for (const dref of img.repoDigests.filter((r) => repoOf(r) === repoOf(ref))) this.untag(img, dref, records);
        img = images.get(img.id)!;
      }
      if (img.repoTags.length + img.repoDigests.length > 0 || using.length) return { records, reclaimed: 0 };
      // the last reference went: delete the image unless something depends on it (then it stays, untagged)
      if (this.children(img.id).length) return { records, reclaimed: 0 };
    } else {
      if (using.length && !force) {
        throw conflict(`conflict: unable to delete ${short} (must be forced) - image is being used by stopped container ${shortId(using[0])}`);
      }
      const repos = new Set([...img.repoTags, ...img.repoDigests].map(repoOf));
      if ((img.repoTags.length > 1 || repos.size > 1) && !force) {
        throw conflict(`conflict: unable to delete ${short} (must be forced) - image is referenced in multiple repositories`);
      }
      if (this.children(img.id).length) {
        throw conflict(`conflict: unable to delete ${short} (cannot be forced) - image has dependent child images`);
      }
      for (const ref of [...img.repoTags, ...img.repoDigests]) this.untag(img, ref, records);
      if (using.length) return { records, reclaimed: 0 };
    }
    const reclaimed = await this.deleteImage(img, records);
    let total = reclaimed;
    if (!opts.noprune && img.parent) total += await this.pruneParent(img.parent, records);
    return { records, reclaimed: total };
  }

  private children(id: string): string[] {
    return (this.d.db.prepare('SELECT id FROM images WHERE parent = ?').all(id) as { id: string }[]).map((r) => r.id);
  }

  /** Untagged parents with no other children go too (dockerd's prune of parents). */
  private async pruneParent(id: string, records: DeleteItem[]): Promise<number> {
    const parent = this.d.images.get(id);
    if (!parent || parent.repoTags.length || parent.repoDigests.length || this.children(id).length || this.using(id).length) return 0;
    let n = await this.deleteImage(parent, records);
    if (parent.parent) n += await this.pruneParent(parent.parent, records);
    return n;
  }

  /** Deletes the row, then layers and blobs left unused. Returns bytes reclaimed. */
  async deleteImage(img: ImageRecord, records: DeleteItem[]): Promise<number> {
    const { db, images, layers, content, events, log } = this.d;
    const manifests = (db.prepare('SELECT digest FROM image_manifests WHERE image_id = ?').all(img.id) as { digest: string }[]).map((r) => r.digest);
    images.delete(img.id);
    records.push({ Deleted: img.id });
    events.emit('image', 'delete', img.id, { name: img.id });
    const used = images.usedLayers();
    const blobs = new Set<string>([img.id, ...manifests]);
    let reclaimed = 0;
    for (const chainId of [...img.layers].reverse()) {
      if (used.has(chainId)) break;
      const info = layers.get(chainId);
      if (!info) continue;
      try {
        await layers.remove(chainId);
      } catch (err) {
        if (isConflict(err)) break; // a layer above it, from an unfinished pull or build, still needs it
        throw err;
      }
      records.push({ Deleted: chainId });
      reclaimed += info.size;
      if (info.blobDigest) blobs.add(info.blobDigest);
    }
    const referenced = referencedBlobs(db);
    for (const b of blobs) {
      if (referenced.has(b)) continue;
      await content.delete(b).catch((err) => log.warn('could not delete blob', { digest: b, error: String(err) }));
    }
    return reclaimed;
  }

  /** POST /images/prune: dangling (untagged) images by default, every unused image with dangling=false. */
  async prune(filters: Filters = new Map()): Promise<{ ImagesDeleted: DeleteItem[] | null; SpaceReclaimed: number }> {
    const danglingOnly = parseDangling(filters.get('dangling')) ?? true;
    const until = filters.get('until')?.map((v) => parseFilterTime(v));
    const labels = filters.get('label') ?? [];
    const notLabels = filters.get('label!') ?? [];
    const deleted: DeleteItem[] = [];
    let reclaimed = 0;
    const candidates = this.d.images.list().filter((img) => {
      if (danglingOnly && img.repoTags.length) return false;
      if (until && !until.every((u) => createdSeconds(img) < u)) return false;
      const l = img.config.config?.Labels;
      return matchLabels(l, labels) && matchNoLabels(l, notLabels) && this.using(img.id).length === 0;
    });
    // children first, so their parents become removable
    candidates.sort((a, b) => this.depth(b) - this.depth(a));
    for (const img of candidates) {
      if (!this.d.images.get(img.id) || this.children(img.id).length) continue;
      try {
        const out = await this.removeWithOutcome(img.id, { force: true });
        deleted.push(...out.records);
        reclaimed += out.reclaimed;
      } catch (err) {
        if (!isConflict(err)) throw err;
        this.d.log.debug('prune skipped an image', { id: img.id, error: String(err) });
      }
    }
    this.d.events.emit('image', 'prune', '', { reclaimed: String(reclaimed) });
    return { ImagesDeleted: deleted.length ? deleted : null, SpaceReclaimed: reclaimed };
  }

  private depth(img: ImageRecord): number {
    let n = 0;
    for (let p = img.parent; p && n < 1000; p = this.d.images.get(p)?.parent ?? '') n++;
    return n;
  }
}

