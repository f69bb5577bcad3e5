/**
 * Layer blob compression: detection by magic bytes or media type, and streaming (de)compressors.
 * gzip runs in zlib (off the event loop, in libuv's pool); Node 20 has no zstd, so zstd spawns `zstd`.
 */
import { spawn } from 'node:child_process';
import { Duplex, PassThrough } from 'node:stream';
import * as zlib from 'node:zlib';
import { invalidArgument } from '../errors';

export type Compression = 'gzip' | 'zstd' | 'none';

/** Large output chunks: fewer callbacks per layer on the pull hot path. */
const CHUNK_SIZE = 256 * 1024;
/**
 * Decompressor buffers on both sides: with the 16 KiB default every network chunk waited for the one
 * before it to be inflated and consumed, so download, inflate and file writes ran in turn, not together.
 */
const DECOMPRESS_BUFFER = 4 * 1024 * 1024;

const GZIP_MAGIC = [0x1f, 0x8b];
const ZSTD_MAGIC = [0x28, 0xb5, 0x2f, 0xfd];

function startsWith(head: Buffer, magic: number[]): boolean {
  return head.length >= magic.length && magic.every((b, i) => head[i] === b);
}

export function detectCompression(head: Buffer): Compression {
  if (startsWith(head, GZIP_MAGIC)) return 'gzip';
  if (startsWith(head, ZSTD_MAGIC)) return 'zstd';
  return 'none';
}

/** OCI and Docker layer media types → compression. Unknown types are refused. */
export function compressionFromMediaType(mediaType: string): Compression {
  const mt = mediaType.trim().toLowerCase();
  if (mt.endsWith('+gzip') || mt.endsWith('.tar.gzip') || mt.endsWith('.tar.gz')) return 'gzip';
  if (mt.endsWith('+zstd') || mt.endsWith('.tar.zstd')) return 'zstd';
  if (mt.endsWith('.tar') || mt === 'application/x-tar') return 'none';
  throw invalidArgument(`unsupported layer media type: ${mediaType}`);
}

export function createDecompressor(c: Compression): Duplex {
  switch (c) {
    case 'gzip':
      // zlib streams take the stream options too; @types/node's ZlibOptions does not list them
      return zlib.createGunzip({ chunkSize: CHUNK_SIZE, highWaterMark: DECOMPRESS_BUFFER } as zlib.ZlibOptions);
    case 'zstd':
      return spawnFilter('zstd', ['-dcq']);
    case 'none':
      return new PassThrough({ highWaterMark: DECOMPRESS_BUFFER });
  }
}

/** `level` is gzip's 1-9 (default 6) or zstd's 1-19 (default 3). */
export function createCompressor(c: Compression, level?: number): Duplex {
  switch (c) {
    case 'gzip':
      return zlib.createGzip({ chunkSize: CHUNK_SIZE, level: level ?? zlib.constants.Z_DEFAULT_COMPRESSION });
    case 'zstd':
      return spawnFilter('zstd', ['-cq', `-${level ?? 3}`]);
    case 'none':
      return new PassThrough({ highWaterMark: CHUNK_SIZE });
  }
}

/**
 * A child process as a Duplex: writes go to its stdin, reads come from its stdout. The readable side ends
 * only after the process exited 0, so a consumer never takes a failed run's partial output for a whole one.
 */
export function spawnFilter(file: string, args: string[]): Duplex {
  const child = spawn(file, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  let exited = false;
  const duplex = new Duplex({
    readableHighWaterMark: CHUNK_SIZE,
    write(chunk: Buffer, _enc, cb) {
      if (child.stdin.write(chunk)) cb();
      else child.stdin.once('drain', () => cb());
    },
    final(cb) {
      child.stdin.end();
      cb();
    },
    read() {
      child.stdout.resume();
    },
    destroy(err, cb) {
      if (!exited) child.kill('SIGKILL');
      cb(err);
    },
  });
  child.stdout.on('data', (chunk: Buffer) => {
    if (!duplex.push(chunk)) child.stdout.pause();
  });
  child.stderr.setEncoding('utf8').on('data', (s: string) => {
    if (stderr.length < 4096) stderr += s;
  });
  // EPIPE on stdin means the child died; its exit status carries the reason
  child.stdin.on('error', () => {});
  child.on('error', (err) => duplex.destroy(err));
  child.on('close', (code, signal) => {
    exited = true;
    if (duplex.destroyed) return;
    if (code === 0) duplex.push(null);
    else duplex.destroy(new Error(`${file} failed (${signal ?? `exit ${code}`}): ${stderr.trim() || 'no message'}`));
  });
  return duplex;
}
