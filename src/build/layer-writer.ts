/**
 * Turns what a build step changed into a registered layer. The changes are written once as an uncompressed
 * OCI layer tar to a temp file (its sha256 is the diff ID); that file is unpacked into a layer draft and,
 * in parallel, gzipped into the content store, so `save` and `push` send bytes that unpack to the same
 * diff ID. Nothing is visible until the one-row commit; a layer with the same chain ID already present is
 * reused instead.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { pipeline } from 'node:stream/promises';
import { computeChainIds } from '../image/chain-id';
import { END_OF_ARCHIVE, encodeHeader, paddingOf, type TarHeader } from '../image/tar-format';
import { TarReader } from '../image/tar-reader';
import type { ContentStore, LayerInfo, LayerStore } from '../image/types';
import type { Db } from '../store/db';

/**
 * Built layers are stored uncompressed (as `docker commit` and import store theirs): gzip at build time
 * cost more than the whole rest of a build with a large COPY; dockerd compresses only when it pushes.
 */
export const LAYER_MEDIA_TYPE = 'application/vnd.oci.image.layer.v1.tar';

/** One entry of a layer being made. Files come from a host path or from bytes (heredocs). */
export interface LayerEntry {
  /** relative to the image root, no leading `/` */
  path: string;
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  uid: number;
  gid: number;
  /** seconds */
  mtime: number;
  source?: string;
  data?: Buffer;
  linkname?: string;
}

/** Entries by path; a later add of the same path replaces the earlier one (COPY a b then COPY c b). */
export class LayerContents {
  private readonly entries = new Map<string, LayerEntry>();

  add(e: LayerEntry): void {
    this.entries.set(e.path, e);
  }

  has(p: string): boolean {
    return this.entries.has(p);
  }

  get(p: string): LayerEntry | undefined {
    return this.entries.get(p);
  }

  get size(): number {
    return this.entries.size;
  }

  /** Parents before children (sorted by path components). */
  sorted(): LayerEntry[] {
    return [...this.entries.values()].sort((a, b) => {
      const pa = a.path.split('/');
      const pb = b.path.split('/');
      for (let i = 0; i < Math.min(pa.length, pb.length); i++) {
        if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
      }
      return pa.length - pb.length;
    });
  }
}

async function* tarBytes(entries: LayerEntry[]): AsyncGenerator<Buffer> {
  for (const e of entries) {
    const h: TarHeader = {
      name: e.type === 'dir' ? `${e.path}/` : e.path, type: e.type, mode: e.mode & 0o7777, uid: e.uid, gid: e.gid,
      size: 0, mtime: Math.floor(e.mtime), linkname: e.linkname ?? '', devmajor: 0, devminor: 0, xattrs: new Map(),
    };
    if (e.type !== 'file') {
      yield encodeHeader(h);
      continue;
    }
    if (e.data) {
      yield encodeHeader({ ...h, size: e.data.length });
      yield e.data;
      if (paddingOf(e.data.length)) yield Buffer.alloc(paddingOf(e.data.length));
      continue;
    }
    const fh = await fs.open(e.source!, 'r');
    try {
      const size = (await fh.stat()).size;
      yield encodeHeader({ ...h, size });
      let left = size;
      while (left > 0) {
        const buf = Buffer.allocUnsafe(Math.min(1024 * 1024, left));
        const { bytesRead } = await fh.read(buf, 0, buf.length, null);
        if (bytesRead === 0) throw new Error(`${e.source}: file shrank while being copied`);
        left -= bytesRead;
        yield buf.subarray(0, bytesRead);
      }
      if (paddingOf(size)) yield Buffer.alloc(paddingOf(size));
    } finally {
      await fh.close();
    }
  }
  yield END_OF_ARCHIVE;
}

/** Writes the entries as a layer tar to `file`; returns its diff ID. */
export async function writeLayerTar(entries: LayerEntry[], file: string): Promise<string> {
  const hash = createHash('sha256');
  const fh = await fs.open(file, 'wx', 0o600);
  try {
    for await (const chunk of tarBytes(entries)) {
      hash.update(chunk);
      await fh.write(chunk);
    }
  } finally {
    await fh.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

/** sha256 of a file's bytes, and whether it is a layer tar with no entries. */
export async function inspectLayerTar(file: string): Promise<{ diffId: string; empty: boolean }> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  const reader = new TarReader(createReadStream(file));
  const first = await reader.next();
  return { diffId: `sha256:${hash.digest('hex')}`, empty: first === undefined };
}

export interface LayerCommitDeps {
  db: Db;
  layers: LayerStore;
  content: ContentStore;
}

/** Registers the tar at `file` (diff ID known) on top of `parent`; `created` is false when it existed. */
export async function commitLayerTar(d: LayerCommitDeps, file: string, diffId: string, parent: string | null):
  Promise<{ info: LayerInfo; created: boolean }> {
  const chainId = parent ? computeChainIds([parent, diffId]).pop()! : diffId;
  const existing = d.layers.get(chainId);
  if (existing) return { info: existing, created: false };
  const draft = await d.layers.begin();
  const ingest = d.content.ingest();
  let committed = false;
  try {
    const [applied] = await Promise.all([
      d.layers.apply(draft, createReadStream(file, { highWaterMark: 1024 * 1024 })),
      pipeline(createReadStream(file, { highWaterMark: 1024 * 1024 }), ingest.stream),
    ]);
    if (applied.diffId !== diffId) throw new Error(`layer tar changed while being committed (${applied.diffId} != ${diffId})`);
    const blobSize = ingest.written;
    const blobDigest = await ingest.commit(diffId);
    const result = d.db.transaction(() => {
      const raced = d.layers.get(chainId);
      if (raced) return { info: raced, created: false };
      const info = d.layers.commit(draft, {
        chainId, diffId, parent, size: applied.size, blobDigest, blobMediaType: LAYER_MEDIA_TYPE, blobSize,
      });
      committed = true;
      return { info, created: true };
    })();
    return result;
  } catch (err) {
    await ingest.abort().catch(() => {});
    throw err;
  } finally {
    if (!committed) await d.layers.abort(draft).catch(() => {});
  }
}
