/**
 * The build context: the request body (a tar, plain or gzip/zstd-compressed, or a bare Dockerfile). While
 * it streams in, every entry is recorded in a ContextTree (metadata, content digests, small files' bytes)
 * and the archive is kept as received (in memory up to MEMORY_LIMIT, beyond that in one temp file under
 * `<data-root>/tmp/build-<random>/`). The Dockerfile and `.dockerignore` are read from the tree; ignored
 * entries are dropped from it (and from disk too, if it is ever unpacked), so API clients that send ignored
 * files still never see them copied. Only the first step that really copies from the context unpacks it into
 * `context/` (see tar-extract.ts for the path rules): a fully cached rebuild writes nothing.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { finished, Readable } from 'node:stream';
import ignore from '@balena/dockerignore';
import { invalidArgument } from '../errors';
import { decompressStream } from '../image/archive/extract';
import { detectCompression } from '../image/compression';
import { decodeHeader } from '../image/tar-format';
import { ContextHasher } from './context-hasher';
import { MEMORY_LIMIT, Spool } from './context-spool';
import { ContextTree, type ContextNode } from './context-tree';
import { extractTar } from './tar-extract';
import { TarPushParser } from './tar-push';

/** files up to this size keep their bytes in memory (the Dockerfile, `.dockerignore`, small sources) */
const KEEP_BYTES = 256 * 1024;

export interface BuildContext {
  /** where the context is unpacked by `materialize` */
  root: string;
  /** the context's entries (what COPY reads; in memory until materialized) */
  tree: ContextTree;
  /** unpacks the context to `root` (once); reads through `tree` go to disk from then on */
  materialize(): Promise<void>;
  /** a private directory for the build's own temp files */
  scratch: string;
  dockerfile: string;
  dockerfileName: string;
  /** content digests (content-hash.ts) of the context's files by absolute path, computed while receiving (COPY's checksums) */
  digests: ReadonlyMap<string, string>;
  /** remove everything this context put on disk */
  remove(): Promise<void>;
  /** how the receive went (for the debug log): ms from the start to the body's end and to the digests (whole
   * numbers: a field that turns from integer to double deoptimizes the code that touched it) */
  stats: { bodyMs: number; digestsMs: number; chunks: number; bytes: number };
}

/** `.dockerignore` lines → patterns (comments and blank lines dropped, as the docker CLI reads it). */
export function readIgnorePatterns(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export interface IgnoreMatcher {
  ignores(rel: string): boolean;
  /** true when some `!pattern` could re-include something below an ignored directory */
  hasExceptions: boolean;
}

export function ignoreMatcher(patterns: string[]): IgnoreMatcher {
  const ig = ignore().add(patterns);
  return { ignores: (rel) => rel !== '' && ig.ignores(rel), hasExceptions: patterns.some((p) => p.startsWith('!')) };
}

/** Removes every ignored entry under `root`; returns how many were removed. */
export async function applyIgnore(root: string, m: IgnoreMatcher): Promise<number> {
  let removed = 0;
  const walk = async (dirRel: string): Promise<boolean> => {
    const names = await fs.readdir(dirRel ? path.join(root, dirRel) : root);
    let kept = 0;
    for (const n of names) {
      const rel = dirRel ? `${dirRel}/${n}` : n;
      const abs = path.join(root, rel);
      const st = await fs.lstat(abs);
      const ignored = m.ignores(rel);
      if (st.isDirectory() && (!ignored || m.hasExceptions)) {
        const anyKept = await walk(rel);
        if (ignored && !anyKept) {
          await fs.rm(abs, { recursive: true, force: true });
          removed++;
        } else kept++;
        continue;
      }
      if (ignored) {
        await fs.rm(abs, { recursive: true, force: true });
        removed++;
      } else kept++;
    }
    return kept > 0;
  };
  await walk('');
  return removed;
}

/** Is `head` the start of a tar archive (a header block with a valid checksum)? */
function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  try {
    decodeHeader(head.subarray(0, 512));
    return true;
  } catch {
    return false;
  }
}

/** The first `n` bytes (fewer at the end of the stream); the stream is left paused just after them. */
function readHead(src: Readable, n: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let len = 0;
    const done = (err?: Error | null) => {
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', done);
      if (err) reject(err);
      else resolve(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks));
    };
    const onData = (c: Buffer) => {
      chunks.push(c);
      len += c.length;
      if (len >= n) {
        src.pause();
        done();
      }
    };
    const onEnd = () => done();
    if (src.readableEnded) return done();
    // a body that failed before anyone listened (a malformed chunked body read from the socket)
    if (src.destroyed) return done(src.errored ?? new Error('the request body was closed'));
    src.on('data', onData);
    src.once('end', onEnd);
    src.once('error', done);
    src.resume();
  });
}

/**
 * Hands every remaining chunk to `fn` as it arrives ('data' events: no promise per chunk); a promise
 * returned by `fn` pauses the stream until it settles. Rejects on a stream error, an early close, or a
 * throw from `fn` (the rest of the stream is then left to the caller).
 */
function forEachChunk(src: Readable, fn: (chunk: Buffer) => Promise<void> | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    let failed = false;
    const fail = (err: unknown) => {
      if (failed) return;
      failed = true;
      src.off('data', onData);
      cleanup();
      reject(err);
    };
    const onData = (c: Buffer) => {
      if (failed) return;
      let wait: Promise<void> | undefined;
      try {
        wait = fn(c);
      } catch (err) {
        fail(err);
        return;
      }
      if (wait) {
        src.pause();
        wait.then(() => { if (!failed) src.resume(); }, fail);
      }
    };
    if (src.readableEnded) return resolve();
    src.on('data', onData);
    const cleanup = finished(src, (err) => {
      if (err) return fail(err);
      cleanup();
      resolve();
    });
    src.resume();
  });
}

async function* replayAll(head: Buffer, rest: AsyncIterator<Buffer>): AsyncGenerator<Buffer> {
  if (head.length) yield head;
  for (let r = await rest.next(); !r.done; r = await rest.next()) yield r.value;
}

async function readDockerfile(ctx: BuildContext, name: string): Promise<{ text: string; name: string }> {
  const candidates = name === 'Dockerfile' ? ['Dockerfile', 'dockerfile'] : [name];
  for (const c of candidates) {
    if (!(await ctx.tree.isFile(c))) continue;
    let data = await ctx.tree.readFile(c);
    if (!data) {
      await ctx.materialize();
      data = await ctx.tree.readFile(c);
    }
    if (data) return { text: data.toString('utf8'), name: c };
  }
  throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
}

/**
 * Reads the archive (`head`, then the rest of the body) into `tree`, the file contents hashed on the hash
 * worker and every byte kept in `spool` (its memory part by the hash worker, with no copy on this thread).
 */
async function readArchive(head: Buffer, rest: Readable, owned: boolean, tree: ContextTree, spool: Spool, stats: BuildContext['stats'], t0: number): Promise<void> {
  const hasher = new ContextHasher();
  const files: ContextNode[] = [];
  const parser = new TarPushParser((h) => {
    const node = tree.add(h);
    if (!node) return undefined;
    const file = files.push(node) - 1;
    const keep: Buffer[] | undefined = h.size <= KEEP_BYTES ? [] : undefined;
    return {
      data: (chunk) => {
        hasher.update(file, chunk);
        // a copy: the chunk goes to the hash worker
        keep?.push(Buffer.from(chunk));
      },
      end: () => {
        hasher.end(file);
        if (keep) node.data = keep.length === 1 ? keep[0] : Buffer.concat(keep);
      },
    };
  });
  let total = 0;
  const take = (chunk: Buffer, exclusive = false) => {
    total += chunk.length;
    stats.chunks++;
    if (spool.reserve(chunk.length)) {
      // kept in memory: handed whole to the hash worker, which keeps it for the spool
      parser.write(hasher.adopt(chunk, exclusive));
      return undefined;
    }
    parser.write(chunk);
    return spool.push(chunk);
  };
  try {
    await take(head);
    await forEachChunk(rest, owned ? (c) => take(c, true) : take);
    // the docker CLI ends a context it rewrote (`-f -`) without the last entry's padding and the
    // end-of-archive blocks; zeros after a complete archive are ignored, so they are always added
    await take(Buffer.alloc(((512 - (total % 512)) % 512) + 1024));
    parser.end();
    stats.bodyMs = Math.round(performance.now() - t0);
    stats.bytes = total;
  } catch (err) {
    hasher.abort();
    throw err;
  } finally {
    await spool.close();
  }
  for (const [file, digest] of await hasher.digests()) files[file].digest = digest;
  spool.holdMemory(() => hasher.kept(), () => hasher.abort());
  stats.digestsMs = Math.round(performance.now() - t0);
  tree.sealDigests();
}

/** streams whose chunks each own their whole ArrayBuffer, which nothing else uses (raw socket reads) */
const ownsChunks = new WeakSet<Readable>();

/** Declares that every chunk `body` emits starts its own ArrayBuffer, which no one else holds: the hash
 * worker may take that memory over instead of a copy. */
export function markOwnedChunks(body: Readable): void {
  ownsChunks.add(body);
}

export interface ReceiveOptions {
  tmpDir: string;
  dockerfile?: string;
  /** bytes of the archive kept in memory before it goes to a temp file (default MEMORY_LIMIT) */
  memoryLimit?: number;
}

export async function receiveContext(body: Readable, opts: ReceiveOptions): Promise<BuildContext> {
  const t0 = performance.now();
  const dir = path.join(opts.tmpDir, `build-${randomBytes(8).toString('hex')}`);
  const root = path.join(dir, 'context');
  const scratch = path.join(dir, 'scratch');
  const spoolFile = path.join(dir, 'context.tar');
  await fs.mkdir(scratch, { recursive: true, mode: 0o700 });
  const tree = new ContextTree(root);
  const spool = new Spool(spoolFile, opts.memoryLimit ?? MEMORY_LIMIT);
  const remove = () => {
    spool.release();
    return fs.rm(dir, { recursive: true, force: true });
  };
  let matcher: IgnoreMatcher | undefined;
  let unpacking: Promise<void> | undefined;
  const unpack = async () => {
    await fs.mkdir(root, { mode: 0o755 });
    await extractTar(spool.read(), root);
    if (matcher) await applyIgnore(root, matcher);
  };
  const ctx: BuildContext = {
    root, tree, scratch, dockerfile: '', dockerfileName: '', digests: tree.digests, remove,
    stats: { bodyMs: 0, digestsMs: 0, chunks: 0, bytes: 0 },
    materialize: () => (unpacking ??= tree.materialize(unpack)),
  };
  try {
    // plain tars (what the docker CLI sends) are read straight from the request; others are decompressed
    const first = await readHead(body, 512);
    let rest = body;
    let head = first;
    if (detectCompression(first) !== 'none') {
      rest = await decompressStream(Readable.from(replayAll(first, body[Symbol.asyncIterator]() as AsyncIterator<Buffer>)));
      head = await readHead(rest, 512);
    }
    let dockerfileName = opts.dockerfile || 'Dockerfile';
    if (looksLikeTar(head) || head.length === 0) {
      if (head.length) {
        await readArchive(head, rest, rest === body && ownsChunks.has(body), tree, spool, ctx.stats, t0);
      }
      const found = await readDockerfile(ctx, dockerfileName);
      ctx.dockerfile = found.text;
      dockerfileName = found.name;
    } else {
      // a bare Dockerfile as the body (`docker build - < Dockerfile`): the context is empty
      const chunks = [head];
      await forEachChunk(rest, (c) => { chunks.push(c); return undefined; });
      ctx.dockerfile = Buffer.concat(chunks).toString('utf8');
    }
    ctx.dockerfileName = dockerfileName;
    if (await tree.isFile('.dockerignore')) {
      const ignoreText = await tree.readFile('.dockerignore') ?? await (async () => { await ctx.materialize(); return tree.readFile('.dockerignore'); })();
      matcher = ignoreMatcher(readIgnorePatterns(ignoreText!.toString('utf8')));
      tree.applyIgnore(matcher.ignores, matcher.hasExceptions);
      if (tree.onDisk) await applyIgnore(root, matcher);
    }
    return ctx;
  } catch (err) {
    await remove();
    throw err;
  }
}
