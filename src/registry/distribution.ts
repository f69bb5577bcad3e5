/**
 * `GET /distribution/{name}/json`: what a reference names on its registry, without pulling it.
 */
import { parseWithDefaultTag } from '../image/reference';
import type { ContentStore } from '../image/types';
import type { AuthConfig } from './auth';
import { parseManifest, hostPlatform, type Platform } from './manifest';
import { resolveTop } from './resolve';
import type { RegistryOptions } from './hosts';

export interface DistributionInspect {
  Descriptor: { mediaType: string; digest: string; size: number };
  Platforms: Platform[];
}

export async function inspectDistribution(
  refText: string,
  auth: AuthConfig | undefined,
  deps: { registry: RegistryOptions; content: ContentStore; signal?: AbortSignal },
): Promise<DistributionInspect> {
  const ref = parseWithDefaultTag(refText);
  const opts = { registry: deps.registry, content: deps.content, auth, wanted: hostPlatform(), signal: deps.signal };
  const { client, top } = await resolveTop(ref, opts);
  const parsed = parseManifest(top.bytes, top.mediaType);
  const Descriptor = { mediaType: parsed.mediaType, digest: top.digest, size: top.bytes.length };
  if (parsed.kind === 'index') {
    const Platforms = parsed.index.manifests
      .filter((d) => d.platform && d.platform.os !== 'unknown' && d.platform.architecture !== 'unknown')
      .map((d) => ({ architecture: d.platform!.architecture, os: d.platform!.os, ...(d.platform!.variant ? { variant: d.platform!.variant } : {}) }));
    return { Descriptor, Platforms };
  }
  // a single manifest: its platform is in the config, as dockerd reports it
  const config = JSON.parse((await client.fetchBlob(parsed.manifest.config.digest, 16 << 20, deps.signal)).toString('utf8')) as {
    architecture?: string; os?: string; variant?: string;
  };
  const Platforms = config.architecture ? [{ architecture: config.architecture, os: config.os ?? 'linux', ...(config.variant ? { variant: config.variant } : {}) }] : [];
  return { Descriptor, Platforms };
}
