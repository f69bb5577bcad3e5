/**
 * The classic builder through real clients: `DOCKER_BUILDKIT=0 docker build` (docker CLI v28) and
 * `berth build` against the in-process build API; and the RUN seam with a runner that stands in for the
 * container runtime (it "runs" a command by writing its arguments into the diff), so caching, layers, exit
 * codes and history of RUN are proven here while the real runtime is wired in elsewhere.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE, encodeHeader } from '../../src/image/tar-format';
import type { RunStepRequest, RunStepRunner } from '../../src/build/types';
import { run, DOCKER_CLI } from '../helpers/cli';
import { startBuildFixture, type BuildFixture } from './build-fixture';

const requests: RunStepRequest[] = [];
let cleanups = 0;

/** `sh -c "write NAME TEXT"` adds /NAME with TEXT; `sh -c "exit N"` fails with N; anything else changes nothing. */
const standInRunner: RunStepRunner = {
  async run(req) {
    requests.push(req);
    req.onStarted?.('f'.repeat(64));
    const vars = new Map(req.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
    const script = req.cmd[req.cmd.length - 1].replace(/\$(\w+)/g, (_m, n: string) => vars.get(n) ?? '');
    req.onOutput(Buffer.from(`ran: ${script}\n`));
    const cleanup = async () => { cleanups++; };
    const exit = /^exit (\d+)$/.exec(script);
    if (exit) return { exitCode: Number(exit[1]), cleanup };
    const write = /^write (\S+) (.*)$/.exec(script);
    if (!write) return { exitCode: 0, diff: Readable.from([END_OF_ARCHIVE]), cleanup };
    const data = Buffer.from(write[2]);
    const header = encodeHeader({ name: write[1], type: 'file', mode: 0o644, uid: 0, gid: 0, size: data.length, mtime: 0, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map() });
    return { exitCode: 0, diff: Readable.from([header, data, Buffer.alloc(512 - data.length), END_OF_ARCHIVE]), cleanup };
  },
};

let fx: BuildFixture;
let env: NodeJS.ProcessEnv;
before(async () => {
  fx = await startBuildFixture(standInRunner);
  const cfg = path.join(fx.dir, 'docker-config');
  fs.mkdirSync(cfg);
  env = { ...process.env, DOCKER_HOST: `unix://${fx.socket}`, BERTH_HOST: `unix://${fx.socket}`, DOCKER_BUILDKIT: '0', DOCKER_CONFIG: cfg, DOCKER_CLI_HINTS: 'false' };
});
after(async () => { await fx?.close(); });

test('DOCKER_BUILDKIT=0 docker build against berth', { skip: !fs.existsSync(DOCKER_CLI) }, async () => {
  const ctx = await fx.context({
    Dockerfile: 'FROM scratch\nCOPY app.txt /app/\nCOPY --chmod=755 run.sh /run.sh\nENTRYPOINT ["/run.sh"]\n',
    'app.txt': 'app\n', 'run.sh': '#!/bin/sh\n', '.dockerignore': 'private\n', private: 'never sent',
  });
  const first = await run('docker', ['build', '-t', 'viadocker:1', '.'], { env, cwd: ctx });
  assert.equal(first.code, 0, first.stderr);
  assert.match(first.stdout, /Step 1\/4 : FROM scratch\n/);
  assert.match(first.stdout, /Successfully built [0-9a-f]{12}\nSuccessfully tagged viadocker:1\n/);
  const quiet = await run('docker', ['build', '-q', '-t', 'viadocker:1', '.'], { env, cwd: ctx });
  assert.equal(quiet.code, 0, quiet.stderr);
  const id = quiet.stdout.trim();
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  assert.ok(first.stdout.includes(`Successfully built ${id.slice(7, 19)}`), 'the cached rebuild has the same ID');
  const inspect = await run('docker', ['image', 'inspect', 'viadocker:1', '--format', '{{json .Config.Entrypoint}}'], { env });
  assert.equal(inspect.stdout.trim(), '["/run.sh"]');
  const bad = await run('docker', ['build', '-f', '-', '.'], { env, cwd: ctx, input: 'FROM scratch\nCOPY private /p\n' });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /file not found in build context or excluded by \.dockerignore/);
});

test('berth build: -t, --build-arg, --label, --iidfile, -q, -f outside the context, .dockerignore', async () => {
  const ctx = await fx.context({ 'keep.txt': 'keep\n', 'skip.me': 'no', '.dockerignore': '*.me\n.dockerignore\n' });
  const dockerfile = path.join(fx.dir, 'Elsewhere.Dockerfile');
  fs.writeFileSync(dockerfile, 'FROM scratch\nARG WHO=nobody\nLABEL who=$WHO\nCOPY . /ctx/\n');
  const iid = path.join(fx.dir, 'iid');
  const out = await run('berth', ['build', '-f', dockerfile, '-t', 'viaberth', '--build-arg', 'WHO=me', '--build-arg', 'UNUSED=1', '--label', 'l=v', '--iidfile', iid, ctx], { env });
  assert.equal(out.code, 0, out.stderr);
  assert.match(out.stdout, /Step 1\/5 : FROM scratch\n/);
  assert.match(out.stdout, /\[Warning\] One or more build-args \[UNUSED\] were not consumed/);
  const id = fs.readFileSync(iid, 'utf8');
  assert.match(id, /^sha256:[0-9a-f]{64}$/);
  const img = fx.images.get(id)!;
  assert.deepEqual(img.config.config?.Labels, { who: 'me', l: 'v' });
  const root = fx.rootfs(id);
  assert.equal((await root.readFile('ctx/keep.txt'))?.toString(), 'keep\n');
  assert.equal(await root.lstat('ctx/skip.me'), undefined);
  assert.equal(await root.lstat('ctx/.dockerignore'), undefined, 'an ignored .dockerignore is sent but never copied');
  const quiet = await run('berth', ['build', '-q', '-f', dockerfile, '--build-arg', 'WHO=me', '--label', 'l=v', ctx], { env });
  assert.equal(quiet.code, 0, quiet.stderr);
  assert.equal(quiet.stdout.trim(), id);
});

test('RUN through the runner seam: layers, cache, build args, exit codes', async () => {
  const ctx = await fx.context({ Dockerfile: 'FROM scratch\nARG GREETING=hi\nENV A=1\nWORKDIR /w\nRUN write hello.txt $GREETING\nRUN true\nRUN ["sh", "-c", "exit 0"]\n' });
  requests.length = 0;
  let out = await fx.build(ctx, { t: 'ran' });
  assert.equal(out.error, undefined, out.text);
  assert.equal(requests.length, 3);
  assert.deepEqual(requests[0].cmd, ['/bin/sh', '-c', 'write hello.txt $GREETING']);
  assert.ok(requests[0].env.includes('A=1') && requests[0].env.includes('GREETING=hi'));
  assert.equal(requests[0].workdir, '/w');
  assert.ok(requests[1].parentChainId, 'RUN stands on the layers before it');
  assert.match(out.text, / ---> Running in ffffffffffff\nran: write hello.txt hi\nRemoving intermediate container ffffffffffff\n ---> [0-9a-f]{12}\n/);
  const img = fx.images.get(out.id!)!;
  assert.equal(img.config.rootfs.diff_ids.length, 2, 'WORKDIR and the first RUN add layers; RUN with no changes does not');
  assert.equal((await fx.rootfs(out.id!).readFile('hello.txt'))?.toString(), 'hi');
  assert.ok(img.config.history?.some((h) => h.created_by === '|1 GREETING=hi /bin/sh -c write hello.txt $GREETING'));
  assert.equal(cleanups, 3);

  requests.length = 0;
  out = await fx.build(ctx, { t: 'ran' });
  assert.equal(requests.length, 0, 'every RUN came from the cache');
  out = await fx.build(ctx, { t: 'ran', buildargs: JSON.stringify({ GREETING: 'hello' }) });
  assert.equal(requests.length, 3, 'a different build arg value misses the cache of RUN');

  await fs.promises.writeFile(path.join(ctx, 'Dockerfile'), 'FROM scratch\nRUN exit 3\n');
  out = await fx.build(ctx);
  assert.equal(out.error, "The command '/bin/sh -c exit 3' returned a non-zero code: 3");
  assert.equal(out.messages.find((m) => m.error)?.errorDetail.code, 3);
  if (fs.existsSync(DOCKER_CLI)) {
    const r = await run('docker', ['build', '.'], { env, cwd: ctx });
    assert.equal(r.code, 3);
    assert.match(r.stderr, /returned a non-zero code: 3/);
  }
});
