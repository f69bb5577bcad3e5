/**
 * Where the build context archive waits while the build runs (see context.ts): kept as received so it can
 * be unpacked when a step first needs the files.
 */
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';

/** a context up to this size stays in memory until the build ends; a bigger one goes to a temp file */
export const MEMORY_LIMIT = 128 << 20;
/** spool writes are gathered to this size; reading waits while this much is still unwritten */
const SPOOL_BATCH = 4 << 20;
const SPOOL_LIMIT = 64 << 20;

/**
 * The context archive as received, kept for a later unpack: in memory up to MEMORY_LIMIT (a rebuild that is
 * all cache then never touches the disk), beyond that in one temp file, written in large batches, one write
 * at a time, holding up the reader only when writing falls far behind. The memory part may be held
 * elsewhere (the hash worker keeps the chunks it was handed, see context-hasher.ts): `reserve` only counts
 * it, `holdMemory` says where it is.
 */
export class Spool {
  private memory: Buffer[] = [];
  private memoryBytes = 0;
  /** set once a chunk did not fit in memory: everything after it goes to the file */
  private spilled = false;
  private held: { take(): Promise<Buffer[]>; drop(): void } | undefined;
  private fh: fs.FileHandle | undefined;
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private writing: Promise<void> = Promise.resolve();
  private inFlight = 0;
  private failed: Error | undefined;
  private opening: Promise<void> | undefined;

  constructor(private readonly file: string, private readonly memoryLimit: number) {}

  private flush(): void {
    const batch = this.pending;
    const n = this.pendingBytes;
    const fh = this.fh!;
    this.pending = [];
    this.pendingBytes = 0;
    this.inFlight += n;
    this.writing = this.writing.then(async () => {
      if (!this.failed) await fh.writev(batch).catch((err: Error) => { this.failed = err; });
      this.inFlight -= n;
    });
  }

  /**
   * Counts `n` bytes the caller keeps in memory for the spool (see `holdMemory`); false (and from then on
   * always false) when they do not fit: that chunk and all later ones go to `push`.
   */
  reserve(n: number): boolean {
    if (this.spilled || this.memoryBytes + n > this.memoryLimit) {
      this.spilled = true;
      return false;
    }
    this.memoryBytes += n;
    return true;
  }

  /** Where the reserved bytes are: `take` hands them over in order (once), `drop` frees them. */
  holdMemory(take: () => Promise<Buffer[]>, drop: () => void): void {
    this.held = { take, drop };
  }

  /** Keeps `chunk`; returns a promise only when the caller should wait before pushing more. */
  push(chunk: Buffer): Promise<void> | undefined {
    if (!this.fh && !this.spilled && this.memoryBytes + chunk.length <= this.memoryLimit) {
      this.memory.push(chunk);
      this.memoryBytes += chunk.length;
      return undefined;
    }
    this.spilled = true;
    if (!this.fh) return this.open().then(() => this.push(chunk));
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    if (this.pendingBytes >= SPOOL_BATCH) this.flush();
    return this.inFlight > SPOOL_LIMIT ? this.writing : undefined;
  }

  private async open(): Promise<void> {
    this.opening ??= fs.open(this.file, 'wx', 0o600).then((fh) => { this.fh = fh; });
    await this.opening;
  }

  /** All bytes written are on disk (or an error is thrown). */
  async close(): Promise<void> {
    if (!this.fh) return;
    if (this.pendingBytes) this.flush();
    await this.writing;
    await this.fh.close();
    if (this.failed) throw this.failed;
  }

  /** Everything pushed, in order (after close). */
  async *read(): AsyncGenerator<Buffer> {
    const held = this.held;
    this.held = undefined;
    if (held) yield* await held.take();
    yield* this.memory;
    if (this.fh) yield* createReadStream(this.file, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>;
  }

  release(): void {
    this.held?.drop();
    this.held = undefined;
    this.memory = [];
  }
}
