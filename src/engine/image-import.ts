/**
 * `docker import`: one tar (any compression) becomes a single-layer image whose config comes from
 * `--change` lines. The layer blob is stored UNCOMPRESSED (media type application/vnd.oci.image.layer.v1.tar,
 * digest = diff ID), written in the same pass that unpacks it. Nothing is registered until both succeed.
 */
import { once } from 'node:events';
import { PassThrough, Readable } from 'node:stream';
import { invalidArgument } from '../errors';
import { decompressStream } from '../image/archive/extract';
import { OCI_LAYER_TAR } from '../image/archive/format';
import { applyChanges } from '../image/changes';
import { familiarString, fullString, parseWithDefaultTag, type Reference } from '../image/reference';
import type { ImageConfig, ImageRecord, ProgressMessage } from '../image/types';
import { hostPlatform, parsePlatform } from '../registry/manifest';
import type { ImageServiceDeps } from './image-deps';

export interface ImportOptions {
  repo?: string;
  tag?: string;
  changes?: string[];
  message?: string;
  platform?: string;
}

/** `repo` + `tag` as the API gets them → a tag reference, or undefined when no repo was given. */
export function importTarget(repo?: string, tag?: string): Reference | undefined {
  if (!repo) return undefined;
  const ref = parseWithDefaultTag(tag ? `${repo}:${tag}` : repo);
  if (ref.digest) throw invalidArgument('cannot import digest reference');
  return ref;
}

export class ImageImporter {
  constructor(private readonly d: ImageServiceDeps) {}

  /** `src` is "-" (the body) or the URL it came from; it names the default history comment. */
  async import(body: Readable, src: string, opts: ImportOptions): Promise<ImageRecord> {
    const target = importTarget(opts.repo, opts.tag);
    const platform = opts.platform ? parsePlatform(opts.platform) : hostPlatform();
    const containerConfig = applyChanges(opts.changes ?? []);
    const message = opts.message || `Imported from ${src}`;
    const { layers, content, db, images, events } = this.d;

    const draft = await layers.begin();
    const ingest = content.ingest();
    const feed = new PassThrough({ highWaterMark: 1024 * 1024 });
    const applying = layers.apply(draft, feed);
    applying.catch(() => {});
    let committed = false;
    try {
      const plain = await decompressStream(body);
      const failed = new Promise<never>((_, reject) => {
        applying.catch(reject);
        ingest.stream.once('error', reject);
      });
      failed.catch(() => {});
      for await (const chunk of plain as AsyncIterable<Buffer>) {
        const waits: Promise<unknown>[] = [];
        if (!ingest.stream.write(chunk)) waits.push(once(ingest.stream, 'drain'));
        if (!feed.write(chunk)) waits.push(once(feed, 'drain'));
        if (waits.length) await Promise.race([Promise.all(waits), failed]);
      }
      feed.end();
      const applied = await Promise.race([applying, failed]);
      const blobSize = ingest.written;
      const blobDigest = await ingest.commit(applied.diffId);

      const created = new Date().toISOString();
      const config: ImageConfig = {
        architecture: platform.architecture,
        ...(platform.variant ? { variant: platform.variant } : {}),
        os: platform.os,
        created,
        comment: message,
        config: containerConfig,
        rootfs: { type: 'layers', diff_ids: [applied.diffId] },
        history: [{ created, comment: message }],
      };
      const configBytes = Buffer.from(JSON.stringify(config));
      const id = await content.put(configBytes);
      const chainId = applied.diffId;
      let usedDraft = false;
      const image = db.transaction(() => {
        if (!layers.get(chainId)) {
          layers.commit(draft, {
            chainId, diffId: applied.diffId, parent: null, size: applied.size,
            blobDigest, blobMediaType: OCI_LAYER_TAR, blobSize,
          });
          usedDraft = true;
        }
        return images.add({ config, configDigest: id, layers: [chainId], tags: target ? [fullString(target)] : [] });
      })();
      committed = usedDraft;
      events.emit('image', 'import', id, { name: id });
      if (target) events.emit('image', 'tag', id, { name: familiarString(target) });
      return image;
    } catch (err) {
      feed.destroy();
      await applying.catch(() => {});
      await ingest.abort().catch(() => {});
      throw err;
    } finally {
      if (!committed) await layers.abort(draft).catch(() => {});
    }
  }

  /** `fromSrc=<url>`: only http(s), fetched as the user asked; progress as dockerd words it. */
  async importFromUrl(url: string, opts: ImportOptions, progress: (m: ProgressMessage) => void, signal?: AbortSignal): Promise<ImageRecord> {
    let parsed: URL;
    try {
      parsed = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `http://${url}`);
    } catch {
      throw invalidArgument(`invalid URL: ${url}`);
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') throw invalidArgument(`unsupported URL scheme ${parsed.protocol} (http and https only)`);
    importTarget(opts.repo, opts.tag);
    const res = await fetch(parsed, { signal });
    if (!res.ok || !res.body) throw invalidArgument(`error downloading ${parsed.href}: ${res.status} ${res.statusText}`);
    progress({ status: `Downloading from ${parsed.href}` });
    const body = Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>);
    return this.import(body, parsed.href, opts);
  }
}
