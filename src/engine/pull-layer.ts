/**
 * One layer of a pull: registry body (or the content store's copy) → sha256 of the compressed bytes and an
 * ingest in the content store, and → decompressor → layer store apply (which hashes the tar, giving the
 * diff ID). The verified blob is committed to the content store (a cache); the layer draft is left for the
 * caller to commit with the image, or to abort.
 *
 * With the on-disk stores the byte work runs in a layer worker thread (pull-worker.ts): this thread only
 * moves the network's buffers there and reports progress. Other stores get the same work in this thread.
 */
import * as fs from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { invalidArgument } from '../errors';
import { compressionFromMediaType } from '../image/compression';
import { FsContentStore } from '../image/content-store';
import { OverlayLayerStore } from '../image/layer-store';
import type { ApplyResult, ContentStore, Ingest, LayerDraft, LayerStore, ProgressMessage } from '../image/types';
import type { RegistryClient } from '../registry/client';
import type { Descriptor } from '../registry/manifest';
import { abortError, unpackLayer, verificationError } from './layer-unpack';
import { defaultPoolSize, LayerWorkerPool } from './pull-worker-pool';
import { layerProgress, layerStatus, ProgressThrottle } from './progress';

export { verificationError } from './layer-unpack';

/** Layers downloaded at once; the rest show "Waiting" as with dockerd. */
export const MAX_CONCURRENT_LAYERS = 4;

/** The process's layer worker threads, shared by all pulls. */
export const layerWorkers = new LayerWorkerPool(defaultPoolSize(MAX_CONCURRENT_LAYERS));

export interface LayerJob {
  desc: Descriptor;
  expectedDiffId: string;
  /** progress id: the first 12 hex digits of the blob digest */
  id: string;
}

/** What a finished layer job leaves for the final commit (its blob is already in the content store). */
export interface LayerOutcome {
  draft: LayerDraft;
  applied: ApplyResult;
}

export interface LayerJobDeps {
  client: RegistryClient;
  content: ContentStore;
  layers: LayerStore;
  progress: (m: ProgressMessage) => void;
  signal: AbortSignal;
  /** the job registers its draft and ingest here at once, so cleanup finds them whatever happens */
  track: (draft?: LayerDraft, ingest?: Ingest) => void;
}

export function progressId(digest: string): string {
  return digest.slice(digest.indexOf(':') + 1, digest.indexOf(':') + 13);
}

/** True when the layer work can run in a worker thread: both stores live on disk under one data root. */
export function canUseLayerWorkers(content: ContentStore, layers: LayerStore): boolean {
  return content instanceof FsContentStore && layers instanceof OverlayLayerStore;
}

export async function pullLayer(job: LayerJob, deps: LayerJobDeps): Promise<LayerOutcome> {
  const { desc } = job;
  const { signal } = deps;
  if (signal.aborted) throw abortError(signal);
  const compression = compressionFromMediaType(desc.mediaType);
  const draft = await deps.layers.begin();
  deps.track(draft);

  let source: Readable;
  let fromRegistry = false;
  if (await deps.content.has(desc.digest)) {
    source = deps.content.readStream(desc.digest);
  } else {
    source = (await deps.client.openBlob(desc.digest, signal)).stream;
    fromRegistry = true;
  }
  const onAbort = () => source.destroy(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    const applied = deps.content instanceof FsContentStore && canUseLayerWorkers(deps.content, deps.layers)
      ? await unpackInWorker(job, deps, source, { dataRoot: deps.content.dataRoot, diffDir: draft.diffDir, compression, ingest: fromRegistry })
      : await unpackHere(job, deps, source, draft, fromRegistry);
    if (applied.diffId !== job.expectedDiffId) {
      throw invalidArgument(`layers from manifest don't match image configuration: layer ${desc.digest} unpacks to ${applied.diffId}, config says ${job.expectedDiffId}`, 'BERTH_ERR_DIFF_ID_MISMATCH');
    }
    deps.progress(layerProgress(job.id, 'Extracting', desc.size, desc.size));
    deps.progress(layerStatus(job.id, 'Pull complete'));
    return { draft, applied };
  } catch (err) {
    source.destroy();
    throw signal.aborted ? abortError(signal) : err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}

async function unpackHere(job: LayerJob, deps: LayerJobDeps, source: Readable, draft: LayerDraft, fromRegistry: boolean): Promise<ApplyResult> {
  const { desc, id } = job;
  let ingest: Ingest | undefined;
  if (fromRegistry) {
    ingest = deps.content.ingest();
    deps.track(undefined, ingest);
  }
  const throttle = new ProgressThrottle();
  return unpackLayer(source as AsyncIterable<Buffer>, {
    digest: desc.digest, size: desc.size, compression: compressionFromMediaType(desc.mediaType), ingest, signal: deps.signal,
    apply: (tar) => deps.layers.apply(draft, tar),
    onChunk: (received) => {
      if (throttle.shouldEmit(received, desc.size)) deps.progress(layerProgress(id, 'Downloading', received, desc.size));
    },
    onReceived: () => deps.progress(layerStatus(id, 'Verifying Checksum')),
    onVerified: () => deps.progress(layerStatus(id, 'Download complete')),
  });
}

/** Streams the blob into a layer worker; resolves with its apply result once the worker has verified and unpacked it. */
async function unpackInWorker(job: LayerJob, deps: LayerJobDeps, source: Readable,
  work: { dataRoot: string; diffDir: string; compression: ReturnType<typeof compressionFromMediaType>; ingest: boolean }): Promise<ApplyResult> {
  const { desc, id } = job;
  const { signal } = deps;
  const task = layerWorkers.start({ ...work, digest: desc.digest, size: desc.size });
  const throttle = new ProgressThrottle();
  let received = 0;
  try {
    // 'data' events rather than an async iterator: no promise per network read on this thread
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error) => {
        source.off('data', onData);
        reject(err);
      };
      const onData = (chunk: Buffer) => {
        if (task.error) return fail(task.error);
        received += chunk.length;
        if (received > desc.size) return fail(verificationError(desc.digest));
        task.send(chunk);
        if (task.full) {
          source.pause();
          task.credit().then(() => source.resume(), () => {});
        }
        if (throttle.shouldEmit(received, desc.size)) deps.progress(layerProgress(id, 'Downloading', received, desc.size));
      };
      source.on('data', onData);
      source.once('error', fail);
      source.once('end', resolve);
      // a destroyed source (abort) may close without 'end' or 'error'
      source.once('close', () => (source.readableEnded ? resolve() : fail(signal.aborted ? abortError(signal) : new Error('blob stream closed early'))));
    });
    if (signal.aborted) throw abortError(signal);
    deps.progress(layerStatus(id, 'Verifying Checksum'));
    if (received !== desc.size) throw verificationError(desc.digest);
    task.end();
    await task.verified;
    deps.progress(layerStatus(id, 'Download complete'));
    return await task.result;
  } catch (err) {
    source.destroy();
    // the worker stops its unpacking and removes its ingest before this returns, so the draft can go next
    await task.abort();
    if (task.tempPath) await fs.rm(task.tempPath, { force: true }).catch(() => {});
    throw err;
  }
}
