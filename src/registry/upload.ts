/**
 * Blob upload (distribution spec "pushing blobs"): a small blob goes in one PUT `?digest=` to the upload
 * URL; a large one in PATCH chunks (`Content-Range: start-end`, each answer naming the next Location) and
 * a closing PUT `?digest=` without a body. Locations may be relative and carry state in their query
 * (`_state=…`), which is kept. The bytes are hashed on the way; a blob that does not match its digest is
 * never committed (the upload is cancelled).
 */
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { internal } from '../errors';
import { discard, type RegistrySession } from './session';

/** Blobs up to this size go monolithic; larger ones in chunks of this size. */
export const UPLOAD_CHUNK_BYTES = 8 << 20;

export type UploadProgress = (sent: number, total: number) => void;

/** Reads `source` as buffers of exactly `size` bytes (the last one shorter). */
async function* chunksOf(source: Readable, size: number): AsyncGenerator<Buffer> {
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of source as AsyncIterable<Buffer>) {
    let buf = piece;
    while (held + buf.length >= size) {
      const take = size - held;
      parts.push(buf.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      held = 0;
      buf = buf.subarray(take);
    }
    if (buf.length) {
      parts.push(buf);
      held += buf.length;
    }
  }
  if (held) yield Buffer.concat(parts);
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

export async function uploadBlob(session: RegistrySession, scopes: string[], startLocation: string, source: Readable,
  digest: string, size: number, progress: UploadProgress): Promise<void> {
  const hash = createHash('sha256');
  let location = startLocation;
  let sent = 0;
  let done = false;
  try {
    progress(0, size);
    if (size <= UPLOAD_CHUNK_BYTES) {
      const parts: Buffer[] = [];
      for await (const c of chunksOf(source, UPLOAD_CHUNK_BYTES)) parts.push(c);
      const body = Buffer.concat(parts);
      hash.update(body);
      check(digest, size, `sha256:${hash.digest('hex')}`, body.length);
      const url = withDigest(location, digest);
      const res = await session.request('PUT', url, {
        scopes, body, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) },
      });
      if (res.status !== 201 && res.status !== 204 && res.status !== 200) await session.fail('PUT', url, res);
      await discard(res);
      done = true;
      progress(body.length, size);
      return;
    }
    for await (const chunk of chunksOf(source, UPLOAD_CHUNK_BYTES)) {
      hash.update(chunk);
      const res = await session.request('PATCH', location, {
        scopes,
        body: chunk,
        headers: {
          'Content-Type': 'application/octet-stream',
          'Content-Length': String(chunk.length),
          'Content-Range': `${sent}-${sent + chunk.length - 1}`,
        },
      });
      if (res.status !== 202 && res.status !== 204) await session.fail('PATCH', location, res);
      const next = res.headers.get('location');
      await discard(res);
      if (next) location = new URL(next, location).toString();
      sent += chunk.length;
      progress(sent, size);
    }
    check(digest, size, `sha256:${hash.digest('hex')}`, sent);
    const url = withDigest(location, digest);
    const res = await session.request('PUT', url, { scopes, headers: { 'Content-Length': '0' } });
    if (res.status !== 201 && res.status !== 204 && res.status !== 200) await session.fail('PUT', url, res);
    await discard(res);
    done = true;
  } finally {
    if (!done) {
      // best effort: tell the registry to drop the half-made upload
      await session.request('DELETE', location, { scopes }).then(discard, () => {});
    }
  }
}

function check(expected: string, expectedSize: number, got: string, gotSize: number): void {
  if (got !== expected || gotSize !== expectedSize) {
    throw internal(`blob ${expected} in the content store does not match its digest (read ${gotSize} bytes hashing to ${got})`, 'BERTH_ERR_BLOB_CORRUPT');
  }
}
