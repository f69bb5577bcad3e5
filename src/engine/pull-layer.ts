/**
 * One layer of a pull, as a single stream: registry body → sha256 of the compressed bytes → (tee) an
 * ingest temp file in the content store, and → decompressor → layer store apply (which hashes the tar,
 * giving the diff ID). The verified blob is committed to the content store (a cache); the layer draft is
 * left for the caller to commit with the image, or to abort.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument } from '../errors';
import { compressionFromMediaType, createDecompressor } from '../image/compression';
import type { ApplyResult, ContentStore, Ingest, LayerDraft, LayerStore, ProgressMessage } from '../image/types';
import type { RegistryClient } from '../registry/client';
import type { Descriptor } from '../registry/manifest';
import { layerProgress, layerStatus, ProgressThrottle } from './progress';

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

export function verificationError(digest: string): Error {
  return invalidArgument(`filesystem layer verification failed for digest ${digest}`, 'BERTH_ERR_BLOB_VERIFICATION');
}

function abortError(signal: AbortSignal): Error {
  const reason = signal.reason;
  return reason instanceof Error ? reason : Object.assign(new Error('pull aborted'), { name: 'AbortError' });
}

function isDigestMismatch(err: unknown): boolean {
  return (err as { code?: string })?.code === 'BERTH_ERR_DIGEST_MISMATCH';
}

/** A promise that rejects when any of `streams` errors, or `extra` rejects; never resolves. */
function failureOf(streams: (Readable | Writable)[], extra: Promise<unknown>): Promise<never> {
  return new Promise<never>((_, reject) => {
    for (const s of streams) s.once('error', reject);
    extra.catch(reject);
  });
}

export async function pullLayer(job: LayerJob, deps: LayerJobDeps): Promise<LayerOutcome> {
  const { desc, id } = job;
  const { signal } = deps;
  if (signal.aborted) throw abortError(signal);
  const draft = await deps.layers.begin();
  deps.track(draft);

  let source: Readable;
  let ingest: Ingest | undefined;
  if (await deps.content.has(desc.digest)) {
    source = deps.content.readStream(desc.digest);
  } else {
    source = (await deps.client.openBlob(desc.digest, signal)).stream;
    ingest = deps.content.ingest();
    deps.track(undefined, ingest);
  }
  const decompressor = createDecompressor(compressionFromMediaType(desc.mediaType));
  const applying = deps.layers.apply(draft, decompressor);
  applying.catch(() => {}); // observed through `extractFailed`
  // settles (never rejects) when unpacking fails; the download goes on so a corrupt blob is reported as such
  let extractError: unknown;
  const extractFailed = failureOf([decompressor], applying).catch((err) => { extractError ??= err; });
  const onAbort = () => {
    source.destroy(abortError(signal));
    decompressor.destroy(abortError(signal));
  };
  signal.addEventListener('abort', onAbort, { once: true });

  const throttle = new ProgressThrottle();
  let received = 0;
  try {
    for await (const chunk of source as AsyncIterable<Buffer>) {
      received += chunk.length;
      if (received > desc.size) throw verificationError(desc.digest);
      const waits: Promise<unknown>[] = [];
      if (ingest && !ingest.stream.write(chunk)) waits.push(once(ingest.stream, 'drain'));
      if (extractError === undefined && !decompressor.destroyed && !decompressor.write(chunk)) {
        waits.push(Promise.race([once(decompressor, 'drain').catch(() => {}), extractFailed]));
      }
      if (waits.length) await Promise.all(waits);
      if (throttle.shouldEmit(received, desc.size)) deps.progress(layerProgress(id, 'Downloading', received, desc.size));
    }
    if (signal.aborted) throw abortError(signal);
    deps.progress(layerStatus(id, 'Verifying Checksum'));
    if (received !== desc.size) throw verificationError(desc.digest);
    if (extractError === undefined) decompressor.end();
    // the ingest hashed every byte as it was written: commit verifies the digest and publishes the blob
    // (a verified blob in the content store is a cache for the next pull, never an image or a layer)
    if (ingest) await ingest.commit(desc.digest).catch((err) => { throw isDigestMismatch(err) ? verificationError(desc.digest) : err; });
    if (extractError !== undefined) throw extractError;
    deps.progress(layerStatus(id, 'Download complete'));
    const applied = await Promise.race([applying, extractFailed.then(() => Promise.reject(extractError))]);
    if (applied.diffId !== job.expectedDiffId) {
      throw invalidArgument(`layers from manifest don't match image configuration: layer ${desc.digest} unpacks to ${applied.diffId}, config says ${job.expectedDiffId}`, 'BERTH_ERR_DIFF_ID_MISMATCH');
    }
    deps.progress(layerProgress(id, 'Extracting', desc.size, desc.size));
    deps.progress(layerStatus(id, 'Pull complete'));
    return { draft, applied };
  } catch (err) {
    const stop = new Error('layer pull stopped');
    source.destroy();
    decompressor.destroy(stop);
    // let apply notice and stop writing into the draft before the caller removes it
    await applying.catch(() => {});
    throw signal.aborted ? abortError(signal) : err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
