/**
 * `docker load`: the archive is unpacked into tmp/, every manifest and config is validated, then each
 * missing layer is applied into a draft (diff ID verified against the config) and finally all layers and
 * images are registered in one transaction. Any failure removes the drafts and the blobs this load added,
 * so a bad archive changes nothing.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, type ReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidArgument } from '../errors';
import { extractArchive } from '../image/archive/extract';
import { OCI_LAYER_TAR, type OciIndex } from '../image/archive/format';
import { readArchive, type ArchiveImage, type ArchiveLayer } from '../image/archive/read';
import { computeChainIds } from '../image/chain-id';
import { createDecompressor, detectCompression, type Compression } from '../image/compression';
import { familiarize } from '../image/reference';
import type { LayerDraft, ProgressMessage } from '../image/types';
import { chooseManifest, hostPlatform, type ImageIndex } from '../registry/manifest';
import { shortId } from '../util/ids';
import type { ImageServiceDeps } from './image-deps';
import { layerProgress, ProgressThrottle } from './progress';

interface PendingLayer {
  chainId: string;
  parent: string | null;
  diffId: string;
  draft: LayerDraft;
  size: number;
  blob: { file: string; digest: string; size: number; mediaType: string };
}

const MEDIA_BY_COMPRESSION: Record<Compression, string> = {
  none: OCI_LAYER_TAR,
  gzip: `${OCI_LAYER_TAR}+gzip`,
  zstd: `${OCI_LAYER_TAR}+zstd`,
};

async function readHead(file: string): Promise<Buffer> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return buf.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export class ImageLoader {
  constructor(private readonly d: ImageServiceDeps) {}

  async load(source: Readable, opts: { quiet?: boolean }, progress: (m: ProgressMessage) => void): Promise<void> {
    const dir = path.join(this.d.dataRoot, 'tmp', `load-${randomBytes(8).toString('hex')}`);
    const archive = await extractArchive(source, dir);
    try {
      const wanted = hostPlatform();
      const images = await readArchive(archive, (index: OciIndex) => chooseManifest(index as unknown as ImageIndex, wanted));
      if (images.length === 0) throw invalidArgument('invalid archive: no images found');
      await this.register(images, !!opts.quiet, progress);
    } finally {
      await archive.remove();
    }
  }

  private async register(images: ArchiveImage[], quiet: boolean, progress: (m: ProgressMessage) => void): Promise<void> {
    const { layers, content, db, events } = this.d;
    const pending = new Map<string, PendingLayer>();
    const published: string[] = [];
    let committed = false;
    try {
      const chains = images.map((img) => computeChainIds(img.config.rootfs.diff_ids));
      for (const [n, img] of images.entries()) {
        const chainIds = chains[n];
        for (let i = 0; i < chainIds.length; i++) {
          if (layers.get(chainIds[i]) || pending.has(chainIds[i])) continue;
          const applied = await this.applyLayer(img.layers[i], img.config.rootfs.diff_ids[i], i, chainIds[i], quiet, progress);
          pending.set(chainIds[i], { ...applied, chainId: chainIds[i], parent: i > 0 ? chainIds[i - 1] : null });
        }
      }
      for (const p of pending.values()) {
        if (await content.has(p.blob.digest)) continue;
        const ingest = content.ingest();
        try {
          await pipeline(createReadStream(p.blob.file), ingest.stream);
        } catch (err) {
          await ingest.abort();
          throw err;
        }
        await ingest.commit(p.blob.digest);
        published.push(p.blob.digest);
      }
      for (const img of images) {
        if (await content.has(img.id)) continue;
        await content.put(img.configBytes, img.id);
        published.push(img.id);
      }
      const messages: string[] = [];
      for (const img of images) {
        for (const ref of img.refs) {
          const old = this.d.images.resolve(ref);
          if (old && old.id !== img.id) {
            messages.push(`The image ${familiarize(ref)} already exists, renaming the old one with ID ${old.id} to empty string\n`);
          }
        }
      }
      db.transaction(() => {
        for (const p of pending.values()) {
          layers.commit(p.draft, {
            chainId: p.chainId, diffId: p.diffId, parent: p.parent, size: p.size,
            blobDigest: p.blob.digest, blobMediaType: p.blob.mediaType, blobSize: p.blob.size,
          });
        }
        images.forEach((img, n) => this.d.images.add({ config: img.config, configDigest: img.id, layers: chains[n], tags: img.refs }));
      })();
      committed = true;
      for (const m of messages) progress({ stream: m });
      for (const img of images) {
        events.emit('image', 'load', img.id, { name: img.id });
        if (img.refs.length === 0) progress({ stream: `Loaded image ID: ${img.id}\n` });
        for (const ref of img.refs) progress({ stream: `Loaded image: ${familiarize(ref)}\n` });
      }
    } finally {
      if (!committed) {
        for (const p of pending.values()) await layers.abort(p.draft).catch(() => {});
        for (const b of published) await content.delete(b).catch(() => {});
      }
    }
  }

  /** Unpacks one layer file (any compression) into a new draft, hashing the file as it goes. */
  private async applyLayer(layer: ArchiveLayer, expectedDiffId: string, index: number, chainId: string, quiet: boolean,
    progress: (m: ProgressMessage) => void): Promise<Omit<PendingLayer, 'chainId' | 'parent'>> {
    const kind = detectCompression(await readHead(layer.file));
    const total = (await fs.stat(layer.file)).size;
    const draft = await this.d.layers.begin();
    try {
      const hash = createHash('sha256');
      let read = 0;
      const throttle = new ProgressThrottle();
      const id = shortId(chainId);
      const src: ReadStream = createReadStream(layer.file, { highWaterMark: 1024 * 1024 });
      src.on('data', (chunk) => {
        hash.update(chunk as Buffer);
        read += chunk.length;
        if (!quiet && throttle.shouldEmit(read, total)) progress(layerProgress(id, 'Loading layer', read, total));
      });
      const decompressor = createDecompressor(kind);
      const applying = this.d.layers.apply(draft, decompressor);
      // the applier stops reading on a bad entry: end the feed so nothing waits on it
      applying.catch(() => { src.destroy(); decompressor.destroy(); });
      const feeding = pipeline(src, decompressor);
      feeding.catch(() => {});
      const [, applied] = await Promise.all([feeding, applying]);
      if (applied.diffId !== expectedDiffId) {
        throw invalidArgument(`invalid diffID for layer ${index}: expected "${expectedDiffId}", got "${applied.diffId}"`, 'BERTH_ERR_DIFF_ID_MISMATCH');
      }
      const digest = `sha256:${hash.digest('hex')}`;
      if (layer.digest && layer.digest !== digest) {
        throw invalidArgument(`invalid archive: layer blob ${layer.digest} has digest ${digest}`, 'BERTH_ERR_DIGEST_MISMATCH');
      }
      const mediaType = layer.mediaType ?? MEDIA_BY_COMPRESSION[kind];
      return { diffId: applied.diffId, draft, size: applied.size, blob: { file: layer.file, digest, size: read, mediaType } };
    } catch (err) {
      await this.d.layers.abort(draft).catch(() => {});
      throw err;
    }
  }
}
