/**
 * What a push sends for one local image: its manifest (the one it was pulled with, when every blob it
 * names is still here; otherwise one generated from the config and the stored layer blobs), the config
 * bytes, and each layer's blob. A generated manifest is kept in the content store and in image_manifests,
 * so pushing the same image again sends the same bytes and gets the same digest.
 */
import { createHash } from 'node:crypto';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';
import { internal, notFound } from '../errors';
import { OCI_LAYER_TAR } from '../image/archive/format';
import type { ContentStore, ImageRecord, ImageStore, LayerStore } from '../image/types';
import {
  formatPlatform, isManifestMediaType, MediaType, normalizePlatform, parseManifest, platformScore,
  type Descriptor, type ImageManifest, type Platform,
} from '../registry/manifest';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';

export const DOCKER_CONFIG_MEDIA_TYPE = 'application/vnd.docker.container.image.v1+json';
export const OCI_CONFIG_MEDIA_TYPE = 'application/vnd.oci.image.config.v1+json';
const DOCKER_LAYER_PREFIX = 'application/vnd.docker.image.rootfs.';

export interface PushLayer {
  /** the blob as the manifest names it */
  desc: Descriptor;
  chainId: string;
  diffId: string;
}

export interface PushableImage {
  image: ImageRecord;
  configBytes: Buffer;
  manifest: ImageManifest;
  manifestBytes: Buffer;
  manifestDigest: string;
  mediaType: string;
  layers: PushLayer[];
}

export interface PushManifestDeps {
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  log: Logger;
}

/** The image's platform must serve the one asked for (push --platform). */
export function checkPlatform(img: ImageRecord, ref: string, wanted?: Platform): void {
  if (!wanted) return;
  const actual = normalizePlatform({ os: img.config.os, architecture: img.config.architecture, variant: img.config.variant });
  if (platformScore(wanted, actual) === 0) {
    throw notFound(`image with reference ${ref} was found but does not provide the specified platform (${formatPlatform(normalizePlatform(wanted))})`, 'BERTH_ERR_PLATFORM_MISMATCH');
  }
}

export async function pushableImage(img: ImageRecord, d: PushManifestDeps): Promise<PushableImage> {
  const configBytes = await d.content.read(img.id).catch(() => {
    throw internal(`the configuration blob of image ${img.id} is missing from the content store`);
  });
  return (await storedManifest(img, configBytes, d)) ?? generateManifest(img, configBytes, d);
}

/** The manifest kept from a pull (or an earlier push), when it describes this image and its blobs are all here. */
async function storedManifest(img: ImageRecord, configBytes: Buffer, d: PushManifestDeps): Promise<PushableImage | undefined> {
  const rows = d.db.prepare('SELECT digest, media_type FROM image_manifests WHERE image_id = ? ORDER BY rowid DESC')
    .all(img.id) as { digest: string; media_type: string }[];
  const diffIds = img.config.rootfs.diff_ids;
  for (const row of rows) {
    if (!isManifestMediaType(row.media_type) || !(await d.content.has(row.digest))) continue;
    const bytes = await d.content.read(row.digest);
    let parsed;
    try {
      parsed = parseManifest(bytes, row.media_type);
    } catch {
      continue;
    }
    if (parsed.kind !== 'manifest' || parsed.manifest.config.digest !== img.id || parsed.manifest.layers.length !== diffIds.length) continue;
    const present = await Promise.all(parsed.manifest.layers.map((l) => d.content.has(l.digest)));
    if (!present.every(Boolean)) continue;
    return {
      image: img, configBytes, manifest: parsed.manifest, manifestBytes: bytes, manifestDigest: row.digest, mediaType: parsed.mediaType,
      layers: parsed.manifest.layers.map((desc, i) => ({ desc, chainId: img.layers[i], diffId: diffIds[i] })),
    };
  }
  return undefined;
}

/** Docker types → their OCI names (same bytes). */
function ociLayerType(mediaType: string): string {
  if (!mediaType.startsWith(DOCKER_LAYER_PREFIX)) return mediaType;
  return mediaType.endsWith('.gzip') ? `${OCI_LAYER_TAR}+gzip` : OCI_LAYER_TAR;
}

/**
 * A manifest for an image made here (import, load, commit, build): Docker schema 2 when every layer blob is
 * a Docker type, else OCI. The layers are the stored blobs as they are, so their diff IDs hold.
 */
async function generateManifest(img: ImageRecord, configBytes: Buffer, d: PushManifestDeps): Promise<PushableImage> {
  const diffIds = img.config.rootfs.diff_ids;
  const descs: Descriptor[] = [];
  for (let i = 0; i < img.layers.length; i++) descs.push(await layerBlob(img.layers[i], diffIds[i], d));
  const docker = descs.length > 0 && descs.every((l) => l.mediaType.startsWith(DOCKER_LAYER_PREFIX));
  const mediaType = docker ? MediaType.dockerManifest : MediaType.ociManifest;
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType,
    config: { mediaType: docker ? DOCKER_CONFIG_MEDIA_TYPE : OCI_CONFIG_MEDIA_TYPE, digest: img.id, size: configBytes.length },
    layers: descs.map((l) => ({ mediaType: docker ? l.mediaType : ociLayerType(l.mediaType), digest: l.digest, size: l.size })),
  };
  const manifestBytes = Buffer.from(JSON.stringify(manifest, null, 3));
  const manifestDigest = await d.content.put(manifestBytes);
  d.images.add({ config: img.config, configDigest: img.id, layers: img.layers, manifests: [{ digest: manifestDigest, mediaType }] });
  return {
    image: img, configBytes, manifest, manifestBytes, manifestDigest, mediaType,
    layers: manifest.layers.map((desc, i) => ({ desc, chainId: img.layers[i], diffId: diffIds[i] })),
  };
}

/** The layer's stored blob; a layer without one is exported, and kept only when it hashes to its diff ID. */
async function layerBlob(chainId: string, diffId: string, d: PushManifestDeps): Promise<Descriptor> {
  const info = d.layers.get(chainId);
  if (!info) throw internal(`layer ${chainId} is missing from the layer store`);
  if (info.blobDigest && (await d.content.has(info.blobDigest))) {
    const size = info.blobSize ?? await d.content.size(info.blobDigest);
    return { mediaType: info.blobMediaType ?? OCI_LAYER_TAR, digest: info.blobDigest, size };
  }
  const ingest = d.content.ingest();
  const hash = createHash('sha256');
  const tap = new Transform({ transform(chunk: Buffer, _enc, cb) { hash.update(chunk); cb(null, chunk); } });
  try {
    await pipeline(d.layers.exportTar(chainId), tap, ingest.stream);
  } catch (err) {
    await ingest.abort().catch(() => {});
    throw err;
  }
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== diffId) {
    await ingest.abort().catch(() => {});
    throw internal(`layer ${diffId} has no stored blob and its contents export as ${got}; it cannot be pushed`, 'BERTH_ERR_LAYER_NOT_REPRODUCIBLE');
  }
  const size = ingest.written;
  await ingest.commit(diffId);
  d.db.prepare('UPDATE layers SET blob_digest = ?, blob_media_type = ?, blob_size = ? WHERE chain_id = ?').run(diffId, OCI_LAYER_TAR, size, chainId);
  d.log.debug('exported a layer without a stored blob for push', { chainId, diffId });
  return { mediaType: OCI_LAYER_TAR, digest: diffId, size };
}
