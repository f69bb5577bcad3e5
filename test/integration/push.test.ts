/**
 * Push, login and search against real registries (Debian's docker-registry on loopback): a pulled image
 * pushed to a second registry (uploads, then "Layer already exists", then a cross-repository mount), an
 * image made here (import: no manifest yet) and a large layer (chunked upload), each pulled back on an
 * empty data root with the same image ID and digest; htpasswd and Bearer-token registries for login and
 * pushes with and without credentials; search through `_catalog`.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { isKind } from '../../src/errors';
import { AuthChecker } from '../../src/engine/auth-check';
import { EventLog, type EngineEvent } from '../../src/engine/events';
import { ImageImporter } from '../../src/engine/image-import';
import { Puller } from '../../src/engine/pull';
import { Pusher } from '../../src/engine/push';
import { ImageSearcher } from '../../src/engine/search';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { SqliteImageStore } from '../../src/image/image-store';
import type { ProgressMessage } from '../../src/image/types';
import type { AuthConfig } from '../../src/registry/auth';
import { clearTokenCache } from '../../src/registry/auth';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';
import { REGISTRY_BIN, startRegistry, type Registry } from '../helpers/registry';
import { makeBigImage, makeMultiPlatform, push as skopeoPush, tarOf, type MultiPlatformFixture } from './pull-fixtures';
import { startTokenRegistry, type TokenRegistry } from './pull-token-server';

const skip = process.getuid?.() !== 0 ? 'needs root (overlay layer store)'
  : !fs.existsSync(REGISTRY_BIN) ? `no ${REGISTRY_BIN}` : false;

interface Engine {
  root: string;
  db: Db;
  content: FsContentStore;
  layers: OverlayLayerStore;
  images: SqliteImageStore;
  puller: Puller;
  pusher: Pusher;
  importer: ImageImporter;
  events: EngineEvent[];
  close(): void;
}

async function engine(): Promise<Engine> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-push-'));
  await initDataDirs(root);
  const db = openDb(path.join(root, 'berth.db'));
  const eventLog = new EventLog(db);
  const events: EngineEvent[] = [];
  eventLog.subscribe((e) => events.push(e));
  const content = new FsContentStore(root);
  const layers = new OverlayLayerStore(root, db);
  const images = new SqliteImageStore(db);
  const registry = { mirrors: [], insecure: [] };
  const puller = new Puller({ dataRoot: root, db, content, layers, images, events: eventLog, log: silentLogger, registry });
  const pusher = new Pusher({ db, content, layers, images, events: eventLog, log: silentLogger, registry });
  const importer = new ImageImporter({ dataRoot: root, db, content, layers, images, events: eventLog, puller, log: silentLogger });
  return {
    root, db, content, layers, images, puller, pusher, importer, events,
    close: () => { db.close(); fs.rmSync(root, { recursive: true, force: true }); },
  };
}

async function pushAll(e: Engine, name: string, opts: { tag?: string; auth?: AuthConfig } = {}) {
  const messages: ProgressMessage[] = [];
  const results = await e.pusher.push(name, opts, (m) => messages.push(m));
  return { results, messages };
}

/** `id: status` lines, as the docker CLI prints them without a terminal. */
function lines(messages: ProgressMessage[]): string[] {
  return messages.filter((m) => m.status && !m.progressDetail?.total).map((m) => (m.id ? `${m.id}: ${m.status}` : m.status!));
}

async function manifestOf(reg: Registry, repo: string, ref: string, auth?: AuthConfig): Promise<{ digest: string | null; body: Buffer; type: string | null }> {
  const headers: Record<string, string> = {
    Accept: 'application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json',
  };
  if (auth) headers.Authorization = 'Basic ' + Buffer.from(`${auth.username}:${auth.password}`).toString('base64');
  const res = await fetch(`${reg.url}/v2/${repo}/manifests/${ref}`, { headers });
  assert.equal(res.status, 200, `manifest ${repo}:${ref} on the registry`);
  return { digest: res.headers.get('docker-content-digest'), body: Buffer.from(await res.arrayBuffer()), type: res.headers.get('content-type') };
}

describe('push, login and search against loopback registries', { skip, timeout: 300_000 }, () => {
  let fixtures: string;
  let source: Registry;
  let target: Registry;
  let multi: MultiPlatformFixture;
  const cleanups: (() => Promise<void> | void)[] = [];
  const track = (e: Engine) => { cleanups.push(() => e.close()); return e; };

  before(async () => {
    fixtures = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-push-fixtures-'));
    source = await startRegistry();
    target = await startRegistry();
    multi = await makeMultiPlatform(fixtures);
    await skopeoPush(source, multi.layout, 'library/small');
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await source?.stop();
    await target?.stop();
    if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
  });

  test('a pulled image: pushed, then "Layer already exists", then mounted into another repository; pulled back identical', async () => {
    const e = track(await engine());
    const pulled = await e.puller.pull(`${source.host}/library/small:latest`, {}, () => {});
    const name = `${target.host}/team/app`;
    e.images.tag(pulled.image.id, `${name}:1`);

    const first = await pushAll(e, `${name}:1`);
    const shown = lines(first.messages);
    assert.equal(shown[0], `The push refers to repository [${name}]`);
    const ids = pulled.image.config.rootfs.diff_ids.map((d) => d.slice(7, 19));
    for (const id of ids) {
      assert.ok(shown.includes(`${id}: Preparing`), `Preparing ${id} in ${shown.join('\n')}`);
      assert.ok(shown.includes(`${id}: Pushed`), `Pushed ${id}`);
    }
    assert.ok(first.messages.some((m) => m.status === 'Pushing' && m.progress?.includes('=')), 'a Pushing progress bar');
    const [result] = first.results;
    const onRegistry = await manifestOf(target, 'team/app', '1');
    assert.equal(onRegistry.digest, result.digest);
    assert.equal(result.size, onRegistry.body.length);
    assert.equal(JSON.parse(onRegistry.body.toString()).config.digest, pulled.image.id);
    // the platform's manifest, not the index, is what an image pushes
    const mine = process.arch === 'arm64' ? multi.arm64 : multi.amd64;
    assert.equal(result.digest, mine.digest);
    assert.equal(shown[shown.length - 1], `1: digest: ${result.digest} size: ${result.size}`);
    assert.deepEqual(first.messages[first.messages.length - 1].aux, { Tag: '1', Digest: result.digest, Size: result.size });
    assert.ok(e.images.get(pulled.image.id)!.repoDigests.includes(`${name}@${result.digest}`));
    assert.ok(e.events.some((ev) => ev.Action === 'push' && ev.Actor.ID === `${name}:1`));

    const again = await pushAll(e, `${name}:1`);
    for (const id of ids) assert.ok(lines(again.messages).includes(`${id}: Layer already exists`), `already exists ${id}`);
    assert.equal(again.results[0].digest, result.digest);

    e.images.tag(pulled.image.id, `${target.host}/other/copy:2`);
    const mounted = await pushAll(e, `${target.host}/other/copy:2`);
    for (const id of ids) assert.ok(lines(mounted.messages).includes(`${id}: Mounted from team/app`), `mounted ${id}: ${lines(mounted.messages).join('\n')}`);

    const fresh = track(await engine());
    const back = await fresh.puller.pull(`${name}:1`, {}, () => {});
    assert.equal(back.image.id, pulled.image.id);
    assert.equal(back.digest, result.digest);
  });

  test('an imported image (no manifest yet): an OCI manifest is made once, pushed, and pulls back with the same ID and digest', async () => {
    const e = track(await engine());
    const tar = await tarOf({ 'srv/hello.txt': 'made here\n' });
    const img = await e.importer.import(Readable.from([tar]), '-', { repo: `${target.host}/local/imported`, tag: 'v1' });
    const first = await pushAll(e, `${target.host}/local/imported:v1`);
    const second = await pushAll(e, `${target.host}/local/imported`, {});
    assert.equal(second.results[0].digest, first.results[0].digest, 'the same manifest both times');
    const onRegistry = await manifestOf(target, 'local/imported', 'v1');
    assert.equal(onRegistry.type, 'application/vnd.oci.image.manifest.v1+json');
    const manifest = JSON.parse(onRegistry.body.toString());
    assert.equal(manifest.config.digest, img.id);
    assert.equal(manifest.layers[0].mediaType, 'application/vnd.oci.image.layer.v1.tar');

    const fresh = track(await engine());
    const back = await fresh.puller.pull(`${target.host}/local/imported:v1`, {}, () => {});
    assert.equal(back.image.id, img.id);
    assert.equal(back.digest, first.results[0].digest);
  });

  test('a layer larger than one chunk goes up in PATCH chunks and verifies', async () => {
    const big = await makeBigImage(fixtures, 20 << 20);
    await skopeoPush(source, big.layout, 'library/big');
    const e = track(await engine());
    const pulled = await e.puller.pull(`${source.host}/library/big:latest`, {}, () => {});
    e.images.tag(pulled.image.id, `${target.host}/team/big:1`);
    const r = await pushAll(e, `${target.host}/team/big:1`);
    const pushing = r.messages.filter((m) => m.status === 'Pushing');
    assert.ok(pushing.length >= 2, 'progress for several chunks');
    assert.equal(r.results[0].digest, big.manifest.digest);
    const fresh = track(await engine());
    const back = await fresh.puller.pull(`${target.host}/team/big:1`, {}, () => {});
    assert.equal(back.image.id, pulled.image.id);
  });

  test('unknown local tag: NotFound before any progress', async () => {
    const e = track(await engine());
    const messages: ProgressMessage[] = [];
    await assert.rejects(e.pusher.push(`${target.host}/nothing/here:1`, {}, (m) => messages.push(m)), (err: Error) => {
      assert.ok(isKind(err, 'NotFound'));
      assert.equal(err.message, `An image does not exist locally with the tag: ${target.host}/nothing/here:1`);
      return true;
    });
    assert.deepEqual(messages, []);
  });

  test('search finds repositories through _catalog, honours limit and filters', async () => {
    const searcher = new ImageSearcher({ registry: { mirrors: [], insecure: [] }, log: silentLogger });
    const found = await searcher.search(`${target.host}/team`);
    const names = found.map((r) => r.name);
    assert.ok(names.includes(`${target.host}/team/app`), names.join(', '));
    assert.ok(!names.includes(`${target.host}/local/imported`));
    assert.deepEqual(Object.keys(found[0]).sort(), ['description', 'is_automated', 'is_official', 'name', 'star_count']);
    assert.equal((await searcher.search(`${target.host}/a`, { limit: 1 })).length, 1);
    assert.deepEqual(await searcher.search(`${target.host}/team`, { filters: new Map([['is-official', ['true']]]) }), []);
    await assert.rejects(searcher.search(`${target.host}/team`, { limit: 101 }), /limit 101 is outside the range of \[1, 100\]/);
  });

  describe('htpasswd registry', () => {
    let secure: Registry;
    const user = { user: 'pusher', password: 's3cret-pw' };
    before(async () => { secure = await startRegistry({ auth: user }); });
    after(async () => { await secure?.stop(); });

    test('login: wrong password is Unauthorized, the right one succeeds; push needs credentials', async () => {
      const checker = new AuthChecker({ registry: { mirrors: [], insecure: [] }, log: silentLogger });
      await assert.rejects(checker.check({ username: user.user, password: 'wrong', serveraddress: secure.host }), (err: Error) => {
        assert.ok(isKind(err, 'Unauthorized'));
        assert.equal(err.message, `login attempt to ${secure.url}/v2/ failed with status: 401 Unauthorized`);
        return true;
      });
      const ok = await checker.check({ username: user.user, password: user.password, serveraddress: `http://${secure.host}/` });
      assert.deepEqual(ok, { Status: 'Login Succeeded' });

      const e = track(await engine());
      const tar = await tarOf({ 'a.txt': 'a\n' });
      await e.importer.import(Readable.from([tar]), '-', { repo: `${secure.host}/private/app`, tag: '1' });
      await assert.rejects(pushAll(e, `${secure.host}/private/app:1`), /no basic auth credentials/);
      const auth = { username: user.user, password: user.password };
      const r = await pushAll(e, `${secure.host}/private/app:1`, { auth });
      assert.equal((await manifestOf(secure, 'private/app', '1', auth)).digest, r.results[0].digest);

      const searcher = new ImageSearcher({ registry: { mirrors: [], insecure: [] }, log: silentLogger });
      await assert.rejects(searcher.search(`${secure.host}/private`), (err: Error) => isKind(err, 'Unauthorized'));
      assert.deepEqual((await searcher.search(`${secure.host}/private`, { auth })).map((x) => x.name), [`${secure.host}/private/app`]);
    });
  });

  describe('Bearer token registry', () => {
    let tokens: TokenRegistry;
    const user = { user: 'tok', password: 'tok-pw' };
    before(async () => { clearTokenCache(); tokens = await startTokenRegistry(user); });
    after(async () => { await tokens?.stop(); clearTokenCache(); });

    test('login through the token server; push with a token; mount asks pull on the source repository', async () => {
      const reg = tokens.registry;
      const checker = new AuthChecker({ registry: { mirrors: [], insecure: [] }, log: silentLogger });
      await assert.rejects(checker.check({ username: user.user, password: 'nope', serveraddress: reg.host }), (err: Error) => {
        assert.ok(isKind(err, 'Unauthorized'));
        assert.match(err.message, /unauthorized: incorrect username or password/);
        return true;
      });
      assert.equal((await checker.check({ username: user.user, password: user.password, serveraddress: reg.host })).Status, 'Login Succeeded');

      const e = track(await engine());
      const tar = await tarOf({ 'b.txt': 'b\n' });
      const img = await e.importer.import(Readable.from([tar]), '-', { repo: `${reg.host}/team/base`, tag: '1' });
      await assert.rejects(pushAll(e, `${reg.host}/team/base:1`), /unauthorized: authentication required/);
      const auth = { username: user.user, password: user.password };
      await pushAll(e, `${reg.host}/team/base:1`, { auth });
      e.images.tag(img.id, `${reg.host}/team/derived:1`);
      const r = await pushAll(e, `${reg.host}/team/derived:1`, { auth });
      assert.ok(lines(r.messages).some((l) => l.endsWith(': Mounted from team/base')), lines(r.messages).join('\n'));
      assert.ok(tokens.scopesAsked().includes('repository:team/base:pull'), tokens.scopesAsked().join(' '));
    });
  });
});
