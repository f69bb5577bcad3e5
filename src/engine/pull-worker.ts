/**
 * Entry point of a layer worker thread (started by pull-worker-pool.ts). Each job is one layer: the main
 * thread streams the compressed bytes in (transferred, not copied); here they are hashed into a content
 * store ingest, decompressed and unpacked into the layer draft, so the sha256 work, the tar parsing and the
 * file writes of several layers run beside the daemon's event loop instead of on it.
 */
import { parentPort } from 'node:worker_threads';
import { FsContentStore } from '../image/content-store';
import { applyLayerTar } from '../image/tar-apply';
import type { Ingest } from '../image/types';
import { unpackLayer } from './layer-unpack';
import { serializeError, type FromWorker, type ToWorker } from './pull-worker-protocol';

/** Taken bytes are acknowledged in batches of this size (or when the queue runs dry). */
const ACK_BATCH = 1 << 20;

/** The chunks the main thread sent for one job, as an async iterable that acknowledges what was taken. */
class ChunkQueue implements AsyncIterable<Buffer> {
  private readonly chunks: Buffer[] = [];
  private ended = false;
  private failure: Error | undefined;
  private wake: (() => void) | undefined;
  private unacked = 0;

  constructor(private readonly ack: (bytes: number) => void) {}

  push(chunks: Uint8Array[]): void {
    for (const c of chunks) if (c.byteLength > 0) this.chunks.push(Buffer.from(c.buffer, c.byteOffset, c.byteLength));
    this.wake?.();
  }

  end(): void {
    this.ended = true;
    this.wake?.();
  }

  fail(err: Error): void {
    this.failure ??= err;
    this.wake?.();
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<Buffer> {
    for (;;) {
      if (this.failure) throw this.failure;
      const chunk = this.chunks.shift();
      if (chunk) {
        this.unacked += chunk.length;
        if (this.unacked >= ACK_BATCH || this.chunks.length === 0) {
          this.ack(this.unacked);
          this.unacked = 0;
        }
        yield chunk;
        continue;
      }
      if (this.ended) return;
      await new Promise<void>((resolve) => { this.wake = resolve; });
      this.wake = undefined;
    }
  }
}

interface Running {
  queue: ChunkQueue;
  stop: AbortController;
}

const port = parentPort;
if (!port) throw new Error('pull-worker must run in a worker thread');
const running = new Map<number, Running>();
const post = (m: FromWorker) => port.postMessage(m);

async function runJob(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  const { id } = m;
  const stop = new AbortController();
  const queue = new ChunkQueue((bytes) => post({ type: 'ack', id, bytes }));
  running.set(id, { queue, stop });
  let ingest: Ingest | undefined;
  try {
    if (m.ingest) {
      ingest = new FsContentStore(m.dataRoot).ingest();
      post({ type: 'ingest', id, tempPath: ingest.tempPath });
    }
    const applied = await unpackLayer(queue, {
      digest: m.digest, size: m.size, compression: m.compression, ingest, signal: stop.signal,
      apply: (tar) => applyLayerTar(m.diffDir, tar),
      onVerified: () => post({ type: 'verified', id }),
    });
    post({ type: 'done', id, applied });
  } catch (err) {
    await ingest?.abort().catch(() => {});
    post({ type: 'failed', id, error: serializeError(err) });
  } finally {
    running.delete(id);
  }
}

port.on('message', (m: ToWorker) => {
  switch (m.type) {
    case 'start':
      void runJob(m);
      return;
    case 'data':
      running.get(m.id)?.queue.push(m.chunks);
      return;
    case 'end':
      running.get(m.id)?.queue.end();
      return;
    case 'abort': {
      const job = running.get(m.id);
      if (!job) return;
      const reason = new Error('layer pull stopped');
      job.stop.abort(reason);
      job.queue.fail(reason);
    }
  }
});
