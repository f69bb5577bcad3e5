/**
 * The real docker CLI (and berth's own) against berthd for sharing images: login/logout with an htpasswd
 * registry (credentials land in DOCKER_CONFIG), push (uploads, "Layer already exists", a cross-repository
 * mount), search through the registry's catalog, distribution inspect, and a round trip: rmi, then pull
 * back the pushed image with the same ID.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { berthCli, dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { registryDigest, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

function apiGet(socket: string, p: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ socketPath: socket, path: p, headers }, (res) => {
      let body = '';
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
  });
}

describe('docker CLI push, login, search against berthd', { skip, timeout: 300_000 }, () => {
  let mirror: Registry;
  let secure: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let berth: BoundCli;
  const user = { user: 'shipper', password: 'pa55-word' };

  before(async () => {
    mirror = await startRegistry();
    await seedImages(mirror, ['busybox']);
    secure = await startRegistry({ auth: user });
    daemon = await startBerthd({ registryMirror: mirror.url, insecureRegistries: [mirror.host] });
    docker = dockerCli(daemon);
    berth = berthCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  });

  after(async () => {
    await daemon?.stop();
    await mirror?.stop();
    await secure?.stop();
  });

  test('push without login fails with the registry\'s reason', async () => {
    ok(await docker(['tag', 'busybox', `${secure.host}/team/busybox:1`]), 'docker tag');
    const r = await docker(['push', `${secure.host}/team/busybox:1`]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`The push refers to repository \\[${secure.host}/team/busybox\\]`));
    assert.match(r.stderr, /no basic auth credentials/);
  });

  test('login: a wrong password is refused, the right one is stored in config.json', async () => {
    const bad = await docker(['login', secure.host, '-u', user.user, '--password-stdin'], { input: 'wrong\n' });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /401 Unauthorized/);
    const good = await docker(['login', secure.host, '-u', user.user, '--password-stdin'], { input: `${user.password}\n` });
    assert.equal(good.code, 0, good.stderr);
    assert.match(good.stdout, /Login Succeeded/);
    const config = JSON.parse(fs.readFileSync(path.join(daemon.env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.equal(config.auths[secure.host].auth, Buffer.from(`${user.user}:${user.password}`).toString('base64'));
  });

  test('push uploads, then finds layers already there, then mounts into a sibling repository', async () => {
    const first = ok(await docker(['push', `${secure.host}/team/busybox:1`]), 'docker push');
    assert.match(first, /: Pushed/);
    const digest = /1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(first)?.[1];
    assert.ok(digest, first);
    assert.equal(await registryDigest(secure, 'team/busybox', '1'), digest);

    const again = ok(await docker(['push', `${secure.host}/team/busybox:1`]), 'docker push again');
    assert.match(again, /: Layer already exists/);
    assert.doesNotMatch(again, /: Pushed/);

    ok(await docker(['tag', 'busybox', `${secure.host}/team/other:2`]), 'docker tag');
    const mounted = ok(await docker(['push', `${secure.host}/team/other:2`]), 'docker push other');
    assert.match(mounted, /: Mounted from team\/busybox/);

    const inspect = JSON.parse(ok(await docker(['image', 'inspect', `${secure.host}/team/busybox:1`])))[0];
    assert.ok(inspect.RepoDigests.includes(`${secure.host}/team/busybox@${digest}`), inspect.RepoDigests.join(' '));
  });

  test('search lists the registry\'s repositories; distribution inspect names the pushed manifest', async () => {
    const out = ok(await docker(['search', `${secure.host}/team`]), 'docker search');
    const rows = out.trim().split('\n');
    assert.match(rows[0], /^NAME\s+DESCRIPTION\s+STARS\s+OFFICIAL/);
    assert.ok(rows.some((r) => r.startsWith(`${secure.host}/team/busybox `)), out);
    const formatted = ok(await docker(['search', '--format', '{{.Name}}', `${secure.host}/other`]), 'docker search --format');
    assert.equal(formatted.trim(), `${secure.host}/team/other`);

    const auth = Buffer.from(JSON.stringify({ username: user.user, password: user.password })).toString('base64url');
    const res = await apiGet(daemon.socket, `/v1.47/distribution/${secure.host}/team/busybox:1/json`, { 'X-Registry-Auth': auth });
    assert.equal(res.status, 200, res.body);
    const body = JSON.parse(res.body);
    assert.equal(body.Descriptor.digest, await registryDigest(secure, 'team/busybox', '1'));
    assert.equal(body.Platforms.length, 1);
  });

  test('rmi, then pull the pushed image back: same ID', async () => {
    const id = ok(await docker(['image', 'inspect', '--format', '{{.Id}}', `${secure.host}/team/busybox:1`])).trim();
    ok(await docker(['rmi', `${secure.host}/team/busybox:1`, `${secure.host}/team/other:2`, 'busybox']), 'docker rmi');
    ok(await docker(['pull', `${secure.host}/team/busybox:1`]), 'docker pull back');
    assert.equal(ok(await docker(['image', 'inspect', '--format', '{{.Id}}', `${secure.host}/team/busybox:1`])).trim(), id);
  });

  test('berth login, push -q, search, logout', async () => {
    const login = await berth(['login', secure.host, '-u', user.user, '--password-stdin'], { input: user.password });
    assert.equal(login.code, 0, login.stderr);
    assert.match(login.stdout, /Login Succeeded/);
    ok(await berth(['tag', `${secure.host}/team/busybox:1`, `${secure.host}/berth/app:7`]), 'berth tag');
    const pushed = ok(await berth(['push', '-q', `${secure.host}/berth/app:7`]), 'berth push -q');
    assert.equal(pushed.trim(), `${secure.host}/berth/app:7`);
    const found = ok(await berth(['search', '--format', '{{.Name}}', `${secure.host}/berth`]), 'berth search');
    assert.equal(found.trim(), `${secure.host}/berth/app`);
    const out = ok(await docker(['logout', secure.host]), 'docker logout');
    assert.match(out, new RegExp(`Removing login credentials for ${secure.host}`));
    const config = JSON.parse(fs.readFileSync(path.join(daemon.env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.equal(config.auths?.[secure.host], undefined);
    const denied = await berth(['push', `${secure.host}/berth/app:7`]);
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /no basic auth credentials/);
  });
});
