/**
 * The image pull pipeline. Layers stream in parallel (download → verify → unpack, see pull-layer.ts);
 * nothing becomes visible until every layer is unpacked and verified: then the blobs are published and the
 * layer rows and the image (tags, repo digest, manifests) are written in one transaction. On any failure
 * or abort the drafts and ingests are removed; a crash leaves only tmp/ files and unregistered layer dirs,
 * which daemon startup wipes.
 */
import { computeChainIds } from '../image/chain-id';
import { familiarString, fullName, fullString, parseWithDefaultTag, type Reference } from '../image/reference';
import type {
  ContentStore, ImageRecord, ImageStore, Ingest, LayerDraft, LayerStore, NewImage, ProgressMessage,
} from '../image/types';
import type { AuthConfig } from '../registry/auth';
import { inspectDistribution, type DistributionInspect } from '../registry/distribution';
import type { RegistryOptions } from '../registry/hosts';
import { hostPlatform, parsePlatform } from '../registry/manifest';
import { resolveImage, type ResolvedImage } from '../registry/resolve';
import { invalidArgument } from '../errors';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import type { EventLog } from './events';
import { canUseLayerWorkers, layerWorkers, MAX_CONCURRENT_LAYERS, progressId, pullLayer, type LayerJob, type LayerOutcome } from './pull-layer';
import { layerStatus } from './progress';

export { MAX_CONCURRENT_LAYERS } from './pull-layer';

export interface PullerDeps {
  dataRoot: string;
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  events: EventLog;
  registry: RegistryOptions;
  log: Logger;
}

export interface PullOptions {
  /** `linux/arm64[/v8]`; default: the host's platform */
  platform?: string;
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface PullResult {
  image: ImageRecord;
  /** the digest the reference resolved to (index digest for multi-platform images) */
  digest: string;
  upToDate: boolean;
}

export class Puller {
  constructor(private readonly deps: PullerDeps) {}

  /** Pulls `refText` (`busybox`, `127.0.0.1:5000/app:1`, `name@sha256:…`), reporting dockerd-shaped progress. */
  async pull(refText: string, opts: PullOptions, progress: (m: ProgressMessage) => void): Promise<PullResult> {
    const ref = parseWithDefaultTag(refText);
    const explicit = opts.platform ? parsePlatform(opts.platform) : undefined;
    const { content } = this.deps;
    // the layer threads boot while the manifest and config are fetched
    if (canUseLayerWorkers(content, this.deps.layers)) layerWorkers.warm();
    progress({ status: `Pulling from ${ref.path}`, id: ref.digest ?? ref.tag });

    const resolved = await resolveImage(ref, {
      registry: this.deps.registry, content, auth: opts.auth, platform: explicit, wanted: explicit ?? hostPlatform(),
      signal: opts.signal, log: this.deps.log,
    });
    const { config } = resolved;
    const diffIds = config.config.rootfs.diff_ids;
    const blobs = resolved.manifest.manifest.layers;
    if (diffIds.length !== blobs.length) {
      throw invalidArgument(`layers from manifest don't match image configuration: ${blobs.length} layers, ${diffIds.length} diff IDs`, 'BERTH_ERR_DIFF_ID_MISMATCH');
    }
    const chainIds = computeChainIds(diffIds);
    const familiar = familiarString(ref);

    if (this.isUpToDate(ref, resolved, chainIds)) {
      progress({ status: `Digest: ${resolved.repoDigest}` });
      progress({ status: `Status: Image is up to date for ${familiar}` });
      this.deps.events.emit('image', 'pull', familiar, { name: familiar });
      return { image: this.deps.images.get(config.digest)!, digest: resolved.repoDigest, upToDate: true };
    }

    const jobs: (LayerJob & { index: number })[] = [];
    blobs.forEach((desc, index) => {
      const id = progressId(desc.digest);
      if (this.deps.layers.get(chainIds[index])) {
        progress(layerStatus(id, 'Already exists'));
      } else {
        progress(layerStatus(id, 'Pulling fs layer'));
        jobs.push({ desc, expectedDiffId: diffIds[index], id, index });
      }
    });
    jobs.slice(MAX_CONCURRENT_LAYERS).forEach((j) => progress(layerStatus(j.id, 'Waiting')));

    const outcomes = await this.pullLayers(resolved, jobs, opts.signal, progress);
    let image: ImageRecord;
    try {
      image = await this.publish(ref, resolved, chainIds, jobs, outcomes);
    } catch (err) {
      await this.cleanup([...outcomes.values()].map((o) => o.draft), []);
      throw err;
    }
    progress({ status: `Digest: ${resolved.repoDigest}` });
    progress({ status: `Status: Downloaded newer image for ${familiar}` });
    this.deps.events.emit('image', 'pull', familiar, { name: familiar });
    return { image, digest: resolved.repoDigest, upToDate: false };
  }

  /** `GET /distribution/{name}/json` */
  inspectDistribution(refText: string, auth?: AuthConfig, signal?: AbortSignal): Promise<DistributionInspect> {
    return inspectDistribution(refText, auth, { registry: this.deps.registry, content: this.deps.content, signal });
  }

  /** The image and every layer are here and the reference already names this image. */
  private isUpToDate(ref: Reference, resolved: ResolvedImage, chainIds: string[]): boolean {
    const existing = this.deps.images.get(resolved.config.digest);
    if (!existing || !chainIds.every((c) => this.deps.layers.get(c))) return false;
    if (ref.digest) return existing.repoDigests.includes(`${fullName(ref)}@${resolved.repoDigest}`);
    return this.deps.images.resolve(fullString(ref))?.id === existing.id
      && existing.repoDigests.includes(`${fullName(ref)}@${resolved.repoDigest}`);
  }

  /** Runs the layer jobs, at most MAX_CONCURRENT_LAYERS at once; on the first failure stops the others and cleans up. */
  private async pullLayers(resolved: ResolvedImage, jobs: (LayerJob & { index: number })[], signal: AbortSignal | undefined,
    progress: (m: ProgressMessage) => void): Promise<Map<number, LayerOutcome>> {
    const stop = new AbortController();
    const onAbort = () => stop.abort(signal?.reason);
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    const drafts: LayerDraft[] = [];
    const ingests: Ingest[] = [];
    const outcomes = new Map<number, LayerOutcome>();
    let firstError: unknown;
    let next = 0;
    const worker = async () => {
      while (next < jobs.length && !stop.signal.aborted) {
        const job = jobs[next++];
        try {
          const outcome = await pullLayer(job, {
            client: resolved.client, content: this.deps.content, layers: this.deps.layers, progress, signal: stop.signal,
            track: (draft, ingest) => { if (draft) drafts.push(draft); if (ingest) ingests.push(ingest); },
          });
          outcomes.set(job.index, outcome);
        } catch (err) {
          if (firstError === undefined) firstError = err;
          stop.abort(err);
        }
      }
    };
    try {
      await Promise.all(Array.from({ length: Math.min(MAX_CONCURRENT_LAYERS, jobs.length) }, worker));
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
    if (firstError === undefined && signal?.aborted) firstError = signal.reason ?? new Error('pull aborted');
    if (firstError !== undefined) {
      await this.cleanup(drafts, ingests);
      throw firstError;
    }
    return outcomes;
  }

  /** Publishes blobs, then layer rows and the image in one transaction. */
  private async publish(ref: Reference, resolved: ResolvedImage, chainIds: string[], jobs: (LayerJob & { index: number })[],
    outcomes: Map<number, LayerOutcome>): Promise<ImageRecord> {
    const { content, layers, images, db } = this.deps;
    const kept = [resolved.config, resolved.manifest, ...(resolved.index ? [resolved.index] : [])];
    for (const blob of kept) if (!(await content.has(blob.digest))) await content.put(blob.bytes, blob.digest);

    const newImage: NewImage = {
      config: resolved.config.config,
      configDigest: resolved.config.digest,
      layers: chainIds,
      manifests: [resolved.manifest, ...(resolved.index ? [resolved.index] : [])].map((b) => ({ digest: b.digest, mediaType: b.mediaType })),
      tags: ref.digest ? [] : [fullString(ref)],
      repoDigests: [{ ref: `${fullName(ref)}@${resolved.repoDigest}`, manifestDigest: resolved.repoDigest }],
    };
    const unused: LayerDraft[] = [];
    const image = db.transaction(() => {
      for (const job of jobs) {
        const outcome = outcomes.get(job.index)!;
        const chainId = chainIds[job.index];
        // a concurrent pull of the same layer got there first: keep its layer, drop ours
        if (layers.get(chainId)) { unused.push(outcome.draft); continue; }
        layers.commit(outcome.draft, {
          chainId, diffId: outcome.applied.diffId, parent: job.index > 0 ? chainIds[job.index - 1] : null,
          size: outcome.applied.size, blobDigest: job.desc.digest, blobMediaType: job.desc.mediaType, blobSize: job.desc.size,
        });
      }
      return images.add(newImage);
    })();
    await this.cleanup(unused, []);
    return image;
  }

  private async cleanup(drafts: LayerDraft[], ingests: Ingest[]): Promise<void> {
    for (const d of drafts) {
      await this.deps.layers.abort(d).catch((err) => this.deps.log.warn('could not remove layer draft', { dir: d.diffDir, error: String(err) }));
    }
    for (const i of ingests) {
      await i.abort().catch((err) => this.deps.log.warn('could not remove ingest', { path: i.tempPath, error: String(err) }));
    }
  }
}
