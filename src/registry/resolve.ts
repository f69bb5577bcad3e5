/**
 * From a reference to one platform's manifest and config: try each endpoint (mirrors first for docker.io),
 * resolve a tag with HEAD, reuse manifests already in the content store, pick the platform from an index.
 */
import { invalidArgument, notFound, type BerthError } from '../errors';
import { familiarName, familiarString, type Reference } from '../image/reference';
import type { ContentStore, ImageConfig } from '../image/types';
import type { Logger } from '../util/logger';
import type { AuthConfig } from './auth';
import { RegistryClient, sha256Digest } from './client';
import { translatePullError } from './errors';
import { registryEndpoints, type RegistryOptions } from './hosts';
import {
  chooseManifest, formatPlatform, normalizePlatform, parseManifest, platformScore,
  type Descriptor, type ImageIndex, type ImageManifest, type Platform,
} from './manifest';

const MAX_CONFIG_BYTES = 16 << 20;
const DEFINITIVE = new Set(['BERTH_ERR_NO_MATCHING_MANIFEST', 'BERTH_ERR_PLATFORM_MISMATCH']);

export interface RawBlob {
  digest: string;
  mediaType: string;
  bytes: Buffer;
}

/** Everything a pull needs before it touches layers. */
export interface ResolvedImage {
  client: RegistryClient;
  /** What the reference names on the registry: the index digest for multi-platform images, else the manifest's. */
  repoDigest: string;
  index?: RawBlob & { index: ImageIndex };
  manifest: RawBlob & { manifest: ImageManifest };
  config: RawBlob & { config: ImageConfig };
}

export interface ResolveOptions {
  registry: RegistryOptions;
  content: ContentStore;
  auth?: AuthConfig;
  /** Explicit `--platform`; when absent the host's platform is wanted and single-platform images are taken as they are. */
  platform?: Platform;
  wanted: Platform;
  signal?: AbortSignal;
  log?: Logger;
}

/** Top-level manifest (or index) of a reference, with its digest, trying endpoints in order. */
export async function resolveTop(ref: Reference, opts: ResolveOptions): Promise<{ client: RegistryClient; top: RawBlob }> {
  return withEndpoints(ref, opts, async (client) => ({ client, top: await topManifest(client, ref, opts) }));
}

/** Resolves a reference down to one platform's manifest and config. */
export async function resolveImage(ref: Reference, opts: ResolveOptions): Promise<ResolvedImage> {
  return withEndpoints(ref, opts, async (client) => {
    const top = await topManifest(client, ref, opts);
    const parsed = parseManifest(top.bytes, top.mediaType);
    let index: ResolvedImage['index'];
    let manifestBlob = top;
    if (parsed.kind === 'index') {
      index = { ...top, mediaType: parsed.mediaType, index: parsed.index };
      const chosen = chooseManifest(parsed.index, opts.wanted);
      manifestBlob = await manifestByDigest(client, chosen.digest, chosen.mediaType, opts);
    }
    const inner = parseManifest(manifestBlob.bytes, manifestBlob.mediaType);
    if (inner.kind !== 'manifest') throw invalidArgument(`nested image index ${manifestBlob.digest} is not supported`);
    const config = await configBlob(client, inner.manifest.config, opts);
    if (opts.platform && !index) {
      const actual = normalizePlatform({ os: config.config.os, architecture: config.config.architecture, variant: config.config.variant });
      if (platformScore(opts.platform, actual) === 0) {
        throw notFound(`image with reference ${familiarString(ref)} was found but its platform (${formatPlatform(actual)}) does not match the specified platform (${formatPlatform(normalizePlatform(opts.platform))})`, 'BERTH_ERR_PLATFORM_MISMATCH');
      }
    }
    return {
      client,
      repoDigest: top.digest,
      index,
      manifest: { ...manifestBlob, mediaType: inner.mediaType, manifest: inner.manifest },
      config,
    };
  });
}

/**
 * Runs `work` against each endpoint until one succeeds. Only mirrors fall through to the next endpoint.
 * A registry's own answer (manifest unknown, denied) is reported over a later endpoint's network failure.
 */
async function withEndpoints<T>(ref: Reference, opts: ResolveOptions, work: (c: RegistryClient) => Promise<T>): Promise<T> {
  const errors: unknown[] = [];
  for (const endpoint of registryEndpoints(ref.domain, opts.registry)) {
    const client = new RegistryClient(endpoint, ref.path, opts.auth);
    try {
      return await work(client);
    } catch (err) {
      if (opts.signal?.aborted) throw err;
      const translated = translatePullError(err, familiarString(ref), familiarName(ref));
      // an answer about the image itself (no such platform) would be the same upstream
      if (DEFINITIVE.has((translated as BerthError)?.code)) throw translated;
      errors.push(translated);
      if (!endpoint.mirror) break;
      opts.log?.warn('registry mirror failed, trying the next endpoint', { mirror: endpoint.baseUrl, error: String((err as Error)?.message ?? err) });
    }
  }
  const isNetwork = (e: unknown) => (e as BerthError)?.code === 'BERTH_ERR_REGISTRY_UNAVAILABLE';
  const last = errors[errors.length - 1];
  throw isNetwork(last) ? errors.find((e) => !isNetwork(e)) ?? last : last;
}

async function topManifest(client: RegistryClient, ref: Reference, opts: ResolveOptions): Promise<RawBlob> {
  if (ref.digest) return manifestByDigest(client, ref.digest, undefined, opts);
  const tag = ref.tag ?? 'latest';
  const head = await client.headManifest(tag, opts.signal);
  if (head.digest) return manifestByDigest(client, head.digest, head.mediaType, opts);
  const got = await client.fetchManifest(tag, opts.signal);
  return { digest: got.digest, mediaType: got.mediaType ?? '', bytes: got.bytes };
}

/** A manifest by digest: from the content store when a previous pull kept it, else from the registry. */
async function manifestByDigest(client: RegistryClient, digest: string, mediaType: string | undefined, opts: ResolveOptions): Promise<RawBlob> {
  if (await opts.content.has(digest)) {
    const bytes = await opts.content.read(digest);
    if (sha256Digest(bytes) === digest) return { digest, mediaType: mediaType ?? '', bytes };
  }
  const got = await client.fetchManifest(digest, opts.signal);
  return { digest, mediaType: got.mediaType ?? mediaType ?? '', bytes: got.bytes };
}

async function configBlob(client: RegistryClient, desc: Descriptor, opts: ResolveOptions): Promise<RawBlob & { config: ImageConfig }> {
  let bytes: Buffer | undefined;
  if (await opts.content.has(desc.digest)) {
    bytes = await opts.content.read(desc.digest);
    if (sha256Digest(bytes) !== desc.digest) bytes = undefined;
  }
  bytes ??= await client.fetchBlob(desc.digest, MAX_CONFIG_BYTES, opts.signal);
  let config: ImageConfig;
  try {
    config = JSON.parse(bytes.toString('utf8')) as ImageConfig;
  } catch {
    throw invalidArgument(`invalid image config ${desc.digest}: not JSON`);
  }
  if (!config.rootfs || !Array.isArray(config.rootfs.diff_ids)) throw invalidArgument(`invalid image config ${desc.digest}: no rootfs.diff_ids`);
  return { digest: desc.digest, mediaType: desc.mediaType, bytes, config };
}
