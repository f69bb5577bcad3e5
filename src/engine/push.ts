/**
 * `docker push`: for each tag, the image's manifest (pushable-image in push-manifest.ts), then per layer
 * "already there?" (HEAD), a cross-repository mount from a sibling repository on the same registry, or an
 * upload; then the config blob and the manifest under the tag. Progress reads as dockerd's, and the pushed
 * repo digest is recorded on the image.
 */
import { invalidArgument, notFound } from '../errors';
import { familiarName, familiarString, fullName, parseReference, type Reference } from '../image/reference';
import type { ContentStore, ImageRecord, ImageStore, LayerStore, ProgressMessage } from '../image/types';
import type { AuthConfig } from '../registry/auth';
import type { RegistryOptions } from '../registry/hosts';
import { parsePlatform, type Platform } from '../registry/manifest';
import { PushTarget, pushEndpoint, translatePushError } from '../registry/push';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import type { EventLog } from './events';
import { layerProgress, layerStatus, ProgressThrottle } from './progress';
import { checkPlatform, pushableImage, type PushableImage, type PushLayer } from './push-manifest';
import { progressId } from './pull-layer';

/** Layers uploaded at once (dockerd's max-concurrent-uploads default). */
export const MAX_CONCURRENT_UPLOADS = 5;
/** Sibling repositories tried for a cross-repository mount of one blob. */
const MAX_MOUNT_SOURCES = 3;

export interface PusherDeps {
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  events: EventLog;
  registry: RegistryOptions;
  log: Logger;
}

export interface PushOptions {
  /** the tag to push; without it (or with `all`) every local tag of the repository is pushed */
  tag?: string;
  all?: boolean;
  auth?: AuthConfig;
  /** `linux/amd64`, or an OCI platform object as the API (1.46+) sends it */
  platform?: string | Platform;
  signal?: AbortSignal;
}

export interface PushResult {
  tag: string;
  digest: string;
  size: number;
}

export class Pusher {
  constructor(private readonly deps: PusherDeps) {}

  /** Pushes `name` (`127.0.0.1:5000/team/app`, with or without `:tag`). Local problems throw before any progress. */
  async push(name: string, opts: PushOptions, progress: (m: ProgressMessage) => void): Promise<PushResult[]> {
    const ref = parseReference(name);
    if (ref.digest) throw invalidArgument(`cannot push a digest reference: ${familiarString(ref)}`);
    const tag = opts.all ? undefined : opts.tag || ref.tag;
    const wanted = typeof opts.platform === 'string' ? (opts.platform ? parsePlatform(opts.platform) : undefined) : opts.platform;
    const selected = this.select(ref, tag);
    for (const [t, img] of selected) checkPlatform(img, familiarString({ ...ref, tag: t }), wanted);

    progress({ status: `The push refers to repository [${fullName(ref)}]` });
    const stop = new AbortController();
    const onAbort = () => stop.abort(opts.signal?.reason);
    if (opts.signal?.aborted) onAbort();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    const target = new PushTarget(pushEndpoint(ref.domain, this.deps.registry), ref.path, opts.auth, stop.signal);
    const results: PushResult[] = [];
    try {
      await target.ping();
      for (const [t, img] of selected) {
        const pushable = await pushableImage(img, this.deps);
        results.push(await this.pushTag(ref, t, pushable, target, stop, progress));
      }
    } catch (err) {
      throw translatePushError(err);
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
    }
    return results;
  }

  /** [tag, image] pairs: the one tag asked for, or every tag of the repository. */
  private select(ref: Reference, tag: string | undefined): [string, ImageRecord][] {
    const repo = fullName(ref);
    if (tag) {
      const img = this.deps.images.resolve(`${repo}:${tag}`);
      if (!img) throw notFound(`An image does not exist locally with the tag: ${familiarString({ ...ref, tag })}`, 'BERTH_ERR_NO_SUCH_IMAGE');
      return [[tag, img]];
    }
    const out: [string, ImageRecord][] = [];
    for (const img of this.deps.images.list()) {
      for (const t of img.repoTags) if (t.startsWith(`${repo}:`)) out.push([t.slice(repo.length + 1), img]);
    }
    if (out.length === 0) throw notFound(`An image does not exist locally with the tag: ${familiarName(ref)}`, 'BERTH_ERR_NO_SUCH_IMAGE');
    return out.sort((a, b) => a[0].localeCompare(b[0]));
  }

  private async pushTag(ref: Reference, tag: string, p: PushableImage, target: PushTarget, stop: AbortController,
    progress: (m: ProgressMessage) => void): Promise<PushResult> {
    // one job per distinct blob; dockerd lists the top layer first
    const jobs: PushLayer[] = [];
    for (const l of [...p.layers].reverse()) if (!jobs.some((j) => j.desc.digest === l.desc.digest)) jobs.push(l);
    for (const j of jobs) progress(layerStatus(progressId(j.diffId), 'Preparing'));
    jobs.slice(MAX_CONCURRENT_UPLOADS).forEach((j) => progress(layerStatus(progressId(j.diffId), 'Waiting')));

    let next = 0;
    let firstError: unknown;
    const worker = async () => {
      while (next < jobs.length && !stop.signal.aborted) {
        const job = jobs[next++];
        try {
          await this.pushLayer(ref, job, target, progress);
        } catch (err) {
          if (firstError === undefined) firstError = err;
          stop.abort(err);
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(MAX_CONCURRENT_UPLOADS, jobs.length) }, worker));
    if (firstError !== undefined) throw firstError;
    if (stop.signal.aborted) throw stop.signal.reason ?? new Error('push aborted');

    await target.uploadBytes(p.configBytes, p.image.id);
    const digest = await target.putManifest(tag, p.manifestBytes, p.mediaType);
    const size = p.manifestBytes.length;
    progress({ status: `${tag}: digest: ${digest} size: ${size}` });
    progress({ progressDetail: {}, aux: { Tag: tag, Digest: digest, Size: size } });

    const repo = fullName(ref);
    this.deps.images.add({
      config: p.image.config, configDigest: p.image.id, layers: p.image.layers,
      manifests: [{ digest, mediaType: p.mediaType }],
      repoDigests: [{ ref: `${repo}@${digest}`, manifestDigest: digest }],
    });
    const shown = familiarString({ ...ref, tag });
    this.deps.events.emit('image', 'push', shown, { name: shown });
    return { tag, digest, size };
  }

  private async pushLayer(ref: Reference, job: PushLayer, target: PushTarget, progress: (m: ProgressMessage) => void): Promise<void> {
    const id = progressId(job.diffId);
    const { digest, size } = job.desc;
    if (await target.blobExists(digest)) {
      progress(layerStatus(id, 'Layer already exists'));
      return;
    }
    let location: string | undefined;
    for (const from of this.mountSources(ref, job.chainId)) {
      const outcome = await target.mountBlob(digest, from);
      if (outcome.mounted) {
        progress(layerStatus(id, `Mounted from ${from}`));
        return;
      }
      if (outcome.location) {
        location = outcome.location;
        break;
      }
    }
    const throttle = new ProgressThrottle();
    await target.upload(this.deps.content.readStream(digest), digest, size, (sent, total) => {
      if (throttle.shouldEmit(sent, total)) progress(layerProgress(id, 'Pushing', sent, total));
    }, location);
    progress(layerStatus(id, 'Pushed'));
  }

  /** Other repositories on the same registry that hold an image with this layer (by tag or digest). */
  private mountSources(ref: Reference, chainId: string): string[] {
    const out: string[] = [];
    for (const img of this.deps.images.list()) {
      if (!img.layers.includes(chainId)) continue;
      for (const name of [...img.repoTags, ...img.repoDigests]) {
        let r: Reference;
        try {
          r = parseReference(name);
        } catch {
          continue;
        }
        if (r.domain === ref.domain && r.path !== ref.path && !out.includes(r.path)) out.push(r.path);
        if (out.length >= MAX_MOUNT_SOURCES) return out;
      }
    }
    return out;
  }
}
