/**
 * Content digests (content-hash.ts) of the build context's files while it streams in, on a worker thread
 * (hash-worker.ts), so the main thread only parses the archive while the hashing runs on another core. A chunk the context keeps in
 * memory is handed over whole ("adopted": its ArrayBuffer is transferred, no copy) and stays with the worker
 * as the job's kept archive until the build asks for it (`kept`, only when a step must unpack the context) or
 * drops it: a fully cached rebuild never copies or hands back its bytes. Bytes the context does not keep in
 * memory (past its memory limit, spooled to a file) are copied into 1 MiB slots of a shared ring instead;
 * when the ring is full (the worker is behind) a batch goes in a buffer of its own, transferred. One worker
 * per process, started on first use; it holds the process open only while a build is hashing.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { internal } from '../errors';

/**
 * `segments` are `[file, source, start, end, last]`: `source` -1 is the message's ring slot (or `buf`),
 * `source` n >= 0 the job's n-th adopted buffer (`bufs` of this or an earlier message).
 */
export type ToHashWorker =
  | { type: 'ring'; ring: SharedArrayBuffer }
  | { type: 'data'; job: number; slot: number; buf?: ArrayBuffer; bufs: ArrayBuffer[]; segments: number[] }
  | { type: 'finish'; job: number }
  | { type: 'take'; job: number }
  | { type: 'abort'; job: number };

export type FromHashWorker =
  | { type: 'slot'; slot: number }
  | { type: 'digests'; job: number; digests: [number, string][] }
  | { type: 'kept'; job: number; bufs: ArrayBuffer[] };

const BATCH = 1 << 20;
const SLOTS = 16;

class HashThread {
  private readonly worker: Worker;
  private readonly waiting = new Map<number, { resolve(d: Map<number, string>): void; reject(e: Error): void }>();
  private readonly taking = new Map<number, { resolve(b: Buffer[]): void; reject(e: Error): void }>();
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
      if (m.type === 'kept') {
        const t = this.taking.get(m.job);
        this.taking.delete(m.job);
        t?.resolve(m.bufs.map((b) => Buffer.from(b)));
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
      for (const t of this.taking.values()) t.reject(err);
      this.waiting.clear();
      this.taking.clear();
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

  /** The adopted buffers of a finished job (once; the worker forgets them). */
  kept(job: number): Promise<Buffer[]> {
    if (this.failure) return Promise.reject(this.failure);
    this.begin();
    const reply = new Promise<Buffer[]>((resolve, reject) => {
      this.taking.set(job, { resolve, reject });
      this.post({ type: 'take', job });
    });
    const done = () => this.end();
    reply.then(done, done);
    return reply;
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

/** A chunk can be adopted (transferred) only when it is the whole of a plain ArrayBuffer. */
function ownsBuffer(chunk: Buffer): boolean {
  return chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer && chunk.buffer.byteLength === chunk.length;
}

/** The digests of one context's files, by the caller's file numbers. */
export class ContextHasher {
  private readonly thread = hashThread();
  private readonly job = this.thread.begin();
  private batch = this.thread.buffer();
  private view = this.batch.view;
  private used = 0;
  private segments: number[] = [];
  /** adopted buffers not posted yet, their bytes, and how many were adopted before them */
  private adopted: ArrayBuffer[] = [];
  private adoptedBytes = 0;
  private adoptedBefore = 0;
  private current: ArrayBuffer | undefined;
  /** how many bytes at the start of each adopted buffer are archive (an exclusive one may be longer) */
  private readonly keptLengths: number[] = [];
  private closed = false;
  private finished = false;

  private flush(): void {
    if (this.segments.length === 0 && this.adopted.length === 0) return;
    const bufs = this.adopted;
    const { slot, view } = this.batch;
    const ringUsed = this.used > 0;
    const m: ToHashWorker = { type: 'data', job: this.job, slot: ringUsed ? slot : -2, bufs, segments: this.segments };
    const transfer = [...bufs];
    if (ringUsed && slot < 0) {
      m.buf = view.buffer as ArrayBuffer;
      transfer.push(m.buf);
    }
    this.thread.post(m, transfer);
    if (ringUsed) {
      this.batch = this.thread.buffer();
      this.view = this.batch.view;
      this.used = 0;
    }
    this.segments = [];
    this.adoptedBefore += bufs.length;
    this.adopted = [];
    this.adoptedBytes = 0;
    this.current = undefined;
  }

  /**
   * Takes `chunk` into the job's kept archive (see `kept`); returns the buffer to parse instead of `chunk`
   * (the same bytes; a copy when `chunk` shares its memory). The returned buffer and its views become
   * unusable at the next `adopt`, `digests` or `abort`: callers copy what they keep. `exclusive`: the caller
   * owns `chunk`'s whole ArrayBuffer (bytes past the chunk are junk), so it is transferred even if longer.
   */
  adopt(chunk: Buffer, exclusive = false): Buffer {
    if (this.adoptedBytes >= BATCH) this.flush();
    let own = chunk;
    if (!(exclusive ? chunk.byteOffset === 0 && chunk.buffer instanceof ArrayBuffer : ownsBuffer(chunk))) {
      own = Buffer.allocUnsafeSlow(chunk.length);
      chunk.copy(own);
    }
    this.current = own.buffer as ArrayBuffer;
    this.adopted.push(this.current);
    this.keptLengths.push(own.length);
    this.adoptedBytes += own.length;
    return own;
  }

  /** Appends `chunk` (a view of the last adopted buffer, or any bytes) to file `file`'s content. */
  update(file: number, chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (chunk.buffer === this.current) {
      this.segments.push(file, this.adoptedBefore + this.adopted.length - 1, chunk.byteOffset, chunk.byteOffset + chunk.length, 0);
      return;
    }
    let off = 0;
    while (off < chunk.length) {
      if (this.used === this.view.length) this.flush();
      const n = Math.min(chunk.length - off, this.view.length - this.used);
      this.view.set(off === 0 && n === chunk.length ? chunk : chunk.subarray(off, off + n), this.used);
      this.segments.push(file, -1, this.used, this.used + n, 0);
      this.used += n;
      off += n;
    }
  }

  /** File `file` is complete. */
  end(file: number): void {
    this.segments.push(file, -1, 0, 0, 1);
  }

  /** Every ended file's content digest. */
  async digests(): Promise<Map<number, string>> {
    this.flush();
    this.closed = true;
    this.thread.release(this.batch.slot);
    try {
      const d = await this.thread.result(this.job);
      this.finished = true;
      return d;
    } finally {
      this.thread.end();
    }
  }

  /** The adopted chunks, in order (after `digests`; once). */
  kept(): Promise<Buffer[]> {
    if (!this.finished) return Promise.reject(internal('context hasher: kept before digests'));
    this.finished = false;
    const lengths = this.keptLengths;
    return this.thread.kept(this.job).then((bufs) => bufs.map((b, i) => (b.length === lengths[i] ? b : b.subarray(0, lengths[i]))));
  }

  /** Drops the job and its kept chunks (after a failure while reading, or when the build is done). */
  abort(): void {
    if (this.closed && !this.finished) return;
    const wasOpen = !this.closed;
    this.closed = true;
    this.finished = false;
    if (wasOpen) this.thread.release(this.batch.slot);
    try {
      this.thread.post({ type: 'abort', job: this.job });
    } catch {
      // the worker is gone: nothing to drop
    }
    if (wasOpen) this.thread.end();
  }
}
