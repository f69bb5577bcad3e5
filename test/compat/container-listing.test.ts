/**
 * The real docker CLI (v28) against berthd for what `ps` and `system df` show about containers: sizes
 * (`ps -s`, `inspect -s`, `system df`), the Mounts / Networks / LocalVolumes columns, image sizes counted
 * as dockerd counts them, and `-e NAME` for a variable the client does not have. Expected values were taken
 * from dockerd 20.10 running the same commands.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createGunzip } from 'node:zlib';
import { Readable } from 'node:stream';
import { TarReader } from '../../src/image/tar-reader';
import { dockerCli, DOCKER_CLI, ok, run, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

/** Regular files' sizes plus symlink target lengths over an image's layer tars, from `docker save`. */
async function layerBytes(saved: string): Promise<number> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-listing-save-'));
  try {
    ok(await run('tar', ['-xf', saved, '-C', dir], { env: process.env }), 'untar the saved image');
    const index = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as { Layers: string[] }[];
    let total = 0;
    for (const layer of index[0].Layers) {
      const file = path.join(dir, layer);
      const gz = fs.readFileSync(file).subarray(0, 2).equals(Buffer.from([0x1f, 0x8b]));
      const stream = gz ? fs.createReadStream(file).pipe(createGunzip()) : fs.createReadStream(file);
      const reader = new TarReader(Readable.from(stream));
      for (let h = await reader.next(); h; h = await reader.next()) {
        if (h.type === 'file') total += h.size;
        else if (h.type === 'symlink') total += Buffer.byteLength(h.linkname);
      }
    }
    return total;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('docker CLI: container sizes and listing columns against berthd', { skip, timeout: 300_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;
  let docker: BoundCli;
  let bindDir: string;

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
    bindDir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-listing-bind-long-name-'));
  });

  after(async () => {
    await docker(['rm', '-f', '-v', 'ls-sized', 'ls-env']).catch(() => undefined);
    await docker(['volume', 'rm', 'listing-volume-with-a-long-name']).catch(() => undefined);
    await bed?.stop();
    fs.rmSync(bindDir, { recursive: true, force: true });
  });

  test('an image is as big as its files plus its symlinks\' targets, as dockerd counts', async () => {
    const saved = path.join(daemon.dir, 'busybox.tar');
    ok(await docker(['save', '-o', saved, 'busybox']), 'docker save');
    const expected = await layerBytes(saved);
    assert.ok(expected > 1_000_000, `busybox layers hold ${expected} bytes`);
    assert.equal(Number(ok(await docker(['image', 'inspect', '-f', '{{.Size}}', 'busybox'])).trim()), expected);
  });

  test('ps -s, inspect -s and system df report what the container wrote, over its image', async () => {
    const imageSize = Number(ok(await docker(['image', 'inspect', '-f', '{{.Size}}', 'busybox'])).trim());
    ok(await docker(['volume', 'create', 'listing-volume-with-a-long-name']));
    ok(await docker(['run', '-d', '--name', 'ls-sized', '--network', 'none',
      '-v', 'listing-volume-with-a-long-name:/data', '-v', `${bindDir}:/b`, '-v', '/anon',
      'busybox', 'sh', '-c', 'head -c 3000 /dev/zero > /f; ln -s /etc/passwd /l; touch /ready; sleep 300']));
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline && (await docker(['exec', 'ls-sized', 'test', '-e', '/ready'])).code !== 0) await new Promise((r) => setTimeout(r, 100));

    // upper dir: /f (3000), the /l symlink (11), /ready (0)
    const rw = 3000 + '/etc/passwd'.length;
    assert.equal(ok(await docker(['inspect', '-s', '-f', '{{.SizeRw}} {{.SizeRootFs}}', 'ls-sized'])).trim(), `${rw} ${imageSize + rw}`);
    const table = ok(await docker(['ps', '-s'])).split('\n');
    assert.match(table[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES\s+SIZE$/);
    const virtual = (imageSize + rw) / 1e6;
    assert.match(table[1], new RegExp(`ls-sized\\s+3.01kB \\(virtual ${virtual.toFixed(virtual < 10 ? 2 : 1)}MB\\)$`));
    assert.equal(ok(await docker(['ps', '--format', '{{.Size}}'])).trim(), `3.01kB (virtual ${virtual.toFixed(virtual < 10 ? 2 : 1)}MB)`);
    // without -s nor .Size in the format, sizes are not measured
    assert.doesNotMatch(ok(await docker(['ps'])), /SIZE|virtual/);

    // mounts in the order of their container paths, names (or sources) cut to 15 characters
    const anon = ok(await docker(['inspect', '-f', '{{range .Mounts}}{{if eq .Destination "/anon"}}{{.Name}}{{end}}{{end}}', 'ls-sized'])).trim();
    assert.match(anon, /^[0-9a-f]{64}$/);
    const row = ok(await docker(['ps', '--format', '{{.Mounts}}|{{.Networks}}|{{.LocalVolumes}}'])).trim();
    assert.equal(row, `${anon.slice(0, 14)}…,${bindDir.slice(0, 14)}…,listing-volume…|none|2`);
    assert.equal(ok(await docker(['ps', '--no-trunc', '--format', '{{.Mounts}}'])).trim(), `${anon},${bindDir},listing-volume-with-a-long-name`);

    const df = ok(await docker(['system', 'df'])).split('\n').find((l) => l.startsWith('Containers'));
    assert.match(df ?? '', /^Containers\s+1\s+1\s+3.011kB\s+0B \(0%\)$/);
    const dfv = ok(await docker(['system', 'df', '-v', '--format', '{{json .Containers}}']));
    const listed = JSON.parse(dfv) as { Names: string; Size: string; LocalVolumes: string }[];
    assert.deepEqual(listed.map((c) => [c.Names, c.Size, c.LocalVolumes]), [['ls-sized', '3.01kB', '2']]);
  });

  test('-e NAME for a variable the client lacks is kept in the config and left out of the process', async () => {
    const env = { ...daemon.env, BERTH_LISTING_UNSET: undefined };
    ok(await docker(['create', '--name', 'ls-env', '-e', 'BERTH_LISTING_UNSET', '-e', 'SET_ONE=1', 'busybox', 'env'], { env }));
    assert.match(ok(await docker(['inspect', '-f', '{{json .Config.Env}}', 'ls-env'])), /"BERTH_LISTING_UNSET"/);
    const out = ok(await docker(['start', '-a', 'ls-env']), 'start -a');
    assert.match(out, /^SET_ONE=1$/m);
    assert.doesNotMatch(out, /BERTH_LISTING_UNSET/);
  });

  test('logs --details shows the attributes the log options name, as dockerd', async () => {
    ok(await docker(['run', '--name', 'ls-details', '-l', 'a=b', '-l', 'c=d', '--log-opt', 'labels=c,a', '--log-opt', 'env=X,Y',
      '-e', 'X=1', '-e', 'Y=2', 'busybox', 'echo', 'hi']));
    assert.equal(ok(await docker(['logs', '--details', 'ls-details'])), 'X=1,Y=2,a=b,c=d hi\n');
    assert.match(ok(await docker(['logs', '-t', '--details', 'ls-details'])), /^\d{4}-\d\d-\d\dT[\d:.]+Z X=1,Y=2,a=b,c=d hi\n$/);
    assert.equal(ok(await docker(['logs', 'ls-details'])), 'hi\n');
    ok(await docker(['rm', 'ls-details']));
    ok(await docker(['run', '--name', 'ls-details', 'busybox', 'echo', 'hi']));
    assert.equal(ok(await docker(['logs', '--details', 'ls-details'])), ' hi\n', 'no attributes: the separating space only');
    ok(await docker(['rm', 'ls-details']));
    const bad = await docker(['run', '--rm', '--log-driver', 'bogus', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /error looking up logging plugin bogus: plugin "bogus" not found/);
    assert.equal(ok(await docker(['inspect', '-f', '{{.HostConfig.LogConfig.Type}}', 'ls-sized'])).trim(), 'json-file');
  });

  test('ps -n and -l count stopped containers, as with dockerd', async () => {
    assert.equal(ok(await docker(['ps', '-l', '--format', '{{.Names}}'])).trim(), 'ls-env');
    assert.equal(ok(await docker(['ps', '-n', '2', '--format', '{{.Names}}'])).trim(), 'ls-env\nls-sized');
    assert.equal(ok(await docker(['ps', '--format', '{{.Names}}'])).trim(), 'ls-sized');
  });

  test('run --platform pulls the other variant when the local image is of another platform, as dockerd does', async () => {
    const arm = await docker(['run', '--rm', '--platform', 'linux/arm64', 'busybox', 'uname', '-m']);
    assert.match(arm.stderr, /Unable to find image 'busybox:latest' locally/);
    // crun capitalises it
    assert.match(arm.stderr, /exec format error/i, 'the arm64 busybox cannot run on this host');
    assert.equal(ok(await docker(['image', 'inspect', '-f', '{{.Architecture}}', 'busybox'])).trim(), 'arm64');
    const none = await docker(['run', '--rm', '--platform', 'linux/s390x', 'busybox', 'true']);
    assert.equal(none.code, 125);
    assert.match(none.stderr, /no matching manifest for linux\/s390x in the manifest list entries/);
    const back = await docker(['run', '--rm', '--platform', 'linux/amd64', 'busybox', 'uname', '-m']);
    assert.equal(back.stdout, 'x86_64\n', back.stderr);
    assert.equal(ok(await docker(['run', '--rm', 'busybox', 'uname', '-m'])), 'x86_64\n');
  });

  test('create refuses an unknown stop signal and more CPUs than the host has, in dockerd\'s words', async () => {
    const sig = await docker(['create', '--stop-signal', 'BOGUS', 'busybox']);
    assert.equal(sig.code, 1);
    assert.match(sig.stderr, /Error response from daemon: Invalid signal: BOGUS/);
    const cpus = os.availableParallelism();
    const many = await docker(['create', '--cpus', String(cpus + 1), 'busybox']);
    assert.equal(many.code, 1);
    assert.match(many.stderr, new RegExp(`Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`));
    const wd = await docker(['create', '-w', 'relative', 'busybox']);
    assert.equal(wd.code, 1);
    assert.match(wd.stderr, /the working directory 'relative' is invalid, it needs to be an absolute path/);
    const cpuset = await docker(['create', '--cpuset-cpus', String(cpus), 'busybox']);
    assert.equal(cpuset.code, 1);
    assert.match(cpuset.stderr, new RegExp(`Requested CPUs are not available - requested ${cpus}, available: 0`));
    assert.equal(ok(await docker(['ps', '-a', '-q'])).trim().split('\n').length, 2, 'nothing was created');
  });
});
