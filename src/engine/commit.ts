/**
 * `docker commit`: a container's upper dir becomes one new layer on top of its image. The layer tar is
 * stored uncompressed (digest = diff ID) while the same bytes are unpacked into a layer draft; the layer row
 * and the image row are added in one transaction, or nothing is. A running container is paused (frozen)
 * while its upper dir is read unless `pause` is false.
 */
import { once } from 'node:events';
import { PassThrough } from 'node:stream';
import { conflict } from '../errors';
import { OCI_LAYER_TAR } from '../image/archive/format';
import { applyChanges } from '../image/changes';
import { computeChainIds } from '../image/chain-id';
import { familiarString, fullString } from '../image/reference';
import { exportLayerTar } from '../image/tar-export';
import type { ContainerConfig, ContentStore, HistoryEntry, ImageConfig, ImageStore, LayerStore } from '../image/types';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import { isRuntimePlaceholder } from './container-changes';
import { whileFrozen } from './container-freeze';
import type { ContainerService } from './containers';
import type { ContainerConfigRecord } from './containers-store';
import type { EventLog } from './events';
import { importTarget } from './image-import';

export interface CommitDeps {
  containers: ContainerService;
  db: Db;
  content: ContentStore;
  layers: LayerStore;
  images: ImageStore;
  events: EventLog;
  log: Logger;
}

export interface CommitOptions {
  repo?: string;
  tag?: string;
  comment?: string;
  author?: string;
  pause?: boolean;
  changes?: string[];
  /** the request body: config fields that override the container's */
  config?: ContainerConfig | null;
}

/** sha256 of an empty tar (two zero blocks): a container that changed nothing adds an empty layer. */
const EMPTY_TAR_DIFF = 'sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef';

const IMAGE_KEYS = ['User', 'ExposedPorts', 'Env', 'Entrypoint', 'Cmd', 'Volumes', 'WorkingDir', 'Labels', 'StopSignal', 'Healthcheck', 'OnBuild', 'Shell', 'ArgsEscaped'];

/** The image-relevant part of a container's config. */
function imageFields(c: ContainerConfigRecord): ContainerConfig {
  const out: ContainerConfig = {};
  for (const k of IMAGE_KEYS) if (c[k] !== undefined) out[k] = JSON.parse(JSON.stringify(c[k]));
  return out;
}

const empty = (v: unknown) => v === undefined || v === null || v === '' || (Array.isArray(v) && v.length === 0) || (typeof v === 'object' && Object.keys(v as object).length === 0);

/** dockerd's merge of a commit's config (body + changes) over the container's: unset fields come from it. */
export function mergeCommitConfig(user: ContainerConfig, ctr: ContainerConfig): ContainerConfig {
  const out: ContainerConfig = { ...user };
  if (empty(out.User)) out.User = ctr.User;
  if (ctr.ExposedPorts) out.ExposedPorts = { ...ctr.ExposedPorts, ...(out.ExposedPorts ?? {}) };
  if (ctr.Env?.length) {
    const env = [...(out.Env ?? [])];
    for (const e of ctr.Env) if (!env.some((u) => u.split('=')[0] === e.split('=')[0])) env.push(e);
    out.Env = env;
  }
  if (ctr.Labels) out.Labels = { ...ctr.Labels, ...(out.Labels ?? {}) };
  if (empty(out.Entrypoint)) {
    if (empty(out.Cmd)) out.Cmd = ctr.Cmd;
    if (out.Entrypoint === undefined) out.Entrypoint = ctr.Entrypoint;
  }
  for (const k of ['WorkingDir', 'OnBuild', 'StopSignal', 'Healthcheck', 'Shell']) if (empty(out[k])) out[k] = ctr[k];
  if (ctr.Volumes) out.Volumes = { ...ctr.Volumes, ...(out.Volumes ?? {}) };
  for (const k of Object.keys(out)) if (out[k] === undefined) delete out[k];
  return out;
}

export class Committer {
  constructor(private readonly d: CommitDeps) {}

  async commit(ref: string, o: CommitOptions): Promise<{ Id: string }> {
    const target = importTarget(o.repo, o.tag);
    const { id } = this.d.containers.get(ref);
    return this.d.containers.exclusive(id, async () => {
      const c = this.d.containers.get(id);
      const image = this.d.images.get(c.imageId);
      if (!image) throw conflict(`cannot commit container ${c.id}: its image ${c.imageId} was removed`);
      const config = mergeCommitConfig(applyChanges(o.changes ?? [], o.config ?? {}), imageFields(c.config));

      const upper = this.d.containers.paths.upper(c.id);
      const layer = o.pause === false
        ? await this.writeLayer(upper)
        : await whileFrozen(this.d.containers, c, () => this.writeLayer(upper), (e) => this.d.log.warn('resuming after commit', { id: c.id, error: e }));

      const { layers, images, content, db, events } = this.d;
      const emptyLayer = layer.diffId === EMPTY_TAR_DIFF;
      const created = new Date().toISOString();
      const parentDiffs = image.config.rootfs.diff_ids;
      const diffIds = emptyLayer ? parentDiffs : [...parentDiffs, layer.diffId];
      const chain = computeChainIds(diffIds);
      const history: HistoryEntry = {
        created,
        ...(o.author ? { author: o.author } : {}),
        created_by: [...(c.config.Entrypoint ?? []), ...(c.config.Cmd ?? [])].join(' '),
        ...(o.comment ? { comment: o.comment } : {}),
        ...(emptyLayer ? { empty_layer: true } : {}),
      };
      const imageConfig: ImageConfig = {
        architecture: image.config.architecture,
        ...(image.config.variant ? { variant: image.config.variant } : {}),
        os: image.config.os,
        created,
        ...(o.author ? { author: o.author } : {}),
        ...(o.comment ? { comment: o.comment } : {}),
        config,
        container: c.id,
        rootfs: { type: 'layers', diff_ids: diffIds },
        history: [...(image.config.history ?? []), history],
      };
      const configDigest = await content.put(Buffer.from(JSON.stringify(imageConfig)));
      let usedDraft = false;
      try {
        const blobDigest = emptyLayer ? '' : await layer.ingest.commit(layer.diffId);
        const chainId = chain[chain.length - 1];
        const record = db.transaction(() => {
          if (!emptyLayer && !layers.get(chainId)) {
            layers.commit(layer.draft, {
              chainId, diffId: layer.diffId, parent: image.layers[image.layers.length - 1] ?? null, size: layer.size,
              blobDigest, blobMediaType: OCI_LAYER_TAR, blobSize: layer.blobSize,
            });
            usedDraft = true;
          }
          return images.add({ config: imageConfig, configDigest, layers: emptyLayer ? image.layers : [...image.layers, chainId], parent: image.id, tags: target ? [fullString(target)] : [] });
        })();
        events.emit('container', 'commit', c.id, {
          ...(c.config.Labels ?? {}), comment: o.comment ?? '', imageID: record.id, imageRef: target ? familiarString(target) : '', image: c.config.Image, name: c.name,
        });
        if (target) events.emit('image', 'tag', record.id, { name: familiarString(target) });
        return { Id: record.id };
      } finally {
        if (emptyLayer) await layer.ingest.abort().catch(() => {});
        if (!usedDraft) await layers.abort(layer.draft).catch(() => {});
      }
    });
  }

  /** The upper dir as a layer tar, stored as a blob and unpacked into a draft in one pass. */
  private async writeLayer(upper: string) {
    const { layers, content } = this.d;
    const draft = await layers.begin();
    const ingest = content.ingest();
    const feed = new PassThrough({ highWaterMark: 1024 * 1024 });
    const applying = layers.apply(draft, feed);
    applying.catch(() => {});
    try {
      const failed = new Promise<never>((_, reject) => {
        applying.catch(reject);
        ingest.stream.once('error', reject);
      });
      failed.catch(() => {});
      const tar = exportLayerTar(upper, (rel, st, abs) => isRuntimePlaceholder('/' + rel, st, abs));
      for await (const chunk of tar as AsyncIterable<Buffer>) {
        const waits: Promise<unknown>[] = [];
        if (!ingest.stream.write(chunk)) waits.push(once(ingest.stream, 'drain'));
        if (!feed.write(chunk)) waits.push(once(feed, 'drain'));
        if (waits.length) await Promise.race([Promise.all(waits), failed]);
      }
      feed.end();
      const applied = await Promise.race([applying, failed]);
      return { draft, ingest, diffId: applied.diffId, size: applied.size, blobSize: ingest.written };
    } catch (err) {
      feed.destroy();
      await applying.catch(() => {});
      await ingest.abort().catch(() => {});
      await layers.abort(draft).catch(() => {});
      throw err;
    }
  }
}
