/**
 * A container's files over the Engine API on a real berthd: the archive stat header, tar entry names,
 * extraction that refuses `..` and never writes through links out of the rootfs, changes (with an opaque
 * directory), export and commit — and the berth CLI's cp, diff, export and commit.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tarStream from 'tar-stream';
import { berthCli, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

interface Res { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

function request(socket: string, method: string, p: string, body?: Buffer | object): Promise<Res> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, headers: data ? { 'Content-Length': data.length, 'Content-Type': Buffer.isBuffer(body) ? 'application/x-tar' : 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function makeTar(entries: { name: string; type?: 'file' | 'symlink' | 'directory'; linkname?: string; body?: string }[]): Promise<Buffer> {
  const pack = tarStream.pack();
  for (const e of entries) pack.entry({ name: e.name, type: e.type ?? 'file', linkname: e.linkname, mode: e.type === 'directory' ? 0o755 : 0o644 }, e.body ?? '');
  pack.finalize();
  const out: Buffer[] = [];
  for await (const c of pack) out.push(c as Buffer);
  return Buffer.concat(out);
}

async function tarNames(buf: Buffer): Promise<string[]> {
  const names: string[] = [];
  const ex = tarStream.extract();
  const feed = (async () => { ex.end(buf); })();
  for await (const e of ex) { names.push(e.header.name); e.resume(); }
  await feed;
  return names;
}

const statOf = (r: Res) => JSON.parse(Buffer.from(String(r.headers['x-docker-container-path-stat']), 'base64').toString()) as { name: string; size: number; mode: number; mtime: string; linkTarget: string };

describe('container files over the API and the berth CLI', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let berth: BoundCli;
  let tmp: string;
  let id: string;
  const api = (method: string, p: string, body?: Buffer | object) => request(daemon.socket, method, `/v1.47${p}`, body);

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-cfs-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    berth = berthCli(daemon);
    ok(await berth(['pull', 'busybox']), 'berth pull');
    const created = await api('POST', '/containers/create?name=fsapi', {
      Image: 'busybox', Cmd: ['sh', '-c', 'ln -s / /tmp/root; ln -s /etc /tmp/etc; rm -rf /home; mkdir /home; echo n > /home/new; touch /tmp/x'],
    });
    assert.equal(created.status, 201, created.body.toString());
    id = JSON.parse(created.body.toString()).Id;
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
    await api('POST', `/containers/${id}/wait`);
  });

  after(async () => {
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('HEAD /archive: the stat header of a dir, a file, a symlink; 404 in dockerd words', async () => {
    const dir = await api('HEAD', `/containers/${id}/archive?path=/etc`);
    assert.equal(dir.status, 200);
    const d = statOf(dir);
    assert.equal(d.name, 'etc');
    assert.ok(d.mode >= 2 ** 31, 'dir bit');
    assert.equal(d.mode % 512, 0o755);
    assert.match(d.mtime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/);
    const link = statOf(await api('HEAD', `/containers/${id}/archive?path=/tmp/etc`));
    assert.equal(Math.floor(link.mode / 2 ** 27) % 2, 1, 'symlink bit');
    assert.equal(link.linkTarget, '/etc');
    const up = statOf(await api('HEAD', `/containers/${id}/archive?path=/tmp/root`));
    assert.equal(up.linkTarget, '/');
    const missing = await api('GET', `/containers/${id}/archive?path=/nope`);
    assert.equal(missing.status, 404);
    assert.equal(JSON.parse(missing.body.toString()).message, `Could not find the file /nope in container ${id}`);
    assert.equal((await api('HEAD', `/containers/${id}/archive?path=/nope`)).status, 404);
  });

  test('GET /archive names entries from the base name; `/.` gives ./ entries; links are resolved in the rootfs', async () => {
    const passwd = await api('GET', `/containers/${id}/archive?path=/tmp/etc/passwd`);
    assert.equal(passwd.status, 200);
    assert.deepEqual(await tarNames(passwd.body), ['passwd']);
    const dot = await tarNames((await api('GET', `/containers/${id}/archive?path=/etc/.`)).body);
    assert.ok(dot.includes('./') && dot.includes('./passwd'), dot.join(' '));
    const through = await tarNames((await api('GET', `/containers/${id}/archive?path=/tmp/root/etc/group`)).body);
    assert.deepEqual(through, ['group']);
    // /tmp/root -> / must not reach the host: a file that only exists on the host is not found
    const hostOnly = path.join(tmp, 'host-only');
    fs.writeFileSync(hostOnly, 'x');
    assert.equal((await api('GET', `/containers/${id}/archive?path=/tmp/root${hostOnly}`)).status, 404);
  });

  test('PUT /archive: files land in the container; `..` is refused; links in the tar or the rootfs never lead out', async () => {
    const marker = `berth-escape-${process.pid}`;
    const good = await api('PUT', `/containers/${id}/archive?path=/tmp`, await makeTar([{ name: 'put/a.txt', body: 'A' }]));
    assert.equal(good.status, 200, good.body.toString());
    const back = await api('GET', `/containers/${id}/archive?path=/tmp/put/a.txt`);
    assert.equal(back.status, 200);

    const climb = await api('PUT', `/containers/${id}/archive?path=/tmp`, await makeTar([{ name: `../../../../../../tmp/${marker}`, body: 'x' }]));
    assert.equal(climb.status, 400, climb.body.toString());
    assert.ok(!fs.existsSync(`/tmp/${marker}`));

    const viaLink = await api('PUT', `/containers/${id}/archive?path=/tmp`, await makeTar([
      { name: 'evil', type: 'symlink', linkname: '/' },
      { name: `evil/tmp/${marker}`, body: 'inside' },
    ]));
    assert.equal(viaLink.status, 200, viaLink.body.toString());
    assert.ok(!fs.existsSync(`/tmp/${marker}`), 'nothing was written on the host');
    assert.equal((await api('GET', `/containers/${id}/archive?path=/tmp/${marker}`)).status, 200, 'it landed in the container');

    const intoRootLink = await api('PUT', `/containers/${id}/archive?path=/tmp/root/tmp`, await makeTar([{ name: `${marker}-2`, body: 'x' }]));
    assert.equal(intoRootLink.status, 200);
    assert.ok(!fs.existsSync(`/tmp/${marker}-2`));

    const notDir = await api('PUT', `/containers/${id}/archive?path=/etc/passwd`, await makeTar([{ name: 'x', body: 'x' }]));
    assert.equal(notDir.status, 400);
    const noOverwrite = await api('PUT', `/containers/${id}/archive?path=/&noOverwriteDirNonDir=1`, await makeTar([{ name: 'etc', body: 'x' }]));
    assert.equal(noOverwrite.status, 400);
    assert.match(JSON.parse(noOverwrite.body.toString()).message, /cannot overwrite directory "\/etc" with non-directory "etc"/);
  });

  test('GET /changes: kinds 0/1/2, an opaque dir is deleted and its content added (dockerd overlay2)', async () => {
    const r = await api('GET', `/containers/${id}/changes`);
    assert.equal(r.status, 200);
    const changes = JSON.parse(r.body.toString()) as { Path: string; Kind: number }[];
    const kind = (p: string) => changes.find((c) => c.Path === p)?.Kind;
    assert.equal(kind('/tmp/x'), 1);
    assert.equal(kind('/tmp'), 0);
    assert.equal(kind('/home'), 2, JSON.stringify(changes));
    assert.equal(kind('/home/new'), 1);
  });

  test('GET /export is the merged rootfs with relative names; nothing stays mounted', async () => {
    const r = await api('GET', `/containers/${id}/export`);
    assert.equal(r.status, 200);
    const names = await tarNames(r.body);
    assert.ok(names.includes('bin/busybox') && names.includes('home/new') && names.includes('tmp/put/a.txt'));
    assert.ok(names.every((n) => !n.startsWith('/')));
    const mounted = fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(daemon.dataRoot);
    assert.equal(mounted, false);
  });

  test('POST /commit with a body config and changes; the image has the container layer and a parent', async () => {
    const r = await api('POST', `/commit?container=${id}&repo=fsapi-img&tag=t1&comment=hello&author=me&changes=${encodeURIComponent('ENV A=1')}`, { Labels: { x: 'y' } });
    assert.equal(r.status, 201, r.body.toString());
    const { Id } = JSON.parse(r.body.toString());
    const img = JSON.parse((await api('GET', '/images/fsapi-img:t1/json')).body.toString());
    assert.equal(img.Id, Id);
    assert.equal(img.Comment, 'hello');
    assert.equal(img.Author, 'me');
    assert.ok(img.Config.Env.includes('A=1'));
    assert.equal(img.Config.Labels.x, 'y');
    const base = JSON.parse((await api('GET', '/images/busybox/json')).body.toString());
    assert.equal(img.RootFS.Layers.length, base.RootFS.Layers.length + 1);
    const events = await api('GET', `/events?since=0&until=${Math.ceil(Date.now() / 1000) + 1}&filters=${encodeURIComponent(JSON.stringify({ container: [id] }))}`);
    const actions = events.body.toString().split('\n').filter(Boolean).map((l) => JSON.parse(l).Action as string);
    for (const a of ['archive-path', 'extract-to-dir', 'export', 'commit']) assert.ok(actions.includes(a), `${a} in ${actions.join(',')}`);
  });

  test('berth cp, diff, export, commit', async () => {
    const src = path.join(tmp, 'from-host.txt');
    fs.writeFileSync(src, 'hi from berth\n');
    ok(await berth(['cp', src, 'fsapi:/tmp/']), 'berth cp to');
    const dir = path.join(tmp, 'd');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'f'), 'F');
    ok(await berth(['cp', dir, 'fsapi:/newdir']), 'berth cp dir to new');
    ok(await berth(['cp', 'fsapi:/tmp/from-host.txt', path.join(tmp, 'back.txt')]), 'berth cp from');
    assert.equal(fs.readFileSync(path.join(tmp, 'back.txt'), 'utf8'), 'hi from berth\n');
    ok(await berth(['cp', 'fsapi:/newdir', path.join(tmp, 'newdir-back')]));
    assert.equal(fs.readFileSync(path.join(tmp, 'newdir-back', 'f'), 'utf8'), 'F');
    ok(await berth(['cp', 'fsapi:/etc/.', path.join(tmp, 'etc-copy')]));
    assert.ok(fs.existsSync(path.join(tmp, 'etc-copy', 'passwd')));
    ok(await berth(['cp', '-L', 'fsapi:/tmp/etc', path.join(tmp, 'etc-follow')]));
    assert.ok(fs.statSync(path.join(tmp, 'etc-follow')).isDirectory());
    ok(await berth(['cp', '-', 'fsapi:/tmp'], { input: await makeTar([{ name: 'from-stdin.txt', body: 'stdin' }]) }), 'berth cp - to');
    const streamed = await berth(['cp', 'fsapi:/tmp/from-stdin.txt', '-']);
    assert.equal(streamed.code, 0);
    assert.ok(streamed.stdout.startsWith('from-stdin.txt\0') && streamed.stdout.includes('stdin'), 'a tar on stdout');
    const nope = await berth(['cp', 'fsapi:/nope', tmp]);
    assert.notEqual(nope.code, 0);
    assert.match(nope.stderr, /Could not find the file \/nope in container fsapi/);

    const diff = ok(await berth(['diff', 'fsapi'])).split('\n');
    assert.ok(diff.includes('A /tmp/from-host.txt') && diff.includes('A /newdir'), diff.join('\n'));

    const out = path.join(tmp, 'x.tar');
    ok(await berth(['export', '-o', out, 'fsapi']));
    assert.ok(execFileSync('tar', ['-tf', out], { encoding: 'utf8' }).split('\n').includes('newdir/f'));

    const imageId = ok(await berth(['commit', '-m', 'via berth', '-c', 'CMD ["cat","/newdir/f"]', 'fsapi', 'fsapi-img:berth'])).trim();
    assert.match(imageId, /^sha256:/);
    assert.equal(ok(await berth(['run', '--rm', 'fsapi-img:berth'])), 'F');
  });
});
