/**
 * `docker save`: picks the images and the names to save them under (dockerd's rules: an ID saves no name,
 * `repo` saves every tag of that repository, `repo:tag` that tag), then streams the archive. Layers come
 * from their stored blobs, decompressed — never re-packed from the unpacked dir — so diff IDs match.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { internal } from '../errors';
import { writeImageArchive, type OpenedLayer, type SaveImage } from '../image/archive/write';
import { createDecompressor, detectCompression } from '../image/compression';
import { fullName, fullString, parseReference } from '../image/reference';
import type { ImageRecord } from '../image/types';
import { isIdPrefix, noSuchImage, type ImageServiceDeps } from './image-deps';

interface Selected {
  img: ImageRecord;
  refs: string[];
}

export class ImageSaver {
  constructor(private readonly d: ImageServiceDeps) {}

  /** Resolves every name first: an unknown one is NotFound before any byte is sent. */
  select(names: string[]): Selected[] {
    const byId = new Map<string, Selected>();
    const add = (img: ImageRecord, ref?: string) => {
      const s = byId.get(img.id) ?? { img, refs: [] };
      if (ref && !s.refs.includes(ref)) s.refs.push(ref);
      byId.set(img.id, s);
    };
    for (const name of names) {
      let ref;
      try {
        ref = parseReference(name);
      } catch {
        ref = undefined;
      }
      if (ref && !ref.tag && !ref.digest) {
        const repo = fullName(ref);
        const tagged = this.d.images.list().flatMap((img) => img.repoTags.filter((t) => t.startsWith(`${repo}:`)).map((t) => [img, t] as const));
        if (tagged.length) {
          for (const [img, t] of tagged) add(img, t);
          continue;
        }
      }
      const img = this.d.images.resolve(name);
      if (!img) throw noSuchImage(name);
      if (isIdPrefix(img.id, name) || !ref || ref.digest) add(img);
      else add(img, fullString(ref));
    }
    return [...byId.values()];
  }

  async save(names: string[]): Promise<Readable> {
    if (names.length === 0) throw noSuchImage('');
    const selected = this.select(names);
    const images: SaveImage[] = [];
    for (const s of selected) {
      const configBytes = await this.d.content.read(s.img.id).catch(() => {
        throw internal(`the configuration blob of image ${s.img.id} is missing from the content store`);
      });
      images.push({
        id: s.img.id, configBytes, diffIds: s.img.config.rootfs.diff_ids, refs: s.refs,
        openLayer: (i) => this.openLayer(s.img, i),
      });
    }
    return writeImageArchive(images);
  }

  /** The layer as an uncompressed tar with its exact size: a plain blob as is, others via a temp file. */
  private async openLayer(img: ImageRecord, i: number): Promise<OpenedLayer> {
    const chainId = img.layers[i];
    const diffId = img.config.rootfs.diff_ids[i];
    const info = this.d.layers.get(chainId);
    if (!info) throw internal(`layer ${chainId} of image ${img.id} is missing`);
    const blob = info.blobDigest && (await this.d.content.has(info.blobDigest)) ? info.blobDigest : undefined;
    let source: Readable;
    if (blob) {
      const file = await this.d.content.path(blob);
      const fh = await fs.open(file, 'r');
      const head = Buffer.alloc(4);
      try {
        await fh.read(head, 0, 4, 0);
      } finally {
        await fh.close();
      }
      const kind = detectCompression(head);
      if (kind === 'none' && blob === diffId) {
        return { stream: createReadStream(file, { highWaterMark: 1024 * 1024 }), size: (await fs.stat(file)).size, release: async () => {} };
      }
      source = createReadStream(file, { highWaterMark: 1024 * 1024 }).pipe(createDecompressor(kind));
    } else {
      // no blob kept (a layer made here): its export is the best there is, and may not hash to the diff ID
      source = this.d.layers.exportTar(chainId);
    }
    const temp = path.join(this.d.dataRoot, 'tmp', `save-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const counter = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        hash.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    });
    try {
      await pipeline(source, counter, createWriteStream(temp, { mode: 0o600 }));
      const got = `sha256:${hash.digest('hex')}`;
      if (got !== diffId) {
        if (blob) throw internal(`layer blob ${blob} unpacks to ${got}, the image config says ${diffId}`);
        this.d.log.warn('exported layer does not match its diff ID', { chainId, diffId, got });
      }
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    return {
      stream: createReadStream(temp, { highWaterMark: 1024 * 1024 }),
      size,
      release: () => fs.rm(temp, { force: true }),
    };
  }
}
