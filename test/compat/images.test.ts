/**
 * The real docker CLI (v28) against berthd for image commands: pull through a registry mirror and by
 * registry host, list, inspect, history, tag, save/load, prune, system df, info, version — and a berthd
 * killed with SIGKILL in the middle of a pull, which must leave nothing half-made behind.
 * Every image comes from a private docker-registry on loopback seeded with the offline fixtures.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { dockerCli, DOCKER_CLI, ok, run, type BoundCli, type RunResult } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { fixtureDigest, pushLayout, registryDigest, seedImages, startRegistry, type Registry } from '../helpers/registry';
import { startThrottleProxy } from '../helpers/throttle-proxy';
import { CRASH_TEST_IMAGE, makeGeneratedImage } from '../../scripts/fixtures/generated';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

interface InspectedImage {
  Id: string;
  RepoTags: string[];
  RepoDigests: string[];
  Architecture: string;
  Os: string;
  Config: { Cmd: string[]; Env: string[] };
  RootFS: { Type: string; Layers: string[] };
}

async function inspect(docker: BoundCli, ref: string): Promise<InspectedImage> {
  const out = ok(await docker(['image', 'inspect', ref]), `docker image inspect ${ref}`);
  const list = JSON.parse(out) as InspectedImage[];
  assert.equal(list.length, 1);
  return list[0];
}

async function imageRows(docker: BoundCli): Promise<string[]> {
  const out = ok(await docker(['images', '--format', '{{.Repository}}:{{.Tag}} {{.ID}}']), 'docker images');
  return out.split('\n').filter(Boolean).sort();
}

describe('docker CLI image commands against berthd', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let digests: Record<string, string>;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compat-images-'));
    reg = await startRegistry();
    digests = await seedImages(reg);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
  });

  after(async () => {
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('the seeded registry serves the fixture digests, busybox for amd64 and arm64', async () => {
    assert.equal(digests.busybox, fixtureDigest('busybox'));
    assert.equal(await registryDigest(reg, 'library/busybox'), digests.busybox);
    assert.equal(await registryDigest(reg, 'library/hello-world'), digests['hello-world']);
    const res = await fetch(`${reg.url}/v2/library/busybox/manifests/latest`, { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } });
    const index = (await res.json()) as { manifests: { platform: { architecture: string } }[] };
    assert.deepEqual(index.manifests.map((m) => m.platform.architecture).sort(), ['amd64', 'arm64']);
  });

  test('docker version shows the berth server', async () => {
    const out = ok(await docker(['version']), 'docker version');
    assert.match(out, /^Server:/m);
    assert.match(out, /berth/i);
    const server = JSON.parse(ok(await docker(['version', '--format', '{{json .Server}}']))) as { ApiVersion: string; Os: string };
    assert.equal(server.ApiVersion, '1.47');
    assert.equal(server.Os, 'linux');
  });

  test('docker pull busybox goes through the registry mirror and prints the index digest', async () => {
    const r = await docker(['pull', 'busybox']);
    ok(r, 'docker pull busybox');
    assert.match(r.stdout, /Pull complete/);
    assert.ok(r.stdout.includes(`Digest: ${digests.busybox}`), r.stdout);
    assert.match(r.stdout, /Status: Downloaded newer image for busybox:latest/);
    assert.match(r.stdout, /docker\.io\/library\/busybox:latest\s*$/);
  });

  test('docker pull by registry host prints the same digest; a second pull is up to date', async () => {
    const ref = `${reg.host}/library/busybox`;
    const r = await docker(['pull', ref]);
    ok(r, `docker pull ${ref}`);
    assert.ok(r.stdout.includes(`Digest: ${digests.busybox}`), r.stdout);
    const again = await docker(['pull', ref]);
    ok(again);
    assert.match(again.stdout, /Image is up to date/);
  });

  test('docker pull hello-world (a single manifest, no index)', async () => {
    const r = await docker(['pull', 'hello-world']);
    ok(r, 'docker pull hello-world');
    assert.ok(r.stdout.includes(`Digest: ${digests['hello-world']}`), r.stdout);
  });

  test('docker images lists the pulled images; both busybox names share one ID', async () => {
    const rows = await imageRows(docker);
    const id = (name: string) => rows.find((r) => r.startsWith(name + ' '))?.split(' ')[1];
    assert.ok(id('busybox:latest'), rows.join('\n'));
    assert.equal(id(`${reg.host}/library/busybox:latest`), id('busybox:latest'));
    assert.ok(id('hello-world:latest'));
    const table = ok(await docker(['images']));
    assert.match(table.split('\n')[0], /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE/);
  });

  test('docker image inspect shows amd64, the config and RepoDigests', async () => {
    const img = await inspect(docker, 'busybox');
    assert.equal(img.Architecture, 'amd64');
    assert.equal(img.Os, 'linux');
    assert.deepEqual(img.Config.Cmd, ['sh']);
    assert.ok(img.Config.Env.some((e) => e.startsWith('PATH=')));
    assert.equal(img.RootFS.Layers.length, 2);
    assert.ok(img.RepoDigests.includes(`busybox@${digests.busybox}`), JSON.stringify(img.RepoDigests));
    assert.ok(img.RepoDigests.includes(`${reg.host}/library/busybox@${digests.busybox}`), JSON.stringify(img.RepoDigests));
    assert.match(img.Id, /^sha256:[0-9a-f]{64}$/);
  });

  test('docker history lists one row per layer, newest first', async () => {
    const out = ok(await docker(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'busybox']), 'docker history');
    const rows = out.split('\n').filter(Boolean);
    assert.equal(rows.length, 2);
    assert.match(rows[0], /busybox --install/);
    assert.match(rows[1], /ADD busybox-static/);
    assert.match(ok(await docker(['history', 'busybox'])).split('\n')[0], /^IMAGE\s+CREATED\s+CREATED BY\s+SIZE\s+COMMENT/);
  });

  test('docker tag adds a name to the same image', async () => {
    ok(await docker(['tag', 'busybox', 'mybox:v1']), 'docker tag');
    assert.equal((await inspect(docker, 'mybox:v1')).Id, (await inspect(docker, 'busybox')).Id);
    const bad = await docker(['tag', 'no-such-image', 'x:y']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /No such image/i);
  });

  test('docker save | docker load after docker rmi restores the same image ID', async () => {
    const id = (await inspect(docker, 'busybox')).Id;
    const piped = await run('bash', ['-c', `set -o pipefail; ${DOCKER_CLI} save busybox | ${DOCKER_CLI} load`], { env: daemon.env });
    assert.match(ok(piped, 'docker save | docker load'), /Loaded image: busybox:latest/);
    assert.equal((await inspect(docker, 'busybox')).Id, id);

    const file = path.join(tmp, 'busybox.tar');
    ok(await docker(['save', '-o', file, 'busybox', 'mybox:v1']), 'docker save -o');
    ok(await docker(['rmi', 'busybox', 'mybox:v1', `${reg.host}/library/busybox`]), 'docker rmi');
    const gone = await docker(['image', 'inspect', 'busybox']);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /No such image/i);
    const loaded = ok(await docker(['load', '-i', file]), 'docker load -i');
    assert.match(loaded, /Loaded image: busybox:latest/);
    assert.match(loaded, /Loaded image: mybox:v1/);
    assert.equal((await inspect(docker, 'busybox')).Id, id);
    assert.equal((await inspect(docker, 'mybox:v1')).Id, id);
    ok(await docker(['rmi', 'mybox:v1']), 'docker rmi mybox:v1');
  });

  test('docker system df and docker info describe the images', async () => {
    const df = ok(await docker(['system', 'df']), 'docker system df');
    assert.match(df, /^TYPE\s+TOTAL\s+ACTIVE\s+SIZE\s+RECLAIMABLE/m);
    assert.match(df, /^Images\s+2\s+0\s+/m);
    const info = JSON.parse(ok(await docker(['info', '--format', '{{json .}}']), 'docker info')) as Record<string, unknown>;
    assert.equal(info.OSType, 'linux');
    assert.equal(info.Images, 2);
    assert.equal(typeof info.ServerVersion, 'string');
    assert.ok(info.NCPU && Number(info.NCPU) > 0);
    assert.match(ok(await docker(['info'])), /Server Version:/);
  });

  test('docker image prune -a -f removes every unused image', async () => {
    const out = ok(await docker(['image', 'prune', '-a', '-f']), 'docker image prune');
    assert.match(out, /Total reclaimed space/);
    assert.deepEqual(await imageRows(docker), []);
    const overlay = path.join(daemon.dataRoot, 'overlay');
    const left = fs.existsSync(overlay) ? fs.readdirSync(overlay).filter((n) => n !== 'l') : [];
    assert.deepEqual(left, [], 'layer dirs left after prune');
  });
});

function filesBelow(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  return (fs.readdirSync(dir, { recursive: true, withFileTypes: true }) as fs.Dirent[])
    .filter((e) => !e.isDirectory())
    .map((e) => path.join(e.parentPath ?? e.path, e.name));
}

describe('berthd killed with SIGKILL during a pull', { skip, timeout: 300_000 }, () => {
  test('leaves no partial image, temp file, blob or layer dir; the pull then succeeds', async () => {
    const layout = await makeGeneratedImage(CRASH_TEST_IMAGE.name, CRASH_TEST_IMAGE.layers);
    const reg = await startRegistry();
    // 25 MB/s: the ~100 MB pull takes ~4 s, long enough to be killed in the middle
    const proxy = await startThrottleProxy(reg.port, 25e6);
    const daemon = await startBerthd({ insecureRegistries: [proxy.host, reg.host] });
    try {
      await pushLayout(reg, layout, 'test/big');
      const docker = dockerCli(daemon);
      const ref = `${proxy.host}/test/big:latest`;
      let finished: RunResult | undefined;
      const pulling = docker(['pull', ref]).then((r) => (finished = r));
      const deadline = Date.now() + 60_000;
      while (!finished && proxy.bytes() < 40e6 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(!finished && proxy.bytes() >= 40e6, `pull did not get going: ${proxy.bytes()} bytes\n${JSON.stringify(finished)}\n${daemon.logs()}`);
      await daemon.kill9();
      const interrupted = await pulling;
      assert.notEqual(interrupted.code, 0, 'the pull cannot have finished');

      // the kill must have hit a pull with state on disk, or the checks below would prove nothing
      const inFlight = filesBelow(path.join(daemon.dataRoot, 'tmp')).length + filesBelow(path.join(daemon.dataRoot, 'content')).length;
      assert.ok(inFlight > 0, 'nothing on disk at the moment of the kill');

      await daemon.restart();
      assert.deepEqual(await imageRows(docker), [], 'no image may appear from an interrupted pull');
      assert.deepEqual(filesBelow(path.join(daemon.dataRoot, 'tmp')), []);
      for (const blob of filesBelow(path.join(daemon.dataRoot, 'content', 'sha256'))) {
        const hex = createHash('sha256').update(fs.readFileSync(blob)).digest('hex');
        assert.equal(hex, path.basename(blob), `blob ${blob} does not match its name`);
      }
      const db = new Database(path.join(daemon.dataRoot, 'berth.db'), { readonly: true, fileMustExist: true });
      const cacheIds = new Set((db.prepare('SELECT cache_id FROM layers').all() as { cache_id: string }[]).map((r) => r.cache_id));
      db.close();
      const overlay = path.join(daemon.dataRoot, 'overlay');
      const dirs = fs.existsSync(overlay) ? fs.readdirSync(overlay).filter((n) => n !== 'l') : [];
      assert.deepEqual(dirs.filter((d) => !cacheIds.has(d)), [], 'unregistered layer dirs');

      const r = await docker(['pull', ref], { timeoutMs: 120_000 });
      ok(r, 'docker pull after restart');
      assert.match(r.stdout, /Status: Downloaded newer image/);
      const img = await inspect(docker, ref);
      assert.equal(img.RootFS.Layers.length, CRASH_TEST_IMAGE.layers.length);
    } finally {
      await daemon.stop();
      await proxy.stop();
      await reg.stop();
    }
  });
});
