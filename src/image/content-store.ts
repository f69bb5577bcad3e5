/**
 * The content store on disk:
 *
 *   <data-root>/content/sha256/<hex>   committed blobs, named by their digest, never partial
 *   <data-root>/tmp/ingest-<random>    ingests being written (wiped at daemon start)
 *
 * An ingest hashes bytes as they are written; `commit` fsyncs, verifies and renames atomically.
 */
import { createHash, randomBytes, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { invalidArgument, notFound } from '../errors';
import { isDigest } from '../util/ids';
import type { ContentStore, Ingest } from './types';

/** Creates the data-root folders this layer uses and empties tmp/ (startup only). */
export async function initDataDirs(dataRoot: string): Promise<void> {
  await fs.mkdir(path.join(dataRoot, 'content', 'sha256'), { recursive: true });
  await fs.mkdir(path.join(dataRoot, 'overlay', 'l'), { recursive: true });
  const tmp = path.join(dataRoot, 'tmp');
  await fs.mkdir(tmp, { recursive: true });
  for (const name of await fs.readdir(tmp)) await fs.rm(path.join(tmp, name), { recursive: true, force: true });
}

function checkDigest(digest: string): string {
  if (!isDigest(digest)) throw invalidArgument(`invalid digest: ${digest}`);
  return digest.slice('sha256:'.length);
}

function mismatch(expected: string, got: string): Error {
  return invalidArgument(`digest mismatch: expected ${expected}, got ${got}`, 'BERTH_ERR_DIGEST_MISMATCH');
}

export class FsContentStore implements ContentStore {
  private readonly blobDir: string;
  private readonly tmpDir: string;

  /** `dataRoot` is public so a worker thread can open the same store. */
  constructor(readonly dataRoot: string) {
    this.blobDir = path.join(dataRoot, 'content', 'sha256');
    this.tmpDir = path.join(dataRoot, 'tmp');
  }

  private blobPath(digest: string): string {
    return path.join(this.blobDir, checkDigest(digest));
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await fs.stat(this.blobPath(digest))).isFile();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }

  async path(digest: string): Promise<string> {
    if (!(await this.has(digest))) throw notFound(`content digest ${digest}: not found`);
    return this.blobPath(digest);
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.blobPath(digest));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`content digest ${digest}: not found`);
      throw err;
    }
  }

  readStream(digest: string): Readable {
    return createReadStream(this.blobPath(digest), { highWaterMark: 1024 * 1024 });
  }

  async size(digest: string): Promise<number> {
    try {
      return (await fs.stat(this.blobPath(digest))).size;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw notFound(`content digest ${digest}: not found`);
      throw err;
    }
  }

  async put(data: Buffer, expected?: string): Promise<string> {
    const digest = `sha256:${createHash('sha256').update(data).digest('hex')}`;
    if (expected !== undefined && expected !== digest) throw mismatch(expected, digest);
    if (await this.has(digest)) return digest;
    const temp = this.newTempPath();
    try {
      const fh = await fs.open(temp, 'wx', 0o644);
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await fs.rename(temp, this.blobPath(digest));
    } catch (err) {
      await fs.rm(temp, { force: true });
      throw err;
    }
    return digest;
  }

  ingest(): Ingest {
    return new FileIngest(this.newTempPath(), (digest) => this.blobPath(digest));
  }

  async delete(digest: string): Promise<void> {
    await fs.rm(this.blobPath(digest), { force: true });
  }

  async list(): Promise<string[]> {
    const names = await fs.readdir(this.blobDir);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  private newTempPath(): string {
    return path.join(this.tmpDir, `ingest-${randomBytes(12).toString('hex')}`);
  }
}

/** A temp file being written and hashed; fsynced before it is closed. */
class HashingFileWriter extends Writable {
  readonly hash: Hash = createHash('sha256');
  written = 0;
  private fh?: fs.FileHandle;

  constructor(private readonly file: string) {
    super({ highWaterMark: 1024 * 1024 });
  }

  override _construct(cb: (err?: Error | null) => void): void {
    fs.open(this.file, 'wx', 0o644).then((fh) => { this.fh = fh; cb(); }, cb);
  }

  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.hash.update(chunk);
    this.written += chunk.length;
    this.fh!.write(chunk).then(() => cb(), cb);
  }

  override _writev(chunks: { chunk: Buffer }[], cb: (err?: Error | null) => void): void {
    const bufs = chunks.map((c) => c.chunk);
    for (const b of bufs) {
      this.hash.update(b);
      this.written += b.length;
    }
    this.fh!.writev(bufs).then(() => cb(), cb);
  }

  override _final(cb: (err?: Error | null) => void): void {
    this.fh!.sync().then(() => cb(), cb);
  }

  override _destroy(err: Error | null, cb: (err?: Error | null) => void): void {
    const fh = this.fh;
    this.fh = undefined;
    if (!fh) return cb(err);
    fh.close().then(() => cb(err), (closeErr) => cb(err ?? closeErr));
  }
}

class FileIngest implements Ingest {
  readonly stream: HashingFileWriter;
  private done = false;

  constructor(readonly tempPath: string, private readonly blobPath: (digest: string) => string) {
    this.stream = new HashingFileWriter(tempPath);
    // failures surface through commit(); an unobserved 'error' must not crash the daemon
    this.stream.on('error', () => {});
  }

  get written(): number {
    return this.stream.written;
  }

  async commit(expected?: string): Promise<string> {
    if (this.done) throw invalidArgument('ingest already finished');
    this.done = true;
    const s = this.stream;
    try {
      await new Promise<void>((resolve, reject) => {
        if (s.errored) return reject(s.errored);
        if (s.closed) return s.writableFinished ? resolve() : reject(new Error('ingest stream was destroyed'));
        s.once('close', () => (s.writableFinished && !s.errored ? resolve() : reject(s.errored ?? new Error('ingest stream was destroyed'))));
        if (!s.writableEnded) s.end();
      });
      const digest = `sha256:${s.hash.digest('hex')}`;
      if (expected !== undefined && expected !== digest) throw mismatch(expected, digest);
      await fs.rename(this.tempPath, this.blobPath(digest));
      return digest;
    } catch (err) {
      await fs.rm(this.tempPath, { force: true });
      throw err;
    }
  }

  async abort(): Promise<void> {
    this.done = true;
    const s = this.stream;
    if (!s.closed) {
      const closed = new Promise((resolve) => s.once('close', resolve));
      s.destroy();
      await closed;
    }
    await fs.rm(this.tempPath, { force: true });
  }
}
