/**
 * Writes `docker save` archives the way Docker 25+ does: one tar that is both a docker-archive
 * (manifest.json, repositories) and an OCI image layout (oci-layout, index.json, blobs/sha256/…).
 * Layers are written uncompressed under their diff ID, so the archive's blobs hash to the config's diff IDs.
 */
import { createHash } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { familiarName, parseReference } from '../reference';
import {
  ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, OCI_CONFIG, OCI_INDEX, OCI_LAYER_TAR, OCI_MANIFEST,
  type DockerArchiveManifestItem, type OciDescriptor, type OciIndex, type OciManifest,
} from './format';

export interface OpenedLayer {
  /** the uncompressed layer tar */
  stream: Readable;
  size: number;
  /** called once the stream was consumed (or failed): remove temp files */
  release(): Promise<void>;
}

export interface SaveImage {
  id: string;
  configBytes: Buffer;
  diffIds: string[];
  /** full refs (`docker.io/library/busybox:latest`) this archive names the image by; may be empty */
  refs: string[];
  /** opens layer `i` (bottom first) as an uncompressed tar whose sha256 is diffIds[i] */
  openLayer(i: number): Promise<OpenedLayer>;
}

const MTIME = new Date(0);

function blobName(digest: string): string {
  return `blobs/sha256/${digest.slice('sha256:'.length)}`;
}

function tagOf(fullRef: string): string | undefined {
  try {
    return parseReference(fullRef).tag;
  } catch {
    return undefined;
  }
}

function familiarTag(fullRef: string): { name: string; tag: string } | undefined {
  try {
    const r = parseReference(fullRef);
    return r.tag ? { name: familiarName(r), tag: r.tag } : undefined;
  } catch {
    return undefined;
  }
}

function addBuffer(pack: tar.Pack, name: string, data: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    pack.entry({ name, size: data.length, mode: 0o644, mtime: MTIME }, data, (err) => (err ? reject(err) : resolve()));
  });
}

async function addStream(pack: tar.Pack, name: string, size: number, stream: Readable): Promise<void> {
  const done = new Promise<void>((resolve, reject) => {
    const sink = pack.entry({ name, size, mode: 0o644, mtime: MTIME }, (err) => (err ? reject(err) : resolve()));
    pipeline(stream, sink).catch(reject);
  });
  await done;
}

function json(v: unknown): Buffer {
  return Buffer.from(JSON.stringify(v));
}

function digestOf(b: Buffer): string {
  return `sha256:${createHash('sha256').update(b).digest('hex')}`;
}

/** The archive as a stream. Failures after the first byte destroy the stream (the client sees a cut tar). */
export function writeImageArchive(images: SaveImage[]): Readable {
  const pack = tar.pack();
  const out = new PassThrough({ highWaterMark: 1024 * 1024 });
  pack.pipe(out);
  pack.on('error', (err) => out.destroy(err));

  const run = async () => {
    for (const dir of ['blobs/', 'blobs/sha256/']) {
      await new Promise<void>((resolve, reject) => pack.entry({ name: dir, type: 'directory', mode: 0o755, mtime: MTIME }, (e) => (e ? reject(e) : resolve())));
    }
    const written = new Map<string, number>();
    const index: OciIndex = { schemaVersion: 2, mediaType: OCI_INDEX, manifests: [] };
    const manifestJson: DockerArchiveManifestItem[] = [];
    const repositories: Record<string, Record<string, string>> = {};

    for (const img of images) {
      const layerDescs: OciDescriptor[] = [];
      for (let i = 0; i < img.diffIds.length; i++) {
        const diffId = img.diffIds[i];
        let size = written.get(diffId);
        if (size === undefined) {
          const layer = await img.openLayer(i);
          try {
            await addStream(pack, blobName(diffId), layer.size, layer.stream);
          } finally {
            await layer.release();
          }
          size = layer.size;
          written.set(diffId, size);
        }
        layerDescs.push({ mediaType: OCI_LAYER_TAR, digest: diffId, size });
      }
      if (!written.has(img.id)) {
        await addBuffer(pack, blobName(img.id), img.configBytes);
        written.set(img.id, img.configBytes.length);
      }
      const manifest: OciManifest = {
        schemaVersion: 2, mediaType: OCI_MANIFEST,
        config: { mediaType: OCI_CONFIG, digest: img.id, size: img.configBytes.length },
        layers: layerDescs,
      };
      const manifestBytes = json(manifest);
      const manifestDigest = digestOf(manifestBytes);
      if (!written.has(manifestDigest)) {
        await addBuffer(pack, blobName(manifestDigest), manifestBytes);
        written.set(manifestDigest, manifestBytes.length);
      }
      const desc: OciDescriptor = { mediaType: OCI_MANIFEST, digest: manifestDigest, size: manifestBytes.length };
      if (img.refs.length === 0) index.manifests.push(desc);
      for (const ref of img.refs) {
        const annotations: Record<string, string> = { [ANNOTATION_CONTAINERD_NAME]: ref };
        const tag = tagOf(ref);
        if (tag) annotations[ANNOTATION_REF_NAME] = tag;
        index.manifests.push({ ...desc, annotations });
        const ft = familiarTag(ref);
        if (ft && img.diffIds.length) (repositories[ft.name] ??= {})[ft.tag] = img.diffIds[img.diffIds.length - 1].slice(7);
      }
      manifestJson.push({
        Config: blobName(img.id),
        RepoTags: img.refs.flatMap((r) => {
          const ft = familiarTag(r);
          return ft ? [`${ft.name}:${ft.tag}`] : [];
        }),
        Layers: img.diffIds.map(blobName),
      });
    }
    await addBuffer(pack, 'index.json', json(index));
    await addBuffer(pack, 'manifest.json', json(manifestJson));
    await addBuffer(pack, 'oci-layout', json({ imageLayoutVersion: '1.0.0' }));
    if (Object.keys(repositories).length) await addBuffer(pack, 'repositories', json(repositories));
    pack.finalize();
  };
  run().catch((err) => {
    pack.destroy(err);
    out.destroy(err);
  });
  return out;
}
