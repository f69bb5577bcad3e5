/**
 * Manifests and indexes (OCI image-spec and Docker schema 2), and the choice of one platform from an index.
 * Words: an *index* (OCI index or Docker manifest list) names one *manifest* per platform; a manifest names
 * a config blob and layer blobs by *descriptor* (media type, digest, size).
 */
import { invalidArgument, notFound } from '../errors';

export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
} as const;

/** Accept header for manifest requests: every form berth can pull, indexes first. */
export const MANIFEST_ACCEPT = [MediaType.ociIndex, MediaType.dockerManifestList, MediaType.ociManifest, MediaType.dockerManifest].join(', ');

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
  'os.version'?: string;
  'os.features'?: string[];
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  urls?: string[];
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
}

export type ParsedManifest = { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest };

export function isIndexMediaType(mt: string): boolean {
  return mt === MediaType.ociIndex || mt === MediaType.dockerManifestList;
}

export function isManifestMediaType(mt: string): boolean {
  return mt === MediaType.ociManifest || mt === MediaType.dockerManifest;
}

/**
 * Decodes manifest bytes. The media type comes from the body when it says one, else from Content-Type,
 * else from the shape (OCI allows omitting it).
 */
export function parseManifest(bytes: Buffer, contentType: string | undefined): ParsedManifest & { mediaType: string } {
  let doc: Record<string, unknown>;
  try {
    doc = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalidArgument('invalid manifest: not JSON');
  }
  const ct = contentType?.split(';')[0].trim();
  let mediaType = typeof doc.mediaType === 'string' ? doc.mediaType : ct && ct !== 'application/json' ? ct : '';
  if (!mediaType) mediaType = Array.isArray(doc.manifests) ? MediaType.ociIndex : MediaType.ociManifest;
  if (mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed || doc.schemaVersion === 1) {
    throw invalidArgument('Docker Image Format v1 and Docker Image manifest version 2, schema 1 support has been removed. Push the image again with a newer client.');
  }
  if (isIndexMediaType(mediaType)) {
    if (!Array.isArray(doc.manifests)) throw invalidArgument('invalid image index: no manifests');
    return { kind: 'index', index: doc as unknown as ImageIndex, mediaType };
  }
  if (isManifestMediaType(mediaType)) {
    const m = doc as unknown as ImageManifest;
    if (!m.config || typeof m.config.digest !== 'string' || !Array.isArray(m.layers)) throw invalidArgument('invalid image manifest: no config or layers');
    return { kind: 'manifest', manifest: m, mediaType };
  }
  throw invalidArgument(`unsupported manifest media type: ${mediaType}`);
}

const ARCH_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', ia32: '386' };

/** Normalises like containerd: aarch64 → arm64 (variant v8 is arm64's default), armhf → arm/v7, armel → arm/v6. */
export function normalizePlatform(p: Platform): Platform {
  const os = (p.os || 'linux').toLowerCase();
  const rawArch = (p.architecture || '').toLowerCase();
  const architecture = ARCH_ALIASES[rawArch] ?? rawArch;
  let variant = p.variant?.toLowerCase() || undefined;
  if (rawArch === 'armhf' && !variant) variant = 'v7';
  if (rawArch === 'armel' && !variant) variant = 'v6';
  if (architecture === 'arm64' && (variant === '8' || variant === 'v8')) variant = 'v8';
  if (architecture === 'arm' && variant && /^\d$/.test(variant)) variant = `v${variant}`;
  return { os, architecture, ...(variant ? { variant } : {}) };
}

/** `linux/arm64/v8`, `linux/amd64`, `arm64` (os defaults to linux). InvalidArgument when malformed. */
export function parsePlatform(s: string): Platform {
  const parts = s.trim().split('/');
  if (parts.some((p) => !p) || parts.length > 3) throw invalidArgument(`"${s}": unknown operating system or architecture: invalid argument`);
  if (parts.length === 1) {
    const only = parts[0].toLowerCase();
    if (only === 'linux' || only === 'windows' || only === 'darwin') throw invalidArgument(`"${s}": unknown operating system or architecture: invalid argument`);
    return normalizePlatform({ os: 'linux', architecture: only });
  }
  return normalizePlatform({ os: parts[0], architecture: parts[1], variant: parts[2] });
}

/** The platform this daemon runs containers for. */
export function hostPlatform(): Platform {
  const arch = process.arch === 'x64' ? 'amd64' : process.arch === 'ia32' ? '386' : process.arch;
  if (arch === 'arm64') return { os: 'linux', architecture: 'arm64', variant: 'v8' };
  if (arch === 'arm') return { os: 'linux', architecture: 'arm', variant: 'v7' };
  return { os: 'linux', architecture: arch };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter(Boolean).join('/');
}

/**
 * How well `candidate` serves `wanted`: 0 = no match, higher is better. Same os and architecture needed;
 * an exact variant beats a missing one; arm64 treats "" and v8 alike; 32-bit arm runs older variants.
 */
export function platformScore(wanted: Platform, candidate: Platform): number {
  const w = normalizePlatform(wanted);
  const c = normalizePlatform(candidate);
  if (w.os !== c.os || w.architecture !== c.architecture) return 0;
  const wv = w.variant ?? (w.architecture === 'arm64' ? 'v8' : '');
  const cv = c.variant ?? (c.architecture === 'arm64' ? 'v8' : '');
  if (wv === cv) return 100;
  if (!wv) return 50; // no variant asked for: any variant will do
  if (!cv) return 60;
  if (w.architecture === 'arm' && /^v\d$/.test(wv) && /^v\d$/.test(cv) && cv < wv) return 10 + Number(cv.slice(1));
  return 0;
}

/** Attestations and other non-image entries of an index (BuildKit marks them `unknown/unknown`). */
function isImageEntry(d: Descriptor): boolean {
  if (!isManifestMediaType(d.mediaType) && d.mediaType) return false;
  if (d.platform && (d.platform.os === 'unknown' || d.platform.architecture === 'unknown')) return false;
  return !d.annotations?.['vnd.docker.reference.type'];
}

/** Picks the best manifest of an index for `wanted`; NotFound in dockerd's words when none fits. */
export function chooseManifest(index: ImageIndex, wanted: Platform): Descriptor {
  let best: Descriptor | undefined;
  let bestScore = 0;
  for (const d of index.manifests) {
    if (!isImageEntry(d)) continue;
    // an entry without platform is taken as linux/<host arch> only when it is the sole image entry
    const score = d.platform ? platformScore(wanted, d.platform) : 0;
    if (score > bestScore) {
      best = d;
      bestScore = score;
    }
  }
  if (!best) {
    const images = index.manifests.filter(isImageEntry);
    if (images.length === 1 && !images[0].platform) return images[0];
    throw notFound(`no matching manifest for ${formatPlatform(normalizePlatform(wanted))} in the manifest list entries`, 'BERTH_ERR_NO_MATCHING_MANIFEST');
  }
  return best;
}
