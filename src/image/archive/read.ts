/**
 * Reads the images an extracted archive describes: docker-archive (`manifest.json`, as docker save writes,
 * layers at any path, compressed or not) or a plain OCI image layout (`index.json`, nested indexes
 * followed). Everything is validated before the caller applies anything.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { fullString, parseWithDefaultTag, parseReference } from '../reference';
import type { ImageConfig } from '../types';
import { archiveError, type ExtractedArchive } from './extract';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, isIndexMediaType, type OciDescriptor, type OciIndex, type OciManifest } from './format';

export interface ArchiveLayer {
  /** absolute path of the layer file inside the extraction dir */
  file: string;
  /** blob digest the archive promises (OCI layout); docker-archive layers are digested as read */
  digest?: string;
  mediaType?: string;
}

export interface ArchiveImage {
  id: string;
  configBytes: Buffer;
  config: ImageConfig;
  layers: ArchiveLayer[];
  /** full refs (`docker.io/library/busybox:latest`) */
  refs: string[];
}

interface DockerArchiveEntry {
  Config?: string;
  RepoTags?: string[] | null;
  Layers?: string[];
}

/** Picks one manifest out of an index (platform choice lives with the caller). */
export type ManifestChooser = (index: OciIndex) => OciDescriptor;

const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;

function blobPath(digest: string): string {
  if (!DIGEST_RE.test(digest)) throw archiveError(`unsupported digest ${JSON.stringify(digest)}`);
  return `blobs/sha256/${digest.slice(7)}`;
}

async function readConfig(a: ExtractedArchive, name: string, expected?: string): Promise<{ id: string; bytes: Buffer; config: ImageConfig }> {
  const bytes = await fs.readFile(a.file(name));
  const id = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  if (expected && expected !== id) throw archiveError(`config ${name} has digest ${id}, expected ${expected}`);
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch (err) {
    throw archiveError(`${name}: ${(err as Error).message}`);
  }
  if (!config || typeof config !== 'object' || !config.rootfs || !Array.isArray(config.rootfs.diff_ids)) {
    throw archiveError(`${name} is not an image configuration (no rootfs.diff_ids)`);
  }
  if (!config.rootfs.diff_ids.every((d) => typeof d === 'string' && DIGEST_RE.test(d))) throw archiveError(`${name} has an invalid diff ID`);
  return { id, bytes, config };
}

function normaliseTag(tag: string): string {
  try {
    const ref = parseWithDefaultTag(tag);
    if (ref.digest) throw new Error('digest');
    return fullString(ref);
  } catch {
    throw archiveError(`invalid tag ${JSON.stringify(tag)} in manifest.json`);
  }
}

async function readDockerArchive(a: ExtractedArchive): Promise<ArchiveImage[]> {
  const entries = await a.readJson<DockerArchiveEntry[]>('manifest.json');
  if (!Array.isArray(entries)) throw archiveError('manifest.json is not a list');
  const images: ArchiveImage[] = [];
  for (const e of entries) {
    if (!e || typeof e.Config !== 'string' || !Array.isArray(e.Layers)) throw archiveError('manifest.json entry without Config or Layers');
    if (!a.has(e.Config)) throw archiveError(`${e.Config} not found`);
    const { id, bytes, config } = await readConfig(a, e.Config);
    if (e.Layers.length !== config.rootfs.diff_ids.length) {
      throw archiveError(`${e.Config}: ${e.Layers.length} layers in manifest.json, ${config.rootfs.diff_ids.length} diff IDs in the config`);
    }
    const layers = e.Layers.map((l) => {
      if (typeof l !== 'string' || !a.has(l)) throw archiveError(`layer ${String(l)} not found`);
      return { file: a.file(l) };
    });
    images.push({ id, configBytes: bytes, config, layers, refs: (e.RepoTags ?? []).map(normaliseTag) });
  }
  return images;
}

/** The name a descriptor in index.json gives its image, if any: a full ref, never a bare tag. */
function refFromAnnotations(d: OciDescriptor): string | undefined {
  const candidates = [d.annotations?.[ANNOTATION_CONTAINERD_NAME], d.annotations?.[ANNOTATION_REF_NAME]];
  for (const c of candidates) {
    if (!c || !/[:/@]/.test(c)) continue;
    try {
      const ref = parseReference(c);
      if (!ref.digest) return fullString(parseWithDefaultTag(c));
    } catch {
      // a ref.name that is not an image reference (e.g. a plain tag) names nothing
    }
  }
  return undefined;
}

async function readOciLayout(a: ExtractedArchive, choose: ManifestChooser): Promise<ArchiveImage[]> {
  const index = await a.readJson<OciIndex>('index.json');
  if (!index || !Array.isArray(index.manifests)) throw archiveError('index.json has no manifests');
  const byId = new Map<string, ArchiveImage>();
  for (const top of index.manifests) {
    let desc = top;
    for (let depth = 0; isIndexMediaType(desc.mediaType); depth++) {
      if (depth > 8) throw archiveError('indexes nested too deep');
      const nested = await a.readJson<OciIndex>(blobPath(desc.digest));
      if (!Array.isArray(nested.manifests)) throw archiveError(`index ${desc.digest} has no manifests`);
      desc = choose(nested);
    }
    const manifest = await a.readJson<OciManifest>(blobPath(desc.digest));
    if (!manifest.config?.digest || !Array.isArray(manifest.layers)) throw archiveError(`manifest ${desc.digest} has no config or layers`);
    const { id, bytes, config } = await readConfig(a, blobPath(manifest.config.digest), manifest.config.digest);
    if (manifest.layers.length !== config.rootfs.diff_ids.length) {
      throw archiveError(`manifest ${desc.digest}: ${manifest.layers.length} layers, ${config.rootfs.diff_ids.length} diff IDs in the config`);
    }
    const layers = manifest.layers.map((l) => {
      const p = blobPath(l.digest);
      if (!a.has(p)) throw archiveError(`layer ${l.digest} not found`);
      return { file: a.file(p), digest: l.digest, mediaType: l.mediaType };
    });
    const image = byId.get(id) ?? { id, configBytes: bytes, config, layers, refs: [] };
    const ref = refFromAnnotations(top);
    if (ref && !image.refs.includes(ref)) image.refs.push(ref);
    byId.set(id, image);
  }
  return [...byId.values()];
}

/** docker-archive when manifest.json is present (Docker 25+ writes both), else OCI layout. */
export async function readArchive(a: ExtractedArchive, choose: ManifestChooser): Promise<ArchiveImage[]> {
  if (a.has('manifest.json')) return readDockerArchive(a);
  if (a.has('index.json')) return readOciLayout(a, choose);
  throw archiveError('no manifest.json or index.json found');
}
