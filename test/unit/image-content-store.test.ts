import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { isKind } from '../../src/errors';

const digestOf = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

async function withStore(fn: (store: FsContentStore, root: string) => Promise<void>): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'berth-cs-'));
  try {
    await initDataDirs(root);
    await fn(new FsContentStore(root), root);
  } finally {
    await fs.rm(root, { recursive: true, force: true });
  }
}

test('initDataDirs makes the layout and empties tmp/', async () => {
  await withStore(async (_s, root) => {
    await fs.writeFile(path.join(root, 'tmp', 'leftover'), 'x');
    await initDataDirs(root);
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
    for (const d of ['content/sha256', 'overlay/l']) assert.ok((await fs.stat(path.join(root, d))).isDirectory());
  });
});

test('ingest: write, commit, read back', async () => {
  await withStore(async (store, root) => {
    const data = Buffer.alloc(3 * 1024 * 1024, 'abc');
    const ing = store.ingest();
    ing.stream.write(data.subarray(0, 1000));
    ing.stream.write(data.subarray(1000));
    const digest = await ing.commit(digestOf(data));
    assert.equal(ing.written, data.length);
    assert.equal(digest, digestOf(data));
    assert.ok(await store.has(digest));
    assert.equal(await store.size(digest), data.length);
    assert.ok((await store.read(digest)).equals(data));
    assert.equal(await store.path(digest), path.join(root, 'content', 'sha256', digest.slice(7)));
    const chunks: Buffer[] = [];
    for await (const c of store.readStream(digest)) chunks.push(c as Buffer);
    assert.ok(Buffer.concat(chunks).equals(data));
    assert.deepEqual(await store.list(), [digest]);
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
  });
});

test('ingest: digest mismatch is refused and leaves nothing', async () => {
  await withStore(async (store, root) => {
    const ing = store.ingest();
    ing.stream.end(Buffer.from('hello'));
    const wrong = digestOf('other');
    await assert.rejects(ing.commit(wrong), (err: unknown) => isKind(err, 'InvalidArgument')
      && (err as Error).message === `digest mismatch: expected ${wrong}, got ${digestOf('hello')}`);
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
    assert.deepEqual(await store.list(), []);
  });
});

test('ingest: abort removes the temp file', async () => {
  await withStore(async (store, root) => {
    const ing = store.ingest();
    ing.stream.write(Buffer.from('partial'));
    await new Promise((r) => setImmediate(r));
    await ing.abort();
    assert.deepEqual(await fs.readdir(path.join(root, 'tmp')), []);
    assert.deepEqual(await store.list(), []);
  });
});

test('put verifies, is idempotent; delete; absent blobs are NotFound', async () => {
  await withStore(async (store) => {
    const d = await store.put(Buffer.from('{"a":1}'));
    assert.equal(d, digestOf('{"a":1}'));
    assert.equal(await store.put(Buffer.from('{"a":1}'), d), d);
    await assert.rejects(store.put(Buffer.from('x'), d), /digest mismatch/);
    await store.delete(d);
    assert.equal(await store.has(d), false);
    await assert.rejects(store.read(d), (e: unknown) => isKind(e, 'NotFound'));
    await assert.rejects(store.path(d), (e: unknown) => isKind(e, 'NotFound'));
    await assert.rejects(store.has('sha256:../../etc'), (e: unknown) => isKind(e, 'InvalidArgument'));
  });
});
