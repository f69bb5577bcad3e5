import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as http from 'node:http';
import * as path from 'node:path';
import { startBuildFixture, type BuildFixture } from './build-fixture';

let fx: BuildFixture;
before(async () => { fx = await startBuildFixture(); });
after(async () => { await fx?.close(); });

const DOCKERFILE = `# syntax=docker/dockerfile:1
ARG BASE=scratch
ARG VERSION=1.0
FROM \${BASE} AS files
COPY data/ /data/

FROM scratch
ARG VERSION
ENV APP_VERSION=$VERSION \\
    HOME=/home/app
WORKDIR /app
COPY a.txt b.txt ./
COPY dir /app/dir
COPY *.md /docs/
COPY --chmod=0600 secret.txt /app/secret.txt
COPY --chown=1000:1000 --from=files /data/x.txt /app/from-stage.txt
COPY <<EOF /app/heredoc.txt
version=\${VERSION}
EOF
USER 1000:1000
LABEL org.test=yes "with space"="a b"
HEALTHCHECK --interval=5s --retries=2 CMD ["/app/check"]
EXPOSE 8080 53/udp
STOPSIGNAL SIGQUIT
VOLUME /data
CMD ["/app/run", "--flag"]
`;

let ctxDir: string;
let firstId: string;

function layerCount(): number {
  return (fx.db.prepare('SELECT COUNT(*) AS n FROM layers').get() as { n: number }).n;
}

test('a FROM scratch multi-stage build without RUN: config and files', async () => {
  ctxDir = await fx.context({
    Dockerfile: DOCKERFILE,
    '.dockerignore': 'ignored.txt\n*.log\n',
    'a.txt': 'A\n',
    'b.txt': 'B\n',
    'dir/sub/c.txt': 'C\n',
    'dir/link': { link: 'sub/c.txt' },
    'readme.md': '# readme\n',
    'notes.md': 'notes\n',
    'secret.txt': { mode: 0o644, content: 'secret\n' },
    'data/x.txt': 'from stage\n',
    'ignored.txt': 'should never arrive',
    'debug.log': 'nope',
  });
  const out = await fx.build(ctxDir, { t: ['app:latest', 'app:v1'], buildargs: JSON.stringify({ VERSION: '2.5' }) });
  assert.equal(out.error, undefined, out.text);
  assert.match(out.text, /^Step 1\/21 : ARG BASE=scratch\nStep 2\/21 : ARG VERSION=1.0\nStep 3\/21 : FROM \$\{BASE\} AS files\n ---> \n/);
  assert.match(out.text, /Step 4\/21 : COPY data\/ \/data\/\n ---> [0-9a-f]{12}\n/);
  assert.match(out.text, /Step 21\/21 : CMD \["\/app\/run", "--flag"\]\n/);
  assert.match(out.text, /Successfully built [0-9a-f]{12}\nSuccessfully tagged app:latest\nSuccessfully tagged app:v1\n$/);
  assert.ok(out.id?.startsWith('sha256:'));
  firstId = out.id!;
  assert.ok(out.text.includes(`Successfully built ${firstId.slice(7, 19)}`));

  const { status, body } = await fx.request('GET', '/images/app:v1/json');
  assert.equal(status, 200);
  assert.equal(body.Id, firstId);
  const c = body.Config;
  assert.ok(c.Env.includes('APP_VERSION=2.5'));
  assert.ok(c.Env.includes('HOME=/home/app'));
  assert.ok(c.Env.some((e: string) => e.startsWith('PATH=')));
  assert.equal(c.WorkingDir, '/app');
  assert.equal(c.User, '1000:1000');
  assert.deepEqual(c.Labels, { 'org.test': 'yes', 'with space': 'a b' });
  assert.deepEqual(c.Healthcheck, { Test: ['CMD', '/app/check'], Interval: 5e9, Retries: 2 });
  assert.deepEqual(Object.keys(c.ExposedPorts).sort(), ['53/udp', '8080/tcp']);
  assert.equal(c.StopSignal, 'SIGQUIT');
  assert.deepEqual(Object.keys(c.Volumes), ['/data']);
  assert.deepEqual(c.Cmd, ['/app/run', '--flag']);
  // WORKDIR + 6 COPYs make layers; the rest are empty_layer history entries
  assert.equal(body.RootFS.Layers.length, 7);
  const history = (await fx.request('GET', '/images/app:v1/history')).body as { CreatedBy: string }[];
  assert.ok(history.some((h) => /#\(nop\)\s+ENV APP_VERSION=2.5 HOME=\/home\/app/.test(h.CreatedBy)), JSON.stringify(history));

  const root = fx.rootfs(firstId);
  const read = async (p: string) => (await root.readFile(p))?.toString();
  assert.equal(await read('app/a.txt'), 'A\n');
  assert.equal(await read('app/b.txt'), 'B\n');
  assert.equal(await read('app/dir/sub/c.txt'), 'C\n');
  assert.equal(await fs.readlink((await root.lstat('app/dir/link'))!.abs), 'sub/c.txt');
  assert.equal(await read('docs/readme.md'), '# readme\n');
  assert.equal(await read('docs/notes.md'), 'notes\n');
  assert.equal(await read('app/from-stage.txt'), 'from stage\n');
  assert.equal(await read('app/heredoc.txt'), 'version=2.5\n');
  const secret = (await root.lstat('app/secret.txt'))!.st;
  assert.equal(secret.mode & 0o777, 0o600);
  const fromStage = (await root.lstat('app/from-stage.txt'))!.st;
  assert.equal(fromStage.uid, 1000);
  assert.equal(await root.lstat('app/ignored.txt'), undefined);
  assert.equal(await root.lstat('data/x.txt'), undefined, 'the first stage is not part of the result');
});

test('a second build uses the cache for every step and gives the same image ID', async () => {
  const out = await fx.build(ctxDir, { t: 'app:latest', buildargs: JSON.stringify({ VERSION: '2.5' }) });
  assert.equal(out.error, undefined, out.text);
  assert.equal(out.id, firstId);
  const steps = out.text.split(/^Step /m).slice(1);
  assert.equal(steps.length, 21);
  // the two ARGs before the first FROM print no ID, cached or not
  for (const s of steps.slice(2)) {
    if (/^\d+\/\d+ : FROM /.test(s)) continue;
    assert.match(s, / ---> Using cache\n ---> [0-9a-f]{12}\n/, s);
  }
});

test('changing one copied file rebuilds from that COPY on', async () => {
  await fs.writeFile(path.join(ctxDir, 'b.txt'), 'B changed\n');
  const out = await fx.build(ctxDir, { t: 'app:changed', buildargs: JSON.stringify({ VERSION: '2.5' }) });
  assert.equal(out.error, undefined, out.text);
  assert.notEqual(out.id, firstId);
  const steps = out.text.split(/^Step /m).slice(1);
  const copyIndex = steps.findIndex((s) => s.includes('COPY a.txt b.txt ./'));
  steps.forEach((s, i) => {
    if (i < 2 || /^\d+\/\d+ : FROM /.test(s)) return;
    if (i < copyIndex) assert.match(s, /Using cache/, s);
    else assert.doesNotMatch(s, /Using cache/, s);
  });
  assert.equal((await fx.rootfs(out.id!).readFile('app/b.txt'))?.toString(), 'B changed\n');
});

test('hostile contexts: links out of the context and ../ sources are confined or refused', async () => {
  const ctx = await fx.context({
    Dockerfile: 'FROM scratch\nCOPY evil/passwd /x\n',
    evil: { link: '/etc' },
  });
  let out = await fx.build(ctx);
  assert.match(out.error ?? '', /file not found in build context/);

  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY up/etc/hostname /x\n');
  await fs.symlink('../../../../../../..', path.join(ctx, 'up'));
  out = await fx.build(ctx);
  assert.match(out.error ?? '', /file not found in build context/);

  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY ../x /x\n');
  out = await fx.build(ctx);
  assert.match(out.error ?? '', /forbidden path outside the build context: \.\.\/x/);

  // an absolute link is resolved inside the context: abs -> /inner.txt names the context's own file
  await fs.writeFile(path.join(ctx, 'inner.txt'), 'inside\n');
  await fs.symlink('/inner.txt', path.join(ctx, 'abs'));
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nCOPY abs /got\n');
  out = await fx.build(ctx, { t: 'confined' });
  assert.equal(out.error, undefined, out.text);
  const root = fx.rootfs(out.id!);
  assert.equal((await root.readFile('got'))?.toString(), 'inside\n');

  // a context tar with an entry that climbs out is refused and writes nothing outside
  const { encodeHeader, END_OF_ARCHIVE } = await import('../../src/image/tar-format');
  const data = Buffer.from('FROM scratch\n');
  const hdr = (name: string, size: number) => encodeHeader({ name, type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() });
  const pad = (n: number) => Buffer.alloc((512 - (n % 512)) % 512);
  const tar = Buffer.concat([hdr('Dockerfile', data.length), data, pad(data.length), hdr('../../escaped.txt', 3), Buffer.from('bad'), pad(3), END_OF_ARCHIVE]);
  out = await fx.buildRaw(tar);
  assert.match(out.error ?? '', /escapes the archive root/);
  await assert.rejects(fs.access(path.join(fx.dataRoot, 'escaped.txt')));
  await assert.rejects(fs.access(path.join(fx.dataRoot, 'tmp', 'escaped.txt')));
  assert.deepEqual(await fs.readdir(path.join(fx.dataRoot, 'tmp')), [], 'build temp dirs are removed');
});

test('a failing step leaves no new image and no new layer rows', async () => {
  const imagesBefore = fx.images.list().length;
  const layersBefore = layerCount();
  const cacheBefore = (fx.db.prepare('SELECT COUNT(*) AS n FROM build_cache').get() as { n: number }).n;
  const ctx = await fx.context({
    Dockerfile: 'FROM scratch\nCOPY unique.txt /u\nCOPY other.txt /o\nCOPY missing.txt /m\n',
    'unique.txt': `unique ${Date.now()} ${Math.random()}\n`,
    'other.txt': `other ${Math.random()}\n`,
  });
  const out = await fx.build(ctx, { t: 'broken:latest' });
  assert.match(out.error ?? '', /COPY failed: file not found in build context or excluded by \.dockerignore: stat missing\.txt: file does not exist/);
  assert.match(out.text, /Step 4\/4 : COPY missing.txt \/m\n$/);
  assert.equal(fx.images.list().length, imagesBefore);
  assert.equal(layerCount(), layersBefore);
  assert.equal((fx.db.prepare('SELECT COUNT(*) AS n FROM build_cache').get() as { n: number }).n, cacheBefore);
  assert.equal(fx.images.resolve('broken:latest'), undefined);
});

test('RUN without a container runtime fails clearly; parse errors name the line', async () => {
  const ctx = await fx.context({ Dockerfile: 'FROM scratch\nRUN echo hi\n' });
  let out = await fx.build(ctx);
  assert.equal(out.error, 'RUN is not available: no container runtime');
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\n\nFORM x\n');
  out = await fx.build(ctx);
  assert.equal(out.error, 'dockerfile parse error on line 3: unknown instruction: FORM');
  // nothing was streamed yet: a plain HTTP error, which the docker CLI prints as "Error response from daemon"
  assert.equal(out.status, 400);
  await fs.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch AS a\nLABEL a=1\nFROM scratch AS b\nLABEL b=1\n');
  out = await fx.build(ctx, { target: 'nope' });
  assert.equal(out.error, 'failed to reach build target nope in Dockerfile');
  assert.equal(out.status, 400);
  out = await fx.build(ctx, { target: 'a', t: 'target-a', labels: JSON.stringify({ extra: 'x' }) });
  assert.equal(out.error, undefined, out.text);
  const img = (await fx.request('GET', '/images/target-a/json')).body;
  assert.deepEqual(img.Config.Labels, { a: '1', extra: 'x' });
  out = await fx.build(ctx, { buildargs: '{not json' });
  assert.equal(out.status, 400);
});

test('ADD unpacks a local gzip tar; a bare Dockerfile body builds with an empty context', async () => {
  const src = await fx.context({ 'pkg/one.txt': '1\n', 'pkg/sub/two.txt': '2\n' });
  const { execFileSync } = await import('node:child_process');
  const ctx = await fx.context({ Dockerfile: 'FROM scratch\nADD pkg.tar.gz /opt/\nADD plain.txt /opt/plain.txt\n', 'plain.txt': 'plain\n' });
  execFileSync('tar', ['-czf', path.join(ctx, 'pkg.tar.gz'), '-C', src, 'pkg']);
  let out = await fx.build(ctx, { t: 'added' });
  assert.equal(out.error, undefined, out.text);
  const root = fx.rootfs(out.id!);
  assert.equal((await root.readFile('opt/pkg/one.txt'))?.toString(), '1\n');
  assert.equal((await root.readFile('opt/pkg/sub/two.txt'))?.toString(), '2\n');
  assert.equal((await root.readFile('opt/plain.txt'))?.toString(), 'plain\n');

  out = await fx.buildRaw(Buffer.from('FROM scratch\nENV ONLY=dockerfile\n'), { t: 'bare' });
  assert.equal(out.error, undefined, out.text);
  const img = (await fx.request('GET', '/images/bare/json')).body;
  assert.ok(img.Config.Env.includes('ONLY=dockerfile'));
});

test('build prune empties the cache and frees layers only the cache kept', async () => {
  const ctx = await fx.context({ Dockerfile: 'FROM scratch AS side\nCOPY side.txt /s\nFROM scratch\nLABEL x=1\n', 'side.txt': `side ${Math.random()}\n` });
  const out = await fx.build(ctx, { t: 'pruned' });
  assert.equal(out.error, undefined, out.text);
  const res = await new Promise<{ status: number; body: any }>((resolve) => {
    fx.request('POST', '/build/prune').then(resolve);
  });
  assert.equal(res.status, 200);
  assert.ok(res.body.SpaceReclaimed > 0, JSON.stringify(res.body));
  assert.equal((fx.db.prepare('SELECT COUNT(*) AS n FROM build_cache').get() as { n: number }).n, 0);
  // images still have all their layers
  for (const img of fx.images.list()) for (const l of img.layers) assert.ok(fx.layers.get(l), `layer ${l} of ${img.id}`);
});

test('ONBUILD triggers of a local base run in the child; a missing base goes through pull', async () => {
  const baseCtx = await fx.context({ Dockerfile: 'FROM scratch\nONBUILD COPY trigger.txt /trigger.txt\nLABEL base=1\n' });
  let out = await fx.build(baseCtx, { t: 'onbuild-base' });
  assert.equal(out.error, undefined, out.text);
  assert.deepEqual(fx.images.resolve('onbuild-base')!.config.config?.OnBuild, ['COPY trigger.txt /trigger.txt']);
  const childCtx = await fx.context({ Dockerfile: 'FROM onbuild-base\nLABEL child=1\n', 'trigger.txt': 'triggered\n' });
  out = await fx.build(childCtx, { t: 'onbuild-child' });
  assert.equal(out.error, undefined, out.text);
  assert.match(out.text, /# Executing 1 build trigger\n/);
  const child = fx.images.get(out.id!)!;
  assert.equal((await fx.rootfs(child.id).readFile('trigger.txt'))?.toString(), 'triggered\n');
  assert.ok(!child.config.config?.OnBuild?.length);
  assert.deepEqual(child.config.config?.Labels, { base: '1', child: '1' });

  const missing = await fx.context({ Dockerfile: 'FROM nothere:1\nLABEL a=b\n' });
  out = await fx.build(missing);
  assert.match(out.error ?? '', /pull access denied for nothere:1/);
});

test('a built image saves with layer blobs that unpack to its diff IDs', async () => {
  const res = await new Promise<{ status: number; size: number }>((resolve, reject) => {
    const req = http.request({ socketPath: fx.socket, method: 'GET', path: '/images/app:v1/get' }, (r) => {
      let size = 0;
      r.on('data', (c: Buffer) => { size += c.length; });
      r.on('end', () => resolve({ status: r.statusCode ?? 0, size }));
      r.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  assert.equal(res.status, 200);
  assert.ok(res.size > 4096);
  const img = fx.images.resolve('app:v1')!;
  for (const chainId of img.layers) {
    const info = fx.layers.get(chainId)!;
    assert.equal(info.blobMediaType, 'application/vnd.oci.image.layer.v1.tar');
    assert.ok(info.blobDigest);
  }
});
