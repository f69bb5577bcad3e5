/**
 * sha256 of the build context's files while it streams in, on a worker thread (hash-worker.ts), so the
 * main thread only parses the archive and copies file bytes into 1 MiB slots of a shared ring while the
 * hashing runs on another core. Shared memory, not transferred buffers: every transfer counts as a new
 * external allocation, and those drive V8 into extra full GCs. When the ring is full (the worker is behind)
 * a batch goes in a buffer of its own, transferred. One worker per process, started on first use; it holds
 * the process open only while a build is hashing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { internal } from '../errors';

export type ToHashWorker =
  | { type: 'ring'; ring: SharedArrayBuffer }
  | { type: 'data'; job: number; slot: number; buf?: ArrayBuffer; segments: number[] }
  | { type: 'finish'; job: number }
  | { type: 'abort'; job: number };

export type FromHashWorker =
  | { type: 'slot'; slot: number }
  | { type: 'digests'; job: number; digests: [number, string][] };

const BATCH = 1 << 20;
const SLOTS = 16;

class HashThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve(d: Map<number, string>): void; reject(e: Error): void }>();
  private readonly ring = new SharedArrayBuffer(BATCH * SLOTS);
  private readonly free: number[] = [];
  private active = 0;
  private nextJob = 1;
  private failure: Error | undefined;

  constructor(script: string) {
    this.worker = new Worker(script);
    this.worker.unref();
    for (let i = SLOTS - 1; i >= 0; i--) this.free.push(i);
    this.worker.postMessage({ type: 'ring', ring: this.ring } satisfies ToHashWorker);
    this.worker.on('message', (m: FromHashWorker) => {
      if (m.type === 'slot') {
        this.free.push(m.slot);
        return;
      }
      const w = this.waiting.get(m.job);
      this.waiting.delete(m.job);
      w?.resolve(new Map(m.digests));
    });
    const lost = (err: Error) => {
      this.failure ??= err;
      if (thread === this) thread = undefined;
      for (const w of this.waiting.values()) w.reject(err);
      this.waiting.clear();
    };
    this.worker.on('error', (err) => lost(internal(`context hash worker failed: ${err.message}`)));
    this.worker.on('exit', (code) => lost(internal(`context hash worker exited (code ${code})`)));
  }

  begin(): number {
    if (this.active++ === 0) this.worker.ref();
    return this.nextJob++;
  }

  end(): void {
    if (--this.active === 0) this.worker.unref();
  }

  /** A batch buffer: a free ring slot (its number), or a buffer of its own (slot -1). */
  buffer(): { slot: number; view: Uint8Array } {
    const slot = this.free.pop();
    if (slot === undefined) return { slot: -1, view: new Uint8Array(BATCH) };
    return { slot, view: new Uint8Array(this.ring, slot * BATCH, BATCH) };
  }

  /** Gives back a slot that was never posted. */
  release(slot: number): void {
    if (slot >= 0) this.free.push(slot);
  }

  post(m: ToHashWorker, transfer?: ArrayBuffer[]): void {
    if (this.failure) throw this.failure;
    this.worker.postMessage(m, transfer);
  }

  result(job: number): Promise<Map<number, string>> {
    if (this.failure) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.waiting.set(job, { resolve, reject });
      this.post({ type: 'finish', job });
    });
  }
}

let thread: HashThread | undefined;

function hashThread(): HashThread {
  if (!thread) {
    const script = path.join(__dirname, 'hash-worker.js');
    // running from sources (ts-node and the like) there is no compiled worker: never expected in the daemon
    if (!fs.existsSync(script)) throw internal(`context hash worker ${script} is missing`);
    thread = new HashThread(script);
  }
  return thread;
}

/** The digests of one context's files, by the caller's file numbers. */
export class ContextHasher {
  private readonly thread = hashThread();
  private readonly job = this.thread.begin();
  private batch = this.thread.buffer();
  private view = this.batch.view;
  private used = 0;
  private segments: number[] = [];
  private closed = false;

  private flush(): void {
    if (this.segments.length === 0) return;
    const { slot, view } = this.batch;
    if (slot >= 0) this.thread.post({ type: 'data', job: this.job, slot, segments: this.segments });
    else this.thread.post({ type: 'data', job: this.job, slot, buf: view.buffer as ArrayBuffer, segments: this.segments }, [view.buffer as ArrayBuffer]);
    this.batch = this.thread.buffer();
    this.view = this.batch.view;
    this.used = 0;
    this.segments = [];
  }

  /** Appends `chunk` to file `file`'s content. */
  update(file: number, chunk: Uint8Array): void {
    let off = 0;
    while (off < chunk.length) {
      if (this.used === this.view.length) this.flush();
      const n = Math.min(chunk.length - off, this.view.length - this.used);
      this.view.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), this.used);
      this.segments.push(file, this.used, this.used + n, 0);
      this.used += n;
      off += n;
    }
  }

  /** File `file` is complete. */
  end(file: number): void {
    this.segments.push(file, this.used, this.used, 1);
  }

  /** Every ended file's digest (hex). */
  async digests(): Promise<Map<number, string>> {
    this.flush();
    this.closed = true;
    this.thread.release(this.batch.slot);
    try {
      return await this.thread.result(this.job);
    } finally {
      this.thread.end();
    }
  }

  /** Drops the job (after a failure while reading). */
  abort(): void {
    if (this.closed) return;
    this.closed = true;
    this.thread.release(this.batch.slot);
    try {
      this.thread.post({ type: 'abort', job: this.job });
    } catch {
      // the worker is gone: nothing to drop
    }
    this.thread.end();
  }
}
