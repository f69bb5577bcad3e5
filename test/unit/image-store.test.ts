import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openDb, type Db } from '../../src/store/db';
import { SqliteImageStore } from '../../src/image/image-store';
import type { ImageConfig, NewImage } from '../../src/image/types';
import { isKind } from '../../src/errors';

const hex = (c: string) => c.repeat(64);
const id = (c: string) => `sha256:${hex(c)}`;

function config(diffIds: string[], created = '2024-01-02T03:04:05Z'): ImageConfig {
  return { architecture: 'amd64', os: 'linux', created, config: { Cmd: ['sh'] }, rootfs: { type: 'layers', diff_ids: diffIds } };
}

function image(c: string, extra: Partial<NewImage> = {}): NewImage {
  return { config: config([id('d')]), configDigest: id(c), layers: [id('d')], ...extra };
}

function fresh(): { db: Db; store: SqliteImageStore } {
  const db = openDb(':memory:');
  return { db, store: new SqliteImageStore(db) };
}

test('add stores config, tags, digests and manifests; size sums layers', () => {
  const { db, store } = fresh();
  db.prepare(`INSERT INTO layers (chain_id, diff_id, parent, cache_id, size, created_at) VALUES (?, ?, NULL, 'c1', 1234, 0)`).run(id('d'), id('d'));
  const rec = store.add(image('a', {
    tags: ['busybox'],
    repoDigests: [{ ref: `docker.io/library/busybox@${id('m')}`, manifestDigest: id('m') }],
    manifests: [{ digest: id('m'), mediaType: 'application/vnd.oci.image.manifest.v1+json' }],
  }));
  assert.equal(rec.id, id('a'));
  assert.deepEqual(rec.repoTags, ['docker.io/library/busybox:latest']);
  assert.deepEqual(rec.repoDigests, [`docker.io/library/busybox@${id('m')}`]);
  assert.equal(rec.size, 1234);
  assert.equal(rec.created, '2024-01-02T03:04:05Z');
  assert.deepEqual(rec.config.config?.Cmd, ['sh']);
  assert.deepEqual(rec.layers, [id('d')]);
  const m = db.prepare('SELECT digest, media_type FROM image_manifests WHERE image_id = ?').all(id('a'));
  assert.equal(m.length, 1);
  // adding again keeps the row and adds tags
  const again = store.add(image('a', { tags: ['busybox:1'] }));
  assert.deepEqual(again.repoTags, ['docker.io/library/busybox:1', 'docker.io/library/busybox:latest']);
  assert.equal(again.addedAt, rec.addedAt);
  assert.equal(store.list().length, 1);
});

test('a tag moves from its previous holder', () => {
  const { store } = fresh();
  store.add(image('a', { tags: ['app:1'] }));
  store.add(image('b', { tags: ['app:1'] }));
  assert.deepEqual(store.get(id('a'))!.repoTags, []);
  assert.deepEqual(store.get(id('b'))!.repoTags, ['docker.io/library/app:1']);
  store.tag(id('a'), 'app:1');
  assert.equal(store.resolve('app:1')!.id, id('a'));
  assert.throws(() => store.tag(id('c'), 'x'), (e: unknown) => isKind(e, 'NotFound'));
  assert.throws(() => store.tag(id('a'), `x@${id('e')}`), /digest reference/);
});

test('resolve: full ID, bare hex, unique prefix, names, digests', () => {
  const { store } = fresh();
  const a = 'sha256:abc1' + '0'.repeat(60);
  const b = 'sha256:abc2' + '0'.repeat(60);
  store.add({ ...image('x'), configDigest: a, tags: ['127.0.0.1:5000/team/app:v1'] });
  store.add({
    ...image('x'), configDigest: b, tags: ['busybox'],
    repoDigests: [{ ref: `docker.io/library/busybox@${id('e')}`, manifestDigest: id('e') }],
  });
  assert.equal(store.resolve(a)!.id, a);
  assert.equal(store.resolve(a.slice(7))!.id, a);
  assert.equal(store.resolve('abc1')!.id, a);
  assert.equal(store.resolve('sha256:abc2')!.id, b);
  assert.equal(store.resolve('abc'), undefined, 'ambiguous prefix');
  assert.equal(store.resolve('abc3'), undefined);
  assert.equal(store.resolve('busybox')!.id, b);
  assert.equal(store.resolve('busybox:latest')!.id, b);
  assert.equal(store.resolve('docker.io/library/busybox:latest')!.id, b);
  assert.equal(store.resolve('busybox:1'), undefined);
  assert.equal(store.resolve(`busybox@${id('e')}`)!.id, b);
  assert.equal(store.resolve(`busybox@${id('f')}`), undefined);
  assert.equal(store.resolve('127.0.0.1:5000/team/app:v1')!.id, a);
  assert.equal(store.resolve('NOT A REF'), undefined);
});

test('a tag that looks like an ID prefix wins over the prefix, as in dockerd', () => {
  const { store } = fresh();
  store.add({ ...image('x'), configDigest: `sha256:beef${'0'.repeat(60)}` });
  store.add({ ...image('x'), configDigest: id('1'), tags: ['beef'] });
  assert.equal(store.resolve('beef')!.id, id('1'));
});

test('untag, delete and usedLayers', () => {
  const { store } = fresh();
  const chain = [id('1'), id('2')];
  store.add({ config: config([id('d'), id('e')]), configDigest: id('a'), layers: chain, tags: ['one', 'two'],
    repoDigests: [{ ref: `docker.io/library/one@${id('f')}`, manifestDigest: id('f') }] });
  store.add({ config: config([id('d')]), configDigest: id('b'), layers: [id('1')] });
  assert.deepEqual([...store.usedLayers()].sort(), chain);
  assert.equal(store.untag('one'), true);
  assert.equal(store.untag('one'), false);
  assert.equal(store.untag(`one@${id('f')}`), true);
  assert.deepEqual(store.get(id('a'))!.repoTags, ['docker.io/library/two:latest']);
  assert.deepEqual(store.get(id('a'))!.repoDigests, []);
  store.delete(id('a'));
  assert.equal(store.get(id('a')), undefined);
  assert.equal(store.resolve('two'), undefined);
  assert.deepEqual([...store.usedLayers()], [id('1')]);
  assert.equal(store.list().length, 1);
});

test('add is all-or-nothing', () => {
  const { store } = fresh();
  assert.throws(() => store.add(image('a', { tags: ['good', 'BAD TAG'] })), /invalid reference format/);
  assert.equal(store.list().length, 0);
  assert.throws(() => store.add({ ...image('a'), layers: [] }), /diff IDs/);
});
