/**
 * The byte work of one pulled layer, wherever it runs (a layer worker thread, or the caller's thread):
 * every compressed byte goes to the ingest (which hashes it: the blob digest) and to the decompressor,
 * whose output the layer store applies (hashing the tar: the diff ID). A corrupt blob is reported as such
 * even when unpacking failed first, so the download goes on after an extraction error.
 */
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { invalidArgument } from '../errors';
import { createDecompressor, type Compression } from '../image/compression';
import type { ApplyResult, Ingest } from '../image/types';

export interface UnpackOptions {
  /** the blob's digest and size from the manifest */
  digest: string;
  size: number;
  compression: Compression;
  /** where the compressed bytes are kept; absent when the blob came from the content store */
  ingest?: Ingest;
  /** unpacks the decompressed tar (the layer store's apply) */
  apply: (tar: Readable) => Promise<ApplyResult>;
  signal: AbortSignal;
  /** after each chunk, with the bytes received so far */
  onChunk?: (received: number) => void;
  /** every byte has arrived; the checksum is checked next */
  onReceived?: () => void;
  /** the blob matched its digest and size (and is committed to the content store when ingested) */
  onVerified?: () => void;
}

export function verificationError(digest: string): Error {
  return invalidArgument(`filesystem layer verification failed for digest ${digest}`, 'BERTH_ERR_BLOB_VERIFICATION');
}

export function abortError(signal: AbortSignal): Error {
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

/**
 * Consumes `source` (the compressed blob) and returns what apply returned. On failure the decompressor is
 * stopped and apply has settled before this rejects, so the caller may remove the draft at once; the
 * ingest is left to the caller (commit already removed its temp file when the digest did not match).
 */
export async function unpackLayer(source: AsyncIterable<Buffer>, o: UnpackOptions): Promise<ApplyResult> {
  const { signal, ingest } = o;
  if (signal.aborted) throw abortError(signal);
  const decompressor = createDecompressor(o.compression);
  const applying = o.apply(decompressor);
  applying.catch(() => {}); // observed through `extractFailed`
  // settles (never rejects) when unpacking fails
  let extractError: unknown;
  const extractFailed = failureOf([decompressor], applying).catch((err) => { extractError ??= err; });
  const onAbort = () => decompressor.destroy(abortError(signal));
  signal.addEventListener('abort', onAbort, { once: true });

  let received = 0;
  try {
    for await (const chunk of source) {
      received += chunk.length;
      if (received > o.size) throw verificationError(o.digest);
      const waits: Promise<unknown>[] = [];
      if (ingest && !ingest.stream.write(chunk)) waits.push(once(ingest.stream, 'drain'));
      if (extractError === undefined && !decompressor.destroyed && !decompressor.write(chunk)) {
        waits.push(Promise.race([once(decompressor, 'drain').catch(() => {}), extractFailed]));
      }
      if (waits.length) await Promise.all(waits);
      o.onChunk?.(received);
    }
    if (signal.aborted) throw abortError(signal);
    o.onReceived?.();
    if (received !== o.size) throw verificationError(o.digest);
    if (extractError === undefined) decompressor.end();
    // the ingest hashed every byte as it was written: commit verifies the digest and publishes the blob
    // (a verified blob in the content store is a cache for the next pull, never an image or a layer)
    if (ingest) await ingest.commit(o.digest).catch((err) => { throw isDigestMismatch(err) ? verificationError(o.digest) : err; });
    if (extractError !== undefined) throw extractError;
    o.onVerified?.();
    return await Promise.race([applying, extractFailed.then(() => Promise.reject(extractError))]);
  } catch (err) {
    decompressor.destroy(new Error('layer pull stopped'));
    // let apply notice and stop writing into the draft before the caller removes it
    await applying.catch(() => {});
    throw signal.aborted ? abortError(signal) : err;
  } finally {
    signal.removeEventListener('abort', onAbort);
  }
}
