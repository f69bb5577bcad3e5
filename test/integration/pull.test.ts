/**
 * The Puller against a real registry (Debian's docker-registry on loopback) over a temp data root: tags and
 * digests, platforms, compression kinds, up-to-date pulls, dockerd's errors, Basic and Bearer auth, a
 * corrupt blob and an abort — the last two must leave nothing behind.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isKind } from '../../src/errors';
import { EventLog, type EngineEvent } from '../../src/engine/events';
import { Puller, type PullOptions } from '../../src/engine/pull';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { SqliteImageStore } from '../../src/image/image-store';
import type { ProgressMessage } from '../../src/image/types';
import { clearTokenCache } from '../../src/registry/auth';
import { hostPlatform } from '../../src/registry/manifest';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';
import { freePort, REGISTRY_BIN, startRegistry, type Registry } from '../helpers/registry';
import { startThrottleProxy } from '../helpers/throttle-proxy';
import {
  makeBigImage, makeMixedCompression, makeMultiPlatform, push, registryBlobFile, type MultiPlatformFixture,
} from './pull-fixtures';
import { startTokenRegistry, type TokenRegistry } from './pull-token-server';

const skip = process.getuid?.() !== 0 ? 'needs root (overlay layer store)'
  : !fs.existsSync(REGISTRY_BIN) ? `no ${REGISTRY_BIN}` : false;

interface Engine {
  root: string;
  db: Db;
  puller: Puller;
  content: FsContentStore;
  layers: OverlayLayerStore;
  images: SqliteImageStore;
  events: EngineEvent[];
  close(): void;
}

async function engine(registry: { mirrors?: string[]; insecure?: string[] } = {}): Promise<Engine> {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pull-'));
  await initDataDirs(root);
  const db = openDb(path.join(root, 'berth.db'));
  const eventLog = new EventLog(db);
  const events: EngineEvent[] = [];
  eventLog.subscribe((e) => events.push(e));
  const content = new FsContentStore(root);
  const layers = new OverlayLayerStore(root, db);
  const images = new SqliteImageStore(db);
  const puller = new Puller({
    dataRoot: root, db, content, layers, images, events: eventLog, log: silentLogger,
    registry: { mirrors: registry.mirrors ?? [], insecure: registry.insecure ?? [] },
  });
  return {
    root, db, puller, content, layers, images, events,
    close: () => { db.close(); fs.rmSync(root, { recursive: true, force: true }); },
  };
}

async function pull(e: Engine, ref: string, opts: PullOptions = {}) {
  const messages: ProgressMessage[] = [];
  const result = await e.puller.pull(ref, opts, (m) => messages.push(m));
  return { ...result, messages };
}

/** What a failed pull must not leave: images, layer rows, temp files, layer dirs without a row. */
function assertNothingLeft(e: Engine): void {
  assert.deepEqual(e.images.list().map((i: { id: string }) => i.id), []);
  assert.deepEqual(e.layers.list().map((l: { chainId: string }) => l.chainId), []);
  assert.deepEqual(fs.readdirSync(path.join(e.root, 'tmp')), []);
  const overlay = path.join(e.root, 'overlay');
  const dirs = fs.existsSync(overlay) ? fs.readdirSync(overlay).filter((d) => d !== 'l') : [];
  assert.deepEqual(dirs, []);
  const links = path.join(overlay, 'l');
  assert.deepEqual(fs.existsSync(links) ? fs.readdirSync(links) : [], []);
}

function layerFile(e: Engine, chainId: string, rel: string): string {
  const info = e.layers.get(chainId);
  assert.ok(info, `layer ${chainId} registered`);
  return fs.readFileSync(path.join(e.layers.root, info.cacheId, 'diff', rel), 'utf8');
}

describe('pull from a loopback registry', { skip, timeout: 240_000 }, () => {
  let fixtures: string;
  let reg: Registry;
  let multi: MultiPlatformFixture;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    fixtures = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pull-fixtures-'));
    reg = await startRegistry();
    multi = await makeMultiPlatform(fixtures);
    await push(reg, multi.layout, 'library/small');
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    await reg?.stop();
    if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
  });

  const track = (e: Engine) => { cleanups.push(() => e.close()); return e; };

  test('pull by tag: image, tag, index digest, layers unpacked, dockerd-shaped progress, pull event', async () => {
    const e = track(await engine());
    const ref = `${reg.host}/library/small:latest`;
    const r = await pull(e, ref);
    const mine = hostPlatform().architecture === 'arm64' ? multi.arm64 : multi.amd64;
    const manifest = JSON.parse(fs.readFileSync(path.join(multi.layout, 'blobs', 'sha256', mine.digest.slice(7)), 'utf8'));
    assert.equal(r.upToDate, false);
    assert.equal(r.digest, multi.index.digest);
    assert.equal(r.image.id, manifest.config.digest);
    assert.deepEqual(r.image.repoTags, [ref]);
    assert.deepEqual(r.image.repoDigests, [`${reg.host}/library/small@${multi.index.digest}`]);
    assert.equal(r.image.layers.length, 2);
    assert.equal(layerFile(e, r.image.layers[0], 'etc/os-release'), 'NAME=berth-test\n');
    assert.match(layerFile(e, r.image.layers[1], `bin/hello-${mine === multi.arm64 ? 'arm64' : 'amd64'}`), /^#!\/bin\/sh/);
    for (const d of [multi.index.digest, mine.digest, manifest.config.digest, ...manifest.layers.map((l: { digest: string }) => l.digest)]) {
      assert.ok(await e.content.has(d), `content store keeps ${d}`);
    }

    const m = r.messages;
    assert.deepEqual(m[0], { status: 'Pulling from library/small', id: 'latest' });
    const id0 = manifest.layers[0].digest.slice(7, 19);
    assert.deepEqual(m.find((x) => x.id === id0), { status: 'Pulling fs layer', progressDetail: {}, id: id0 });
    const statuses = m.filter((x) => x.id === id0).map((x) => x.status);
    for (const s of ['Pulling fs layer', 'Downloading', 'Verifying Checksum', 'Download complete', 'Extracting', 'Pull complete']) {
      assert.ok(statuses.includes(s), `layer ${id0} got "${s}" (${statuses.join(', ')})`);
    }
    const dl = m.find((x) => x.id === id0 && x.status === 'Downloading')!;
    assert.equal(dl.progressDetail?.total, manifest.layers[0].size);
    assert.match(dl.progress!, /^\[[= >]{51}\] +\d+(\.\d+)?k?B\/\d+(\.\d+)?k?B$/);
    assert.deepEqual(m.slice(-2), [
      { status: `Digest: ${multi.index.digest}` },
      { status: `Status: Downloaded newer image for ${ref}` },
    ]);
    const ev = e.events.find((x) => x.Type === 'image' && x.Action === 'pull');
    assert.equal(ev?.Actor.ID, ref);
    assert.equal(ev?.Actor.Attributes.name, ref);

    const again = await pull(e, `${reg.host}/library/small`);
    assert.equal(again.upToDate, true);
    assert.equal(again.image.id, r.image.id);
    assert.deepEqual(again.messages.map((x) => x.status), [
      'Pulling from library/small', `Digest: ${multi.index.digest}`, `Status: Image is up to date for ${ref}`,
    ]);

    const byDigest = await pull(e, `${reg.host}/library/small@${multi.index.digest}`);
    assert.equal(byDigest.upToDate, true);
    assert.equal(byDigest.messages[0].id, multi.index.digest);
  });

  test('--platform picks the other manifest; the shared base layer "Already exists"', async () => {
    const e = track(await engine());
    const host = hostPlatform().architecture === 'arm64' ? 'arm64' : 'amd64';
    const other = host === 'arm64' ? 'linux/amd64' : 'linux/arm64/v8';
    await pull(e, `${reg.host}/library/small`);
    const r = await pull(e, `${reg.host}/library/small`, { platform: other });
    assert.equal(r.image.config.architecture, other.split('/')[1]);
    const base = multi.base.digest.slice(7, 19);
    assert.deepEqual(r.messages.find((x) => x.id === base), { status: 'Already exists', progressDetail: {}, id: base });
    assert.equal(e.images.list().length, 2);
    assert.deepEqual(e.images.resolve(`${reg.host}/library/small:latest`)?.id, r.image.id, 'the tag moved to the last pull');
    await assert.rejects(pull(e, `${reg.host}/library/small`, { platform: 'linux/s390x' }),
      (err: Error) => isKind(err, 'NotFound') && err.message === 'no matching manifest for linux/s390x in the manifest list entries');
  });

  test('zstd, uncompressed and gzip layers; pulled by manifest digest without a tag', async () => {
    const mixed = await makeMixedCompression(fixtures);
    await push(reg, mixed.layout, 'mixed', 'v1');
    const e = track(await engine());
    const r = await pull(e, `${reg.host}/mixed@${mixed.manifest.digest}`);
    assert.equal(r.digest, mixed.manifest.digest);
    assert.deepEqual(r.image.repoTags, []);
    assert.deepEqual(r.image.repoDigests, [`${reg.host}/mixed@${mixed.manifest.digest}`]);
    assert.equal(layerFile(e, r.image.layers[0], 'zstd/one.txt'), 'from a zstd layer\n');
    assert.equal(layerFile(e, r.image.layers[1], 'plain/two.txt'), 'from an uncompressed layer\n');
    assert.equal(layerFile(e, r.image.layers[2], 'gz/three.txt'), 'from a gzip layer\n');
    assert.equal(r.messages.at(-1)?.status, `Status: Downloaded newer image for ${reg.host}/mixed@${mixed.manifest.digest}`);
  });

  test('distribution inspect: index descriptor and its platforms, without pulling', async () => {
    const e = track(await engine());
    const info = await e.puller.inspectDistribution(`${reg.host}/library/small`);
    assert.deepEqual(info.Descriptor, { mediaType: 'application/vnd.oci.image.index.v1+json', digest: multi.index.digest, size: multi.index.size });
    assert.deepEqual(info.Platforms, [{ architecture: 'amd64', os: 'linux' }, { architecture: 'arm64', os: 'linux', variant: 'v8' }]);
    assert.deepEqual(e.images.list(), []);
  });

  test('unknown tag and repository: NotFound in dockerd words', async () => {
    const e = track(await engine());
    await assert.rejects(pull(e, `${reg.host}/library/small:nope`), (err: Error) =>
      isKind(err, 'NotFound') && err.message === `manifest for ${reg.host}/library/small:nope not found: manifest unknown: manifest unknown`);
    await assert.rejects(pull(e, `${reg.host}/nope`), (err: Error) => isKind(err, 'NotFound') && err.message.includes(`${reg.host}/nope`));
    assertNothingLeft(e);
  });

  test('a registry that is not there: Unavailable naming it', async () => {
    const e = track(await engine());
    const port = await freePort();
    await assert.rejects(pull(e, `127.0.0.1:${port}/x`), (err: Error) =>
      isKind(err, 'Unavailable') && err.message.includes(`127.0.0.1:${port}`) && err.message.includes('connection refused'));
  });

  test('docker.io images come from the mirror, named familiarly', async () => {
    const e = track(await engine({ mirrors: [reg.url] }));
    const r = await pull(e, 'small');
    assert.deepEqual(r.image.repoTags, ['docker.io/library/small:latest']);
    assert.deepEqual(r.image.repoDigests, [`docker.io/library/small@${multi.index.digest}`]);
    assert.equal(r.messages.at(-1)?.status, 'Status: Downloaded newer image for small:latest');
    assert.equal(e.events.find((x) => x.Action === 'pull')?.Actor.ID, 'small:latest');
  });

  test('a corrupt blob on the registry is refused and leaves nothing', async () => {
    const layout = await makeBigImage(path.join(fixtures, 'corrupt'), 3 << 20);
    await push(reg, layout.layout, 'corrupt');
    const file = registryBlobFile(reg, layout.layer.digest);
    const fd = fs.openSync(file, 'r+');
    fs.writeSync(fd, Buffer.from('berth was here'), 0, 14, 1 << 20);
    fs.closeSync(fd);
    const e = track(await engine());
    await assert.rejects(pull(e, `${reg.host}/corrupt`), (err: Error) =>
      err.message === `filesystem layer verification failed for digest ${layout.layer.digest}`);
    assertNothingLeft(e);
    assert.equal(await e.content.has(layout.layer.digest), false);
  });

  test('an abort in the middle of a big layer leaves nothing', async () => {
    const big = await makeBigImage(path.join(fixtures, 'abort'), 32 << 20);
    await push(reg, big.layout, 'big');
    const proxy = await startThrottleProxy(reg.port, 8 << 20);
    cleanups.push(() => proxy.stop());
    const e = track(await engine());
    const ac = new AbortController();
    let seen = 0;
    const pulling = e.puller.pull(`${proxy.host}/big`, { signal: ac.signal }, (m) => {
      if (m.status === 'Downloading' && (m.progressDetail?.current ?? 0) > 2 << 20 && !ac.signal.aborted) {
        seen = m.progressDetail!.current!;
        ac.abort();
      }
    });
    await assert.rejects(pulling, (err: Error) => err.name === 'AbortError' || /abort/i.test(err.message));
    assert.ok(seen > 0 && seen < big.layer.size, `aborted mid-download (at ${seen} of ${big.layer.size} bytes)`);
    assertNothingLeft(e);
  });
});

describe('pull with registry auth', { skip, timeout: 120_000 }, () => {
  let fixtures: string;
  let multi: MultiPlatformFixture;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async () => {
    fixtures = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-pull-auth-'));
    multi = await makeMultiPlatform(fixtures);
  });

  after(async () => {
    for (const c of cleanups.reverse()) await c();
    if (fixtures) fs.rmSync(fixtures, { recursive: true, force: true });
  });

  test('Basic (htpasswd): works with credentials, fails clearly without or with wrong ones', async () => {
    const reg = await startRegistry({ auth: { user: 'alice', password: 's3cret' } });
    cleanups.push(() => reg.stop());
    await push(reg, multi.layout, 'private/small');
    const e = await engine();
    cleanups.push(() => e.close());
    const ref = `${reg.host}/private/small`;
    // Internal (500) like dockerd's plain error, so the docker CLI reports it instead of prompting for a login
    await assert.rejects(pull(e, ref), (err: Error) => isKind(err, 'Internal') && /no basic auth credentials/.test(err.message));
    await assert.rejects(pull(e, ref, { auth: { username: 'alice', password: 'wrong' } }), (err: Error) =>
      isKind(err, 'Unauthorized') && err.message.startsWith(`pull access denied for ${ref}, repository does not exist or may require 'docker login'`));
    assertNothingLeft(e);
    const r = await pull(e, ref, { auth: { username: 'alice', password: 's3cret' } });
    assert.equal(r.digest, multi.index.digest);
  });

  test('Bearer tokens from a token server the registry trusts', async () => {
    clearTokenCache();
    let reg: TokenRegistry;
    try {
      reg = await startTokenRegistry({ user: 'bob', password: 'hunter2' });
    } catch (err) {
      assert.fail(`token registry did not start: ${(err as Error).message}`);
    }
    cleanups.push(() => reg.stop());
    await push(reg.registry, multi.layout, 'team/small');
    const e = await engine();
    cleanups.push(() => e.close());
    const ref = `${reg.registry.host}/team/small`;
    await assert.rejects(pull(e, ref), (err: Error) => isKind(err, 'Unauthorized'));
    const r = await pull(e, ref, { auth: { username: 'bob', password: 'hunter2' } });
    assert.equal(r.digest, multi.index.digest);
    assert.ok(reg.tokensIssued() >= 1);
    assert.ok(reg.scopesAsked().includes('repository:team/small:pull'), reg.scopesAsked().join(' '));
  });
});
