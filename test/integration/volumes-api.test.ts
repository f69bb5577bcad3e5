/**
 * Volume routes in-process over a temp data root and a temp unix socket: create (named, generated, labels,
 * invalid names and drivers), list filters, inspect, in-use refusal, remove, prune (anonymous only unless
 * all=true, and all for old API versions), and the container-facing ensure/seedFromImage.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerVolumeRoutes } from '../../src/api/volumes';
import { Router } from '../../src/api/router';
import { createApiServer } from '../../src/api/server';
import { EventLog, type EngineEvent } from '../../src/engine/events';
import { VolumeService } from '../../src/engine/volumes';
import { openDb, type Db } from '../../src/store/db';
import { silentLogger } from '../../src/util/logger';

interface Reply { status: number; text: string; json: () => any }

let root: string;
let socket: string;
let db: Db;
let server: http.Server;
let svc: VolumeService;
const events: EngineEvent[] = [];
const inUse: Record<string, string[]> = {};

function request(method: string, p: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
const q = (filters: Record<string, string[]>) => encodeURIComponent(JSON.stringify(filters));

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-vol-'));
  socket = path.join(root, 'api.sock');
  db = openDb(path.join(root, 'berth.db'));
  const log = new EventLog(db);
  log.subscribe((e) => events.push(e));
  svc = new VolumeService({ dataRoot: root, db, events: log, log: silentLogger, usedBy: (n) => inUse[n] ?? [] });
  const router = new Router();
  registerVolumeRoutes(router, svc);
  server = createApiServer(router, silentLogger);
  await new Promise<void>((r) => server.listen(socket, r));
});

after(async () => {
  await new Promise((r) => server.close(r));
  db.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('create, inspect, list', async () => {
  const r = await request('POST', '/v1.47/volumes/create', { Name: 'data1', Labels: { team: 'a' } });
  assert.equal(r.status, 201, r.text);
  const v = r.json();
  assert.equal(v.Name, 'data1');
  assert.equal(v.Driver, 'local');
  assert.equal(v.Scope, 'local');
  assert.equal(v.Mountpoint, path.join(root, 'volumes', 'data1', '_data'));
  assert.deepEqual(v.Labels, { team: 'a' });
  assert.equal(v.Options, null);
  assert.match(v.CreatedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.ok(fs.statSync(v.Mountpoint).isDirectory());
  assert.ok(events.some((e) => e.Type === 'volume' && e.Action === 'create' && e.Actor.ID === 'data1'));

  const again = await request('POST', '/volumes/create', { Name: 'data1' });
  assert.equal(again.status, 201, 'creating an existing volume returns it');
  assert.deepEqual(again.json().Labels, { team: 'a' });

  const anon = (await request('POST', '/volumes/create', {})).json();
  assert.match(anon.Name, /^[0-9a-f]{64}$/);
  assert.ok('com.docker.volume.anonymous' in anon.Labels);

  const got = await request('GET', '/volumes/data1');
  assert.equal(got.status, 200);
  assert.equal(got.json().Name, 'data1');

  const list = (await request('GET', '/volumes')).json();
  assert.deepEqual(list.Warnings, []);
  assert.deepEqual(list.Volumes.map((x: { Name: string }) => x.Name).sort(), [anon.Name, 'data1'].sort());
  const byLabel = (await request('GET', `/volumes?filters=${q({ label: ['team=a'] })}`)).json();
  assert.deepEqual(byLabel.Volumes.map((x: { Name: string }) => x.Name), ['data1']);
  const byName = (await request('GET', `/volumes?filters=${q({ name: ['ata'] })}`)).json();
  assert.deepEqual(byName.Volumes.map((x: { Name: string }) => x.Name), ['data1']);
  inUse.data1 = ['c0ffee'];
  const dangling = (await request('GET', `/volumes?filters=${q({ dangling: ['true'] })}`)).json();
  assert.deepEqual(dangling.Volumes.map((x: { Name: string }) => x.Name), [anon.Name]);
  delete inUse.data1;
  assert.equal((await request('GET', `/volumes?filters=${q({ bogus: ['x'] })}`)).status, 400);
  assert.equal((await request('GET', `/volumes?filters=${q({ dangling: ['maybe'] })}`)).status, 400);
  await request('DELETE', `/volumes/${anon.Name}`);
});

test('bad input: invalid names and drivers, unknown volumes, paths cannot escape', async () => {
  for (const name of ['a', '-x', 'has/slash', '..', '../../etc']) {
    const r = await request('POST', '/volumes/create', { Name: name });
    assert.equal(r.status, 400, `${name}: ${r.text}`);
    assert.match(r.json().message, /includes invalid characters for a local volume name/);
  }
  assert.equal((await request('POST', '/volumes/create', { Name: 'xx', Driver: 'nfs-plugin' })).status, 404);
  assert.equal((await request('POST', '/volumes/create', { Name: 'xx', DriverOpts: { color: 'red' } })).status, 400);
  assert.equal((await request('POST', '/volumes/create', { Name: 'xx', DriverOpts: { type: 'tmpfs' } })).status, 400);
  const missing = await request('GET', '/volumes/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.json().message, 'get nope: no such volume');
  assert.equal((await request('DELETE', '/volumes/nope')).status, 404);
  assert.equal((await request('DELETE', '/volumes/nope?force=1')).status, 204);
  assert.equal((await request('GET', '/volumes/..%2F..%2Fetc')).status, 404);
  assert.ok(!fs.existsSync(path.join(root, 'volumes', 'xx')), 'a refused create leaves nothing');
});

test('in-use volumes are refused even with force; remove deletes the directory', async () => {
  await request('POST', '/volumes/create', { Name: 'busy' });
  inUse.busy = ['abc123', 'def456'];
  for (const force of ['', '?force=true']) {
    const r = await request('DELETE', `/volumes/busy${force}`);
    assert.equal(r.status, 409);
    assert.equal(r.json().message, 'remove busy: volume is in use - [abc123, def456]');
  }
  delete inUse.busy;
  assert.equal((await request('DELETE', '/volumes/busy')).status, 204);
  assert.ok(!fs.existsSync(path.join(root, 'volumes', 'busy')));
  assert.ok(events.some((e) => e.Type === 'volume' && e.Action === 'destroy' && e.Actor.ID === 'busy'));
});

test('prune: anonymous only by default, all=true for named, old API versions prune all', async () => {
  await request('POST', '/volumes/create', { Name: 'named1' });
  await request('POST', '/volumes/create', { Name: 'keepme', Labels: { keep: '1' } });
  const anon = (await request('POST', '/volumes/create', {})).json().Name as string;
  const anonUsed = (await request('POST', '/volumes/create', {})).json().Name as string;
  inUse[anonUsed] = ['ctr1'];
  fs.writeFileSync(path.join(root, 'volumes', anon, '_data', 'f'), Buffer.alloc(1000));
  let r = (await request('POST', '/v1.47/volumes/prune')).json();
  assert.deepEqual(r.VolumesDeleted, [anon]);
  assert.equal(r.SpaceReclaimed, 1000);
  r = (await request('POST', `/v1.47/volumes/prune?filters=${q({ all: ['true'], 'label!': ['keep'] })}`)).json();
  assert.deepEqual(r.VolumesDeleted.sort(), ['data1', 'named1']);
  r = (await request('POST', '/v1.41/volumes/prune')).json();
  assert.deepEqual(r.VolumesDeleted, ['keepme']);
  delete inUse[anonUsed];
  await request('DELETE', `/volumes/${anonUsed}`);
});

test('container side: ensure and copy-up from the image', async () => {
  const named = await svc.ensure('appdata');
  assert.equal(named.created, true);
  assert.equal((await svc.ensure('appdata')).created, false);
  const image = path.join(root, 'imgdir');
  fs.mkdirSync(path.join(image, 'sub'), { recursive: true });
  fs.writeFileSync(path.join(image, 'sub', 'conf'), 'x=1\n');
  fs.symlinkSync('/etc/passwd', path.join(image, 'link'));
  assert.equal(await svc.seedFromImage('appdata', image), true);
  assert.equal(fs.readFileSync(path.join(named.mountpoint, 'sub', 'conf'), 'utf8'), 'x=1\n');
  assert.equal(fs.readlinkSync(path.join(named.mountpoint, 'link')), '/etc/passwd', 'symlinks copied as links');
  fs.writeFileSync(path.join(image, 'sub', 'conf'), 'x=2\n');
  assert.equal(await svc.seedFromImage('appdata', image), false, 'a non-empty volume is not seeded again');
  const anon = await svc.ensure(undefined);
  assert.match(anon.name, /^[0-9a-f]{64}$/);
  const du = await svc.diskUsage();
  // as dockerd counts: the file's 4 bytes and the symlink's target length
  assert.equal(du.find((v) => v.Name === 'appdata')?.UsageData?.Size, 4 + '/etc/passwd'.length);
  await svc.remove('appdata');
  await svc.remove(anon.name);
});

test('DriverOpts: mounted at first use, unmounted on removal', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const r = await request('POST', '/volumes/create', { Name: 'scratch', DriverOpts: { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' } });
  assert.equal(r.status, 201, r.text);
  assert.deepEqual(r.json().Options, { type: 'tmpfs', device: 'tmpfs', o: 'size=1m' });
  const mp = r.json().Mountpoint as string;
  const mounted = () => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').some((l) => l.split(' ')[4] === mp);
  assert.equal(mounted(), false, 'not mounted at create, as Docker');
  await svc.ensure('scratch');
  assert.equal(mounted(), true);
  await svc.ensure('scratch');
  assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.split(' ')[4] === mp).length, 1, 'mounted once');
  assert.equal((await request('DELETE', '/volumes/scratch')).status, 204);
  assert.equal(mounted(), false);
});
