/**
 * The image routes in-process over a temp data root and a temp unix socket: load (docker-archive and OCI
 * layout), list/inspect/history/tag/rm/prune, save → load round trip, import with --change, and bad input
 * (filters, unknown images, invalid tags, archives escaping their root) that must change nothing.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import * as tar from 'tar-stream';
import { registerImageRoutes } from '../../src/api/images';
import { Router } from '../../src/api/router';
import { createApiServer } from '../../src/api/server';
import { EventLog, type EngineEvent } from '../../src/engine/events';
import { ImageService } from '../../src/engine/images';
import { Puller } from '../../src/engine/pull';
import { FsContentStore, initDataDirs } from '../../src/image/content-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { SqliteImageStore } from '../../src/image/image-store';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';
import { REGISTRY_BIN, seedImages, startRegistry, type Registry } from '../helpers/registry';
import { layoutDir } from '../../scripts/fixtures/paths';

const skip = process.getuid?.() !== 0 ? 'needs root (overlay layer store)' : false;

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer; text: string; json: () => any }

let root: string;
let socket: string;
let db: Db;
let server: http.Server;
let svc: ImageService;
let layers: OverlayLayerStore;
let content: FsContentStore;
const events: EngineEvent[] = [];
let inUse: Record<string, string[]> = {};
let registry: Registry | undefined;
const canPull = fs.existsSync(REGISTRY_BIN) && fs.existsSync(layoutDir('busybox'));

function request(method: string, p: string, body?: Buffer, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: socket, method, path: p, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const buf = Buffer.concat(chunks);
        const text = buf.toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: buf, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** JSON lines of a streamed response. */
function lines(r: Reply): any[] {
  return r.text.split(/\r?\n/).filter((l) => l.trim()).map((l) => JSON.parse(l));
}

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

interface Entry { name: string; data?: string | Buffer; type?: 'file' | 'directory' | 'symlink'; linkname?: string }

async function makeTar(entries: Entry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const done = new Promise<void>((resolve, reject) => {
    pack.on('data', (c: unknown) => { chunks.push(c as Buffer); });
    pack.on('end', resolve);
    pack.on('error', reject);
  });
  for (const e of entries) {
    const type = e.type ?? 'file';
    if (type === 'file') pack.entry({ name: e.name, mode: 0o644, mtime: new Date(0) }, Buffer.from(e.data ?? ''));
    else pack.entry({ name: e.name, type, linkname: e.linkname, mode: 0o755, mtime: new Date(0) });
  }
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

/** A two-layer docker-archive in the old layout (`<id>/layer.tar`, first layer gzip-compressed). */
async function dockerArchive(tag: string, marker: string) {
  const layer1 = await makeTar([
    { name: 'etc/', type: 'directory' }, { name: 'etc/os-release', data: `ID=${marker}\n` }, { name: 'hello.txt', data: 'hello\n' },
  ]);
  const layer2 = await makeTar([{ name: 'b.txt', data: 'bbbb' }, { name: '.wh.hello.txt' }]);
  const created = '2024-01-01T00:00:00Z';
  const config = {
    architecture: 'amd64', os: 'linux', created,
    config: { Env: ['PATH=/bin'], Cmd: ['sh'], Labels: { team: 'a', marker } },
    rootfs: { type: 'layers', diff_ids: [sha(layer1), sha(layer2)] },
    history: [
      { created, created_by: 'ADD hello' }, { created, created_by: 'CMD ["sh"]', empty_layer: true }, { created, created_by: 'ADD b' },
    ],
  };
  const configBytes = Buffer.from(JSON.stringify(config));
  const id = sha(configBytes);
  const archive = await makeTar([
    { name: 'l1/layer.tar', data: zlib.gzipSync(layer1) },
    { name: 'l2/layer.tar', data: layer2 },
    { name: 'l2-again/layer.tar', type: 'symlink', linkname: '../l2/layer.tar' },
    { name: `${id.slice(7)}.json`, data: configBytes },
    { name: 'manifest.json', data: JSON.stringify([{ Config: `${id.slice(7)}.json`, RepoTags: [tag], Layers: ['l1/layer.tar', 'l2-again/layer.tar'] }]) },
  ]);
  return { archive, id, diffIds: config.rootfs.diff_ids, layer1, layer2 };
}

describe('image API', { skip }, () => {
  before(async () => {
    root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-images-api-'));
    await initDataDirs(root);
    db = openDb(path.join(root, 'berth.db'));
    const eventLog = new EventLog(db);
    eventLog.subscribe((e) => events.push(e));
    content = new FsContentStore(root);
    layers = new OverlayLayerStore(root, db);
    const images = new SqliteImageStore(db);
    if (canPull) {
      registry = await startRegistry();
      await seedImages(registry, ['busybox']);
    }
    const puller = new Puller({
      dataRoot: root, db, content, layers, images, events: eventLog, log: silentLogger,
      registry: { mirrors: [], insecure: registry ? [registry.host] : [] },
    });
    svc = new ImageService({
      dataRoot: root, db, content, layers, images, events: eventLog, puller, log: silentLogger,
      containersUsing: (id) => inUse[id] ?? [],
    });
    const router = new Router();
    registerImageRoutes(router, svc);
    server = createApiServer(router, silentLogger);
    socket = path.join(root, 'api.sock');
    await new Promise<void>((resolve) => server.listen(socket, resolve));
  });

  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await registry?.stop();
    db.close();
    fs.rmSync(root, { recursive: true, force: true });
  });

  let first: Awaited<ReturnType<typeof dockerArchive>>;

  test('load a docker-archive: layers applied, image tagged, messages like dockerd', async () => {
    first = await dockerArchive('test/app:1', 'one');
    const r = await request('POST', '/v1.47/images/load?quiet=0', first.archive, { 'Content-Type': 'application/x-tar' });
    assert.equal(r.status, 200, r.text);
    const msgs = lines(r);
    assert.ok(msgs.some((m) => m.stream === 'Loaded image: test/app:1\n'), r.text);
    assert.ok(msgs.some((m) => m.status === 'Loading layer'), 'layer progress shown');
    assert.ok(events.some((e) => e.Action === 'load' && e.Actor.ID === first.id));
    const top = layers.lowerDirs(layers.list().find((l) => l.diffId === first.diffIds[1])!.chainId);
    assert.equal(fs.readFileSync(path.join(top[1], 'hello.txt'), 'utf8'), 'hello\n');
    assert.ok(fs.statSync(path.join(top[0], 'hello.txt')).isCharacterDevice(), 'whiteout as char 0/0');
  });

  test('list: summary shape, filters, newest first', async () => {
    const all = (await request('GET', '/images/json')).json();
    assert.equal(all.length, 1);
    const s = all[0];
    assert.equal(s.Id, first.id);
    assert.deepEqual(s.RepoTags, ['test/app:1']);
    assert.deepEqual(s.RepoDigests, []);
    assert.equal(s.Created, Date.parse('2024-01-01T00:00:00Z') / 1000);
    assert.equal(s.Size, 6 + 7 + 4);
    assert.equal(s.SharedSize, -1);
    assert.equal(s.Containers, -1);
    assert.deepEqual(s.Labels, { team: 'a', marker: 'one' });
    const q = (f: object) => request('GET', `/images/json?filters=${encodeURIComponent(JSON.stringify(f))}`).then((r) => r.json());
    assert.equal((await q({ reference: ['test/*'] })).length, 1);
    assert.equal((await q({ reference: ['test/app:1'] })).length, 1);
    assert.equal((await q({ reference: ['other'] })).length, 0);
    assert.equal((await q({ label: ['team=a'] })).length, 1);
    assert.equal((await q({ label: ['team=b'] })).length, 0);
    assert.equal((await q({ dangling: ['true'] })).length, 0);
    assert.equal((await q({ until: ['2023-01-01'] })).length, 0);
  });

  test('inspect: dockerd shape, by name and by short ID', async () => {
    const r = await request('GET', '/images/test/app:1/json');
    assert.equal(r.status, 200, r.text);
    const img = r.json();
    assert.equal(img.Id, first.id);
    assert.deepEqual(img.RepoTags, ['test/app:1']);
    assert.equal(img.Created, '2024-01-01T00:00:00Z');
    assert.deepEqual(img.Config.Cmd, ['sh']);
    assert.equal(img.Config.Hostname, '');
    assert.equal(img.Config.Entrypoint, null);
    assert.equal(img.Architecture, 'amd64');
    assert.equal(img.GraphDriver.Name, 'overlay2');
    assert.ok(fs.existsSync(img.GraphDriver.Data.UpperDir));
    assert.ok(fs.existsSync(img.GraphDriver.Data.LowerDir));
    assert.deepEqual(img.RootFS, { Type: 'layers', Layers: first.diffIds });
    const short = await request('GET', `/images/${first.id.slice(7, 19)}/json`);
    assert.equal(short.json().Id, first.id);
  });

  test('history: newest first, ID and tags on top, empty layers sized 0', async () => {
    const h = (await request('GET', '/images/test/app:1/history')).json();
    assert.equal(h.length, 3);
    assert.equal(h[0].Id, first.id);
    assert.deepEqual(h[0].Tags, ['test/app:1']);
    assert.equal(h[0].CreatedBy, 'ADD b');
    assert.equal(h[0].Size, 4);
    assert.equal(h[1].Id, '<missing>');
    assert.equal(h[1].Size, 0);
    assert.equal(h[2].Size, 13);
  });

  test('tag: 201, event; invalid reference 400; unknown image 404', async () => {
    const r = await request('POST', '/images/test/app:1/tag?repo=127.0.0.1:5000/team/app&tag=v2');
    assert.equal(r.status, 201, r.text);
    assert.deepEqual(svc.inspect(first.id).RepoTags, ['127.0.0.1:5000/team/app:v2', 'test/app:1']);
    assert.ok(events.some((e) => e.Action === 'tag' && e.Actor.Attributes.name === '127.0.0.1:5000/team/app:v2'));
    const bad = await request('POST', '/images/test/app:1/tag?repo=Bad%20Name&tag=x');
    assert.equal(bad.status, 400);
    assert.match(bad.json().message, /invalid reference format/);
    const badTag = await request('POST', '/images/test/app:1/tag?repo=ok&tag=-nope');
    assert.equal(badTag.status, 400);
    const missing = await request('POST', '/images/nosuch/tag?repo=x');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().message, 'No such image: nosuch:latest');
  });

  test('remove conflicts: several repositories, or a container using the last tag', async () => {
    const r = await request('DELETE', `/images/${first.id.slice(7, 19)}`);
    assert.equal(r.status, 409);
    assert.equal(r.json().message, `conflict: unable to delete ${first.id.slice(7, 19)} (must be forced) - image is referenced in multiple repositories`);
    inUse = { [first.id]: ['c'.repeat(64)] };
    try {
      const untag = await request('DELETE', '/images/127.0.0.1:5000/team/app:v2');
      assert.equal(untag.status, 200);
      assert.deepEqual(untag.json(), [{ Untagged: '127.0.0.1:5000/team/app:v2' }]);
      const last = await request('DELETE', '/images/test/app:1');
      assert.equal(last.status, 409);
      assert.match(last.json().message, /^conflict: unable to remove repository reference "test\/app:1" \(must force\) - container cccccccccccc is using its referenced image/);
    } finally {
      inUse = {};
    }
  });

  let saved: Buffer;

  test('save: docker-archive and OCI layout in one tar, layers uncompressed under their diff IDs', async () => {
    const missing = await request('GET', '/images/get?names=test/app:1&names=nosuch');
    assert.equal(missing.status, 404);
    const r = await request('GET', '/images/get?names=test/app:1');
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'application/x-tar');
    saved = r.body;
    const files = new Map<string, Buffer>();
    const extract = tar.extract();
    const reading = (async () => {
      for await (const e of extract) {
        const chunks: Buffer[] = [];
        for await (const c of e) chunks.push(c as Buffer);
        files.set(e.header.name, Buffer.concat(chunks));
      }
    })();
    extract.end(saved);
    await reading;
    const manifest = JSON.parse(files.get('manifest.json')!.toString());
    assert.deepEqual(manifest, [{ Config: `blobs/sha256/${first.id.slice(7)}`, RepoTags: ['test/app:1'], Layers: first.diffIds.map((d) => `blobs/sha256/${d.slice(7)}`) }]);
    for (const d of first.diffIds) assert.equal(sha(files.get(`blobs/sha256/${d.slice(7)}`)!), d);
    assert.equal(sha(files.get(`blobs/sha256/${first.id.slice(7)}`)!), first.id);
    const index = JSON.parse(files.get('index.json')!.toString());
    assert.equal(index.manifests[0].annotations['io.containerd.image.name'], 'docker.io/test/app:1');
    assert.equal(index.manifests[0].annotations['org.opencontainers.image.ref.name'], '1');
    const m = JSON.parse(files.get(`blobs/sha256/${index.manifests[0].digest.slice(7)}`)!.toString());
    assert.equal(m.config.digest, first.id);
    assert.deepEqual(JSON.parse(files.get('oci-layout')!.toString()), { imageLayoutVersion: '1.0.0' });
    assert.ok(files.has('repositories'));
  });

  test('remove by name: untag, then delete image, layers and blobs', async () => {
    const r = await request('DELETE', '/images/test/app:1');
    assert.equal(r.status, 200, r.text);
    const items = r.json();
    assert.deepEqual(items[0], { Untagged: 'test/app:1' });
    assert.deepEqual(items[1], { Deleted: first.id });
    assert.equal(items.length, 4, 'image and both layers deleted');
    assert.deepEqual((await request('GET', '/images/json')).json(), []);
    assert.equal(layers.list().length, 0);
    assert.deepEqual(await content.list(), []);
    assert.deepEqual(fs.readdirSync(path.join(root, 'overlay')).filter((n) => n !== 'l'), []);
    assert.equal((await request('DELETE', '/images/test/app:1')).status, 404);
  });

  test('save → load round trip keeps the image ID', async () => {
    const r = await request('POST', '/images/load?quiet=1', saved);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(lines(r), [{ stream: 'Loaded image: test/app:1\n' }]);
    assert.equal(svc.inspect('test/app:1').Id, first.id);
    // a second save of the reloaded image gives the same layer blobs
    const again = await request('GET', `/images/${first.id}/get`);
    assert.equal(again.status, 200);
  });

  test('load an OCI layout (gzip layer, nested index, ref annotation)', async () => {
    const layer = await makeTar([{ name: 'oci.txt', data: 'oci' }]);
    const gz = zlib.gzipSync(layer);
    const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha(layer)] } }));
    const manifest = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: sha(config), size: config.length },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: sha(gz), size: gz.length }],
    }));
    const arch = process.arch === 'x64' ? 'amd64' : process.arch;
    const nested = Buffer.from(JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: sha(manifest), size: manifest.length, platform: { os: 'linux', architecture: arch } }],
    }));
    const index = {
      schemaVersion: 2,
      manifests: [{ mediaType: 'application/vnd.oci.image.index.v1+json', digest: sha(nested), size: nested.length, annotations: { 'io.containerd.image.name': 'docker.io/library/ocitest:2' } }],
    };
    const blob = (b: Buffer): Entry => ({ name: `blobs/sha256/${sha(b).slice(7)}`, data: b });
    const archive = await makeTar([
      { name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: JSON.stringify(index) },
      blob(gz), blob(config), blob(manifest), blob(nested),
    ]);
    const r = await request('POST', '/images/load', archive);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(lines(r).filter((m) => m.stream), [{ stream: 'Loaded image: ocitest:2\n' }]);
    const img = svc.inspect('ocitest:2') as { Id: string };
    assert.equal(img.Id, sha(config));
    const layerInfo = layers.get(sha(layer))!;
    assert.equal(layerInfo.blobDigest, sha(gz), 'the blob is kept as it came');
    await svc.remove('ocitest:2');
  });

  test('bad archives: `../` entries, diff ID mismatch, garbage — 400 and nothing added', async () => {
    const before = { images: svc.list().length, layers: layers.list().length, blobs: (await content.list()).length };
    const escape = await makeTar([{ name: '../evil', data: 'x' }, { name: 'manifest.json', data: '[]' }]);
    const r1 = await request('POST', '/images/load', escape);
    assert.equal(r1.status, 400, r1.text);
    assert.match(r1.json().message, /escapes the archive/);
    assert.ok(!fs.existsSync(path.join(root, 'tmp', '..', 'evil')));

    const other = await dockerArchive('test/bad:1', 'bad');
    const tampered = await makeTar([
      { name: 'l1.tar', data: other.layer1 }, { name: 'l2.tar', data: other.layer1 },
      { name: 'c.json', data: JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: other.diffIds } }) },
      { name: 'manifest.json', data: JSON.stringify([{ Config: 'c.json', RepoTags: ['test/bad:1'], Layers: ['l1.tar', 'l2.tar'] }]) },
    ]);
    // quiet: nothing was streamed yet, so the error is a plain 400
    const r2 = await request('POST', '/images/load?quiet=1', tampered);
    assert.equal(r2.status, 400, r2.text);
    assert.match(r2.json().message, /invalid diffID for layer 1/);
    // with progress, the error comes in-band after the 200
    const r2b = await request('POST', '/images/load', tampered);
    assert.equal(r2b.status, 200);
    assert.match(lines(r2b).find((m) => m.error)?.error ?? '', /invalid diffID for layer 1/);

    const r3 = await request('POST', '/images/load', Buffer.from('this is not a tar archive at all'.repeat(40)));
    assert.equal(r3.status, 400, r3.text);

    const after = { images: svc.list().length, layers: layers.list().length, blobs: (await content.list()).length };
    assert.deepEqual(after, before);
    assert.deepEqual(fs.readdirSync(path.join(root, 'tmp')), []);
  });

  test('import with --change: one layer, config from the changes, tagged', async () => {
    const body = zlib.gzipSync(await makeTar([{ name: 'bin/', type: 'directory' }, { name: 'bin/tool', data: '#!/bin/sh\n' }]));
    const qs = new URLSearchParams({ fromSrc: '-', repo: 'imported', tag: 'v1' });
    qs.append('changes', 'CMD ["/bin/tool"]');
    qs.append('changes', 'ENV A=1 B=2');
    qs.append('changes', 'EXPOSE 8080');
    const r = await request('POST', `/images/create?${qs}`, body);
    assert.equal(r.status, 200, r.text);
    const id = lines(r)[0].status as string;
    assert.match(id, /^sha256:[a-f0-9]{64}$/);
    const img = svc.inspect('imported:v1') as any;
    assert.equal(img.Id, id);
    assert.deepEqual(img.Config.Cmd, ['/bin/tool']);
    assert.deepEqual(img.Config.Env, ['A=1', 'B=2']);
    assert.deepEqual(img.Config.ExposedPorts, { '8080/tcp': {} });
    assert.equal(img.Comment, 'Imported from -');
    assert.equal(img.RootFS.Layers.length, 1);
    const h = svc.history('imported:v1');
    assert.equal(h.length, 1);
    assert.equal(h[0].Comment, 'Imported from -');
    const bad = await request('POST', `/images/create?fromSrc=-&repo=x&changes=${encodeURIComponent('RUN rm -rf /')}`, body);
    assert.equal(bad.status, 400);
    assert.match(bad.json().message, /run is not a valid change command/);
  });

  test('prune: dangling only by default, all with dangling=false; df reports sizes', async () => {
    const body = await makeTar([{ name: 'dangling.txt', data: 'zzz' }]);
    const r = await request('POST', '/images/create?fromSrc=-&message=by%20test', body);
    const danglingId = lines(r)[0].status as string;
    assert.equal(svc.inspect(danglingId).Comment, 'by test');
    const listed = (await request('GET', `/images/json?filters=${encodeURIComponent('{"dangling":["true"]}')}`)).json();
    assert.deepEqual(listed.map((i: any) => i.Id), [danglingId]);
    assert.deepEqual(listed[0].RepoTags, []);
    const legacy = (await request('GET', `/v1.43/images/json?filters=${encodeURIComponent('{"dangling":["true"]}')}`)).json();
    assert.deepEqual(legacy[0].RepoTags, ['<none>:<none>']);

    const df = await svc.diskUsage();
    assert.equal(df.Images.length, 3);
    assert.ok(df.LayersSize > 0);

    const p = await request('POST', '/images/prune');
    assert.equal(p.status, 200, p.text);
    const out = p.json();
    assert.deepEqual(out.ImagesDeleted[0], { Deleted: danglingId });
    assert.equal(out.SpaceReclaimed, 3);
    assert.equal(svc.list().length, 2);

    const all = await request('POST', `/images/prune?filters=${encodeURIComponent('{"dangling":["false"],"label":["team=a"]}')}`);
    assert.equal(all.status, 200);
    assert.ok(all.json().ImagesDeleted.some((d: any) => d.Untagged === 'test/app:1'));
    assert.deepEqual(svc.list().map((i) => i.RepoTags), [['imported:v1']]);
  });

  test('bad input: malformed filters, unknown filter, unknown image, bad pull reference', async () => {
    const r1 = await request('GET', '/images/json?filters=%7Bbad');
    assert.equal(r1.status, 400);
    const r2 = await request('GET', `/images/json?filters=${encodeURIComponent('{"nope":["x"]}')}`);
    assert.equal(r2.status, 400);
    assert.equal(r2.json().message, "invalid filter 'nope'");
    const r3 = await request('GET', '/images/nosuch:1/json');
    assert.equal(r3.status, 404);
    assert.deepEqual(r3.json(), { message: 'No such image: nosuch:1' });
    const r4 = await request('GET', '/images/nosuch/history');
    assert.equal(r4.status, 404);
    const r5 = await request('POST', '/images/create?fromImage=Bad%20Name&tag=latest');
    assert.equal(r5.status, 400);
    const r6 = await request('POST', `/images/prune?filters=${encodeURIComponent('{"until":["later"]}')}`);
    assert.equal(r6.status, 400);
  });

  test('pull through /images/create: progress streamed, errors before any progress are HTTP errors', { skip: canPull ? false : 'no registry or fixtures' }, async () => {
    const host = registry!.host;
    const r = await request('POST', `/images/create?fromImage=${host}/library/busybox&tag=latest`, undefined, { 'X-Registry-Auth': 'e30=' });
    assert.equal(r.status, 200, r.text);
    const msgs = lines(r);
    assert.equal(msgs[0].status, 'Pulling from library/busybox');
    assert.equal(msgs[msgs.length - 1].status, `Status: Downloaded newer image for ${host}/library/busybox:latest`);
    const img = svc.inspect(`${host}/library/busybox`) as any;
    assert.equal(img.RepoDigests.length, 1);
    assert.ok(svc.history(img.Id).length >= 1);
    const missing = await request('POST', `/images/create?fromImage=${host}/library/busybox&tag=nosuchtag`);
    assert.equal(missing.status, 404, missing.text);
    assert.ok(missing.json().message);
    const rm = (await request('DELETE', `/images/${host}/library/busybox:latest`)).json();
    assert.deepEqual(rm.slice(0, 2).map((x: any) => Object.keys(x)[0]), ['Untagged', 'Untagged'], 'the tag, then the repo digest');
    assert.ok(rm.some((x: any) => x.Deleted === img.Id));
    assert.equal(svc.list().filter((i) => i.Id === img.Id).length, 0);
  });
});
