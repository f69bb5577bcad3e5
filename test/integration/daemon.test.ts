import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as http from 'node:http';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';

const BERTHD = path.resolve(__dirname, '../../../bin/berthd');

interface Reply { status: number; headers: http.IncomingHttpHeaders; body: string }

function request(socketPath: string, method: string, p: string, body?: string): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path: p, headers: body ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: data }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function waitForPing(socketPath: string, child: ChildProcess, stderr: () => string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if (child.exitCode !== null) throw new Error(`berthd exited early: ${stderr()}`);
    try {
      if ((await request(socketPath, 'GET', '/_ping')).status === 200) return;
    } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`berthd did not answer /_ping: ${stderr()}`);
}

let dir: string;
let sock: string;
let child: ChildProcess;
let errText = '';

before(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'berth-daemon-'));
  sock = path.join(dir, 'berth.sock');
  child = spawn(process.execPath, [BERTHD, '-H', `unix://${sock}`, '--data-root', path.join(dir, 'data'), '--exec-root', path.join(dir, 'exec'),
    '--registry-mirror', 'http://127.0.0.1:1', '--insecure-registry', '127.0.0.1:1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  child.stderr!.on('data', (c) => (errText += c));
  await waitForPing(sock, child, () => errText);
});

after(async () => {
  if (child.exitCode === null) {
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
  }
  await rm(dir, { recursive: true, force: true });
});

test('_ping answers GET and HEAD with the headers clients read', async () => {
  for (const method of ['GET', 'HEAD']) {
    const r = await request(sock, method, '/_ping');
    assert.equal(r.status, 200);
    assert.equal(r.headers['api-version'], '1.47');
    assert.equal(r.headers['ostype'], 'linux');
    assert.match(String(r.headers['server']), /^berth\//);
    assert.equal(r.body, method === 'GET' ? 'OK' : '');
  }
});

test('/version and /info report real figures', async () => {
  const v = JSON.parse((await request(sock, 'GET', '/v1.47/version')).body);
  assert.equal(v.ApiVersion, '1.47');
  assert.equal(v.MinAPIVersion, '1.24');
  assert.equal(v.Os, 'linux');
  assert.equal(v.KernelVersion, os.release());
  const info = JSON.parse((await request(sock, 'GET', '/info')).body);
  assert.equal(info.Driver, 'overlay2');
  assert.equal(info.NCPU, os.availableParallelism());
  assert.equal(info.MemTotal, os.totalmem());
  assert.equal(info.Images, 0);
  assert.equal(info.DockerRootDir, path.join(dir, 'data'));
  assert.deepEqual(info.RegistryConfig.Mirrors, ['http://127.0.0.1:1/']);
  assert.equal(info.RegistryConfig.IndexConfigs['127.0.0.1:1'].Secure, false);
  assert.ok(['1', '2'].includes(info.CgroupVersion));
});

test('unknown paths are 404 JSON, old API versions 400, bad filters 400; the daemon keeps serving', async () => {
  const nf = await request(sock, 'GET', '/nothing/here');
  assert.equal(nf.status, 404);
  assert.ok(JSON.parse(nf.body).message);
  const old = await request(sock, 'GET', '/v1.12/version');
  assert.equal(old.status, 400);
  assert.match(JSON.parse(old.body).message, /too old/);
  const bad = await request(sock, 'GET', '/events?filters=%7Bnope');
  assert.equal(bad.status, 400);
  const badKey = await request(sock, 'GET', '/events?filters=' + encodeURIComponent('{"colour":["red"]}'));
  assert.equal(badKey.status, 400);
  assert.match(JSON.parse(badKey.body).message, /invalid filter 'colour'/);
  assert.equal((await request(sock, 'GET', '/_ping')).status, 200);
});

test('/events replays stored events between since and until', async () => {
  const until = (Date.now() / 1000).toFixed(9);
  const r = await request(sock, 'GET', `/events?since=0&until=${until}&filters=${encodeURIComponent('{"type":["daemon"]}')}`);
  assert.equal(r.status, 200);
  const lines = r.body.trim().split('\n').map((l) => JSON.parse(l));
  assert.ok(lines.some((e) => e.Type === 'daemon' && e.Action === 'start'), r.body);
});

test('a second daemon on the same socket is refused', async () => {
  const second = spawn(process.execPath, [BERTHD, '-H', `unix://${sock}`, '--data-root', path.join(dir, 'data2'), '--exec-root', path.join(dir, 'exec2')], { stdio: ['ignore', 'ignore', 'pipe'] });
  let text = '';
  second.stderr!.on('data', (c) => (text += c));
  const code = await new Promise((r) => second.once('exit', r));
  assert.notEqual(code, 0);
  assert.match(text, /already listening/);
  assert.equal((await request(sock, 'GET', '/_ping')).status, 200);
});

test('bad flags and a malformed config file stop berthd with a message', async () => {
  const cfg = path.join(dir, 'bad.json');
  await writeFile(cfg, '{"log-level": ');
  for (const args of [['--bogus'], ['--config-file', cfg]]) {
    const p = spawn(process.execPath, [BERTHD, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let text = '';
    p.stderr!.on('data', (c) => (text += c));
    const code = await new Promise((r) => p.once('exit', r));
    assert.equal(code, 1);
    assert.match(text, /^berthd: /);
  }
});

test('bad input gets a clear 4xx and changes nothing: malformed JSON, invalid references, unknown images', async () => {
  const malformed = await request(sock, 'POST', '/containers/create', '{"Image": "busybox", ');
  assert.equal(malformed.status, 400);
  assert.match(JSON.parse(malformed.body).message, /invalid JSON/i);
  const wrongType = await request(sock, 'POST', '/containers/create', '[1,2]');
  assert.ok(wrongType.status >= 400 && wrongType.status < 500, wrongType.body);
  const badRef = await request(sock, 'POST', '/images/create?fromImage=' + encodeURIComponent('Not/Valid:Ref!'));
  assert.equal(badRef.status, 400);
  assert.match(JSON.parse(badRef.body).message, /invalid reference format/);
  const unknown = await request(sock, 'GET', '/images/nosuchimage/json');
  assert.equal(unknown.status, 404);
  assert.equal(JSON.parse(unknown.body).message, 'No such image: nosuchimage:latest');
  const badTag = await request(sock, 'POST', '/images/nosuchimage/tag?repo=UPPER');
  assert.ok([400, 404].includes(badTag.status), badTag.body);
  const list = JSON.parse((await request(sock, 'GET', '/containers/json?all=1')).body);
  assert.deepEqual(list, []);
  assert.deepEqual(JSON.parse((await request(sock, 'GET', '/images/json')).body), []);
  assert.equal((await request(sock, 'GET', '/_ping')).status, 200);
});
