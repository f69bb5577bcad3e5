/**
 * The real docker CLI (v28) against berthd for a container's files: docker cp both ways on running and
 * stopped containers (files, directories, `-` tar streams, a symlink that points out of the rootfs),
 * docker diff, docker export and docker commit (-c, -m, --pause), then a run of the committed image.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

function tarNames(tarFile: string): string[] {
  return execFileSync('tar', ['-tf', tarFile], { encoding: 'utf8' }).split('\n').filter(Boolean);
}

function mountsUnder(dir: string): string[] {
  return fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m) => m && m.startsWith(dir));
}

/** Root filesystem mounts of containers that are not running (there must be none). */
async function strayMounts(docker: BoundCli, dataRoot: string): Promise<string[]> {
  const running = ok(await docker(['ps', '-q', '--no-trunc'])).split('\n').filter(Boolean);
  return mountsUnder(dataRoot).filter((m) => !running.some((id) => m.includes(id)));
}

describe('docker cp, diff, export and commit against berthd', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compat-cfs-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  });

  after(async () => {
    if (docker) await docker(['rm', '-f', 'cfs-run', 'cfs-stopped', 'cfs-diff', 'cfs-commit', 'cfs-live']).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('cp host → stopped container and back: a file, a directory, and nothing stays mounted', async () => {
    ok(await docker(['create', '--name', 'cfs-stopped', 'busybox', 'cat', '/data/hello.txt']));
    const src = path.join(tmp, 'hello.txt');
    fs.writeFileSync(src, 'hello from the host\n');
    // the destination dir does not exist: docker cp into a missing parent is dockerd's error
    const missing = await docker(['cp', src, 'cfs-stopped:/nope/file']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /Could not find the file \/nope in container cfs-stopped/);
    assert.notEqual((await docker(['cp', src, 'cfs-stopped:/nope/dir/'])).code, 0);
    ok(await docker(['cp', src, 'cfs-stopped:/tmp/']), 'cp file into /tmp/');
    const dir = path.join(tmp, 'tree');
    fs.mkdirSync(path.join(dir, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'sub', 'a.txt'), 'A\n');
    fs.symlinkSync('sub/a.txt', path.join(dir, 'link'));
    ok(await docker(['cp', dir, 'cfs-stopped:/data']), 'cp dir to new /data');
    assert.deepEqual(await strayMounts(docker, daemon.dataRoot), [], 'a stopped container is unmounted after cp');

    const back = path.join(tmp, 'back.txt');
    ok(await docker(['cp', 'cfs-stopped:/tmp/hello.txt', back]));
    assert.equal(fs.readFileSync(back, 'utf8'), 'hello from the host\n');
    const backDir = path.join(tmp, 'backdir');
    ok(await docker(['cp', 'cfs-stopped:/data', backDir]));
    assert.equal(fs.readFileSync(path.join(backDir, 'sub', 'a.txt'), 'utf8'), 'A\n');
    assert.equal(fs.readlinkSync(path.join(backDir, 'link')), 'sub/a.txt');

    // the copied file is what the container sees when it runs
    fs.writeFileSync(path.join(tmp, 'hello.txt'), 'second\n');
    ok(await docker(['cp', path.join(tmp, 'hello.txt'), 'cfs-stopped:/data/hello.txt']));
    const started = await docker(['start', '-a', 'cfs-stopped']);
    assert.equal(ok(started, 'start -a'), 'second\n');

    const nope = await docker(['cp', 'cfs-stopped:/does/not/exist', path.join(tmp, 'x')]);
    assert.notEqual(nope.code, 0);
    assert.match(nope.stderr, /Could not find the file \/does\/not\/exist in container cfs-stopped/);
    assert.deepEqual(await strayMounts(docker, daemon.dataRoot), []);
  });

  test('cp with a running container, tar streams with -, and -L', async () => {
    ok(await docker(['run', '-d', '--name', 'cfs-run', 'busybox', 'sh', '-c', 'ln -s /etc/passwd /tmp/pw; while true; do sleep 0.2; done']));
    const tarIn = path.join(tmp, 'in.tar');
    fs.mkdirSync(path.join(tmp, 'tardir'));
    fs.writeFileSync(path.join(tmp, 'tardir', 'streamed.txt'), 'via a tar stream\n');
    execFileSync('tar', ['-cf', tarIn, '-C', path.join(tmp, 'tardir'), 'streamed.txt']);
    ok(await docker(['cp', '-', 'cfs-run:/tmp'], { input: fs.readFileSync(tarIn) }), 'cp - into running');
    ok(await docker(['cp', 'cfs-run:/tmp/streamed.txt', path.join(tmp, 'streamed-back')]));
    assert.equal(fs.readFileSync(path.join(tmp, 'streamed-back'), 'utf8'), 'via a tar stream\n');

    const tarOut = path.join(tmp, 'out.tar');
    fs.writeFileSync(tarOut, execFileSync(DOCKER_CLI, ['cp', 'cfs-run:/etc/passwd', '-'], { env: daemon.env }));
    assert.deepEqual(tarNames(tarOut), ['passwd']);
    const dirTar = path.join(tmp, 'etc.tar');
    fs.writeFileSync(dirTar, execFileSync(DOCKER_CLI, ['cp', 'cfs-run:/etc/.', '-'], { env: daemon.env }));
    assert.ok(tarNames(dirTar).includes('./passwd'), tarNames(dirTar).join(' '));

    const deadline = Date.now() + 5000;
    while (Date.now() < deadline && (await docker(['cp', 'cfs-run:/tmp/pw', path.join(tmp, 'pw-link')])).code !== 0) await new Promise((r) => setTimeout(r, 100));
    assert.equal(fs.readlinkSync(path.join(tmp, 'pw-link')), '/etc/passwd', 'without -L the link itself is copied');
    ok(await docker(['cp', '-L', 'cfs-run:/tmp/pw', path.join(tmp, 'pw-file')]));
    assert.match(fs.readFileSync(path.join(tmp, 'pw-file'), 'utf8'), /^root:/);
    // the container is frozen while its files are touched, and running again afterwards
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'cfs-run'])).trim();
    const state = JSON.parse(execFileSync('runc', ['--root', path.join(daemon.execRoot, 'runc'), 'state', id], { encoding: 'utf8' })) as { status: string };
    assert.equal(state.status, 'running');
  });

  test('a symlink pointing at / inside the container resolves inside its rootfs', async () => {
    ok(await docker(['run', '--name', 'cfs-diff', 'busybox', 'sh', '-c', 'ln -s / /tmp/up; ln -s ../../../../../../../etc /tmp/etcup; touch /tmp/x; rm /bin/vi; echo >> /etc/passwd']));
    const marker = path.join(tmp, 'escape-marker');
    fs.writeFileSync(marker, 'host only\n');
    // reading through the link names the container's files, never the host's
    const r = await docker(['cp', `cfs-diff:/tmp/up${marker}`, path.join(tmp, 'should-not-exist')]);
    assert.notEqual(r.code, 0);
    assert.ok(!fs.existsSync(path.join(tmp, 'should-not-exist')));
    ok(await docker(['cp', 'cfs-diff:/tmp/etcup/passwd', path.join(tmp, 'ctr-passwd')]));
    assert.match(fs.readFileSync(path.join(tmp, 'ctr-passwd'), 'utf8'), /^root:x:0:0:root:\/root:\/bin\/sh/);
    // writing through the link lands in the container's /etc
    const f = path.join(tmp, 'planted');
    fs.writeFileSync(f, 'planted\n');
    ok(await docker(['cp', f, 'cfs-diff:/tmp/etcup/']));
    assert.ok(!fs.existsSync('/etc/planted'), 'nothing was written to the host /etc');
    ok(await docker(['cp', 'cfs-diff:/etc/planted', path.join(tmp, 'planted-back')]));
    assert.equal(fs.readFileSync(path.join(tmp, 'planted-back'), 'utf8'), 'planted\n');
  });

  test('docker diff shows A, C and D like dockerd', async () => {
    const lines = ok(await docker(['diff', 'cfs-diff'])).split('\n').filter(Boolean);
    for (const want of ['A /tmp/x', 'C /tmp', 'D /bin/vi', 'C /bin', 'C /etc/passwd', 'A /etc/planted']) assert.ok(lines.includes(want), `${want} in\n${lines.join('\n')}`);
    assert.ok(!lines.some((l) => /\/etc\/(hosts|hostname|resolv\.conf)$/.test(l)), lines.join('\n'));
  });

  test('docker export holds the merged root filesystem', async () => {
    const out = path.join(tmp, 'export.tar');
    ok(await docker(['export', '-o', out, 'cfs-diff']));
    const names = tarNames(out);
    assert.ok(names.includes('bin/busybox'), names.slice(0, 20).join('\n'));
    assert.ok(names.includes('tmp/x'));
    assert.ok(!names.includes('bin/vi'), 'a deleted file is not exported');
    // dockerd's init layer is part of the merged root: /.dockerenv, /etc/mtab and the runtime's mount points
    for (const n of ['.dockerenv', 'etc/mtab', 'etc/hosts', 'etc/hostname', 'etc/resolv.conf', 'dev/console', 'dev/pts/', 'dev/shm/']) {
      assert.ok(names.includes(n), `${n} exported`);
    }
    assert.ok(names.every((n) => !n.startsWith('/') && !n.startsWith('../')));
    assert.deepEqual(await strayMounts(docker, daemon.dataRoot), []);
  });

  test('a container sees /.dockerenv and /etc/mtab as with dockerd; they are in no container layer', async () => {
    const ls = ok(await docker(['run', '--name', 'cfs-init', 'busybox', 'sh', '-c', 'ls -l /.dockerenv /etc/mtab; wc -l < /etc/mtab']));
    assert.match(ls, /^-rwxr-xr-x\s+1 root\s+root\s+0 .* \/\.dockerenv$/m);
    assert.match(ls, /^lrwxrwxrwx\s+1 root\s+root\s+12 .* \/etc\/mtab -> \/proc\/mounts$/m);
    assert.ok(Number(ls.trim().split('\n').pop()) > 5, 'mtab lists the mounts');
    assert.equal(ok(await docker(['diff', 'cfs-init'])), '', 'nothing in the container layer');
    ok(await docker(['commit', 'cfs-init', 'cfs-init-img']));
    const saved = path.join(tmp, 'init-img.tar');
    ok(await docker(['save', '-o', saved, 'cfs-init-img']));
    const manifest = JSON.parse(execFileSync('tar', ['-xOf', saved, 'manifest.json'], { encoding: 'utf8' })) as { Layers: string[] }[];
    const top = manifest[0].Layers[manifest[0].Layers.length - 1];
    const committed = execFileSync('sh', ['-c', `tar -xOf "$0" "$1" | tar -tf -`, saved, top], { encoding: 'utf8' }).split('\n').filter(Boolean);
    assert.ok(!committed.some((n) => /^(\.\/)?(\.dockerenv|etc\/mtab|etc\/hosts)$/.test(n)), `committed layer: ${committed.join(' ')}`);
    ok(await docker(['rm', 'cfs-init']));
    ok(await docker(['rmi', 'cfs-init-img']));
  });

  test('docker commit -c CMD -m: the new image runs the command and history shows the message', async () => {
    ok(await docker(['run', '--name', 'cfs-commit', 'busybox', 'sh', '-c', 'echo committed > /greeting']));
    const id = ok(await docker(['commit', '-a', 'h12', '-c', 'CMD ["cat","/greeting"]', '-m', 'my message', 'cfs-commit', 'cfs-image:v1'])).trim();
    assert.match(id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(ok(await docker(['run', '--rm', 'cfs-image:v1'])), 'committed\n');
    const hist = ok(await docker(['history', '--no-trunc', '--format', '{{.Comment}}|{{.CreatedBy}}', 'cfs-image:v1']));
    assert.match(hist.split('\n')[0], /^my message\|/);
    const inspect = JSON.parse(ok(await docker(['image', 'inspect', 'cfs-image:v1'])))[0];
    assert.equal(inspect.Author, 'h12');
    assert.equal(inspect.Comment, 'my message');
    assert.deepEqual(inspect.Config.Cmd, ['cat', '/greeting']);
    ok(await docker(['commit', '-c', 'CMD ["echo","hi"]', 'cfs-commit', 'cfs-image:hi']));
    assert.equal(ok(await docker(['run', '--rm', 'cfs-image:hi'])), 'hi\n');
  });

  test('docker commit of a running container pauses it and leaves it running', async () => {
    ok(await docker(['run', '-d', '--name', 'cfs-live', 'busybox', 'sh', '-c', 'echo live > /live; while true; do sleep 0.2; done']));
    let found = false;
    for (let i = 0; i < 50 && !found; i++) {
      found = (await docker(['cp', 'cfs-live:/live', path.join(tmp, 'live')])).code === 0;
      if (!found) await new Promise((r) => setTimeout(r, 100));
    }
    ok(await docker(['commit', '--pause', 'cfs-live', 'cfs-image:live']));
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.Running}}', 'cfs-live'])).trim(), 'true');
    assert.equal(ok(await docker(['run', '--rm', 'cfs-image:live', 'cat', '/live'])), 'live\n');
    ok(await docker(['rm', '-f', 'cfs-live']));
  });
});
