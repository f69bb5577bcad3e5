/**
 * A small pool of layer worker threads (pull-worker.ts) and, per layer, a task handle the main thread
 * streams the compressed bytes into. Bytes are transferred (the main thread gives up its buffer), and at
 * most IN_FLIGHT_BYTES are unacknowledged, so a slow disk slows the download instead of filling memory.
 * Workers start on first use (or `warm`), hold the process open only while they have jobs, and end after
 * a while idle.
 */
import { availableParallelism } from 'node:os';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { internal } from '../errors';
import type { Compression } from '../image/compression';
import type { ApplyResult } from '../image/types';
import { deserializeError, type FromWorker, type ToWorker } from './pull-worker-protocol';

const IN_FLIGHT_BYTES = 16 << 20;
const FLUSH_BYTES = 4 << 20;
const IDLE_EXIT_MS = 30_000;

export interface LayerWork {
  dataRoot: string;
  diffDir: string;
  compression: Compression;
  digest: string;
  size: number;
  ingest: boolean;
}

/** One layer being processed by a worker. */
export class LayerTask {
  private inFlight = 0;
  private queued: Uint8Array[] = [];
  private queuedBytes = 0;
  private flushSoon: NodeJS.Immediate | undefined;
  private creditWaiter: (() => void) | undefined;
  private settled = false;
  private failure: Error | undefined;
  private finished!: () => void;
  /** the worker's ingest temp file, removed by the caller if the worker could not */
  tempPath: string | undefined;
  readonly verified: Promise<void>;
  readonly result: Promise<ApplyResult>;
  /** resolves when the worker is done with the job, however it ended */
  readonly ended: Promise<void>;
  private resolveVerified!: () => void;
  private rejectVerified!: (err: Error) => void;
  private resolveResult!: (r: ApplyResult) => void;
  private rejectResult!: (err: Error) => void;

  constructor(readonly id: number, private readonly post: (m: ToWorker, transfer?: ArrayBuffer[]) => void) {
    this.verified = new Promise((resolve, reject) => { this.resolveVerified = resolve; this.rejectVerified = reject; });
    this.result = new Promise((resolve, reject) => { this.resolveResult = resolve; this.rejectResult = reject; });
    this.ended = new Promise((resolve) => { this.finished = resolve; });
    this.verified.catch(() => {});
    this.result.catch(() => {});
  }

  /** The worker's error, once it failed. */
  get error(): Error | undefined {
    return this.failure;
  }

  /**
   * Queues `chunk` for the worker; queued chunks go in one message at the end of this event-loop turn
   * (or at FLUSH_BYTES), so the worker wakes once per burst of network reads instead of once per read.
   * A chunk's memory moves to the worker when the chunk owns all of it, else it is copied.
   */
  send(chunk: Buffer): void {
    if (this.settled || chunk.length === 0) return;
    const owned = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const bytes = owned ? chunk : new Uint8Array(chunk);
    this.inFlight += bytes.byteLength;
    this.queued.push(bytes);
    this.queuedBytes += bytes.byteLength;
    if (this.queuedBytes >= FLUSH_BYTES) this.flush();
    else this.flushSoon ??= setImmediate(() => this.flush());
  }

  /** True when the worker has this many bytes not yet taken: stop reading until `credit` resolves. */
  get full(): boolean {
    return !this.settled && this.inFlight >= IN_FLIGHT_BYTES;
  }

  private flush(): void {
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    if (this.queued.length === 0) return;
    const chunks = this.queued;
    this.queued = [];
    this.queuedBytes = 0;
    if (!this.settled) this.post({ type: 'data', id: this.id, chunks }, chunks.map((c) => c.buffer as ArrayBuffer));
  }

  /** Resolves when the worker has room for more (or the job has ended). */
  async credit(): Promise<void> {
    this.flush();
    while (this.full) {
      await new Promise<void>((resolve) => { this.creditWaiter = resolve; });
    }
  }

  end(): void {
    this.flush();
    if (!this.settled) this.post({ type: 'end', id: this.id });
  }

  /** Asks the worker to stop and waits until it has (its ingest and unpacking stopped and cleaned up). */
  async abort(): Promise<void> {
    if (!this.settled) this.post({ type: 'abort', id: this.id });
    await this.ended;
  }

  onMessage(m: FromWorker): void {
    switch (m.type) {
      case 'ack':
        this.inFlight -= m.bytes;
        this.wakeCredit();
        return;
      case 'ingest':
        this.tempPath = m.tempPath;
        return;
      case 'verified':
        this.resolveVerified();
        return;
      case 'done':
        this.settle();
        this.resolveVerified();
        this.resolveResult(m.applied);
        return;
      case 'failed':
        this.fail(deserializeError(m.error));
    }
  }

  fail(err: Error): void {
    if (this.settled) return;
    this.failure = err;
    this.settle();
    this.rejectVerified(err);
    this.rejectResult(err);
  }

  private settle(): void {
    this.settled = true;
    if (this.flushSoon) clearImmediate(this.flushSoon);
    this.flushSoon = undefined;
    this.queued = [];
    this.wakeCredit();
    this.finished();
  }

  private wakeCredit(): void {
    const w = this.creditWaiter;
    this.creditWaiter = undefined;
    w?.();
  }
}

interface Slot {
  worker: Worker;
  tasks: Map<number, LayerTask>;
  idle?: NodeJS.Timeout;
}

export class LayerWorkerPool {
  private readonly slots: Slot[] = [];
  private nextId = 1;

  constructor(private readonly size: number, private readonly script = path.join(__dirname, 'pull-worker.js')) {}

  /** Starts the workers now, so the first layer does not wait for a thread to boot. */
  warm(): void {
    while (this.slots.length < this.size) this.idle(this.spawn());
  }

  start(work: LayerWork): LayerTask {
    const slot = this.pick();
    if (slot.idle) clearTimeout(slot.idle);
    slot.idle = undefined;
    if (slot.tasks.size === 0) slot.worker.ref();
    const task = new LayerTask(this.nextId++, (m, transfer) => slot.worker.postMessage(m, transfer));
    slot.tasks.set(task.id, task);
    void task.ended.then(() => {
      slot.tasks.delete(task.id);
      if (slot.tasks.size === 0 && this.slots.includes(slot)) this.idle(slot);
    });
    slot.worker.postMessage({ type: 'start', id: task.id, ...work } satisfies ToWorker);
    return task;
  }

  /** The least busy worker; a new one while the pool is not full and every worker has work. */
  private pick(): Slot {
    let best: Slot | undefined;
    for (const s of this.slots) if (!best || s.tasks.size < best.tasks.size) best = s;
    if (best && (best.tasks.size === 0 || this.slots.length >= this.size)) return best;
    return this.spawn();
  }

  private spawn(): Slot {
    const worker = new Worker(this.script);
    const slot: Slot = { worker, tasks: new Map() };
    this.slots.push(slot);
    worker.on('message', (m: FromWorker) => slot.tasks.get(m.id)?.onMessage(m));
    const lost = (err: Error) => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      if (slot.idle) clearTimeout(slot.idle);
      for (const t of [...slot.tasks.values()]) t.fail(err);
    };
    worker.on('error', (err) => lost(internal(`layer worker failed: ${err.message}`)));
    worker.on('exit', (code) => lost(internal(`layer worker exited (code ${code})`)));
    return slot;
  }

  private idle(slot: Slot): void {
    slot.worker.unref();
    slot.idle = setTimeout(() => {
      const i = this.slots.indexOf(slot);
      if (i >= 0) this.slots.splice(i, 1);
      void slot.worker.terminate();
    }, IDLE_EXIT_MS);
    slot.idle.unref();
  }
}

/** Threads for layer work: one per core (the main thread mostly waits), at most one per concurrent layer. */
export function defaultPoolSize(maxLayers: number): number {
  return Math.max(1, Math.min(maxLayers, availableParallelism()));
}
