/**
 * The real docker CLI's classic builder (`DOCKER_BUILDKIT=0 docker build`) against berthd with the real
 * runtime: a multi-stage Dockerfile with RUN steps builds and runs; a rebuild is all cache; changing one
 * copied file rebuilds from that step on and nothing before it.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

const DOCKERFILE = `ARG BASE=busybox
FROM \${BASE} AS builder
WORKDIR /src
RUN echo prepared > /prep.txt
COPY src/ ./
RUN cat part1.txt part2.txt > combined.txt && echo built-by-run >> combined.txt
RUN <<EOF
set -e
mkdir -p /out
cp combined.txt /out/message.txt
EOF

FROM \${BASE}
ENV GREETING=hello
COPY --from=builder /out/message.txt /app/message.txt
COPY . /ctx/
RUN test ! -e /ctx/secret.txt && test -e /ctx/Dockerfile && chown -R nobody /app
WORKDIR /app
USER nobody
HEALTHCHECK --interval=30s CMD test -f /app/message.txt
CMD ["sh", "-c", "echo $GREETING from $(id -u) in $(pwd); cat message.txt"]
`;

/** Step number → whether dockerd-style output said ` ---> Using cache` for it. */
function cachedSteps(out: string): Map<number, boolean> {
  const steps = new Map<number, boolean>();
  for (const block of out.split(/^Step /m).slice(1)) {
    const n = Number(/^(\d+)\//.exec(block)?.[1]);
    steps.set(n, block.includes(' ---> Using cache\n'));
  }
  return steps;
}

describe('DOCKER_BUILDKIT=0 docker build with RUN against berthd', { skip, timeout: 240_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let ctx: string;

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
    ctx = path.join(daemon.dir, 'ctx');
    fs.mkdirSync(path.join(ctx, 'src'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    fs.writeFileSync(path.join(ctx, '.dockerignore'), 'secret.txt\n');
    fs.writeFileSync(path.join(ctx, 'secret.txt'), 'never sent\n');
    fs.writeFileSync(path.join(ctx, 'src', 'part1.txt'), 'part1\n');
    fs.writeFileSync(path.join(ctx, 'src', 'part2.txt'), 'part2\n');
  });

  after(async () => {
    await daemon?.stop();
    await reg?.stop();
  });

  const build = () => docker(['build', '-t', 'app', '.'], { cwd: ctx, env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000 });

  test('docker CLI has no buildx plugin here: the classic builder is what runs', async () => {
    const r = await docker(['buildx', 'version']);
    assert.notEqual(r.code, 0);
  });

  test('a multi-stage build with RUN builds, runs, and is all cache the second time', async () => {
    const first = await build();
    assert.equal(first.code, 0, first.stdout + first.stderr);
    // the ARG before FROM is a step of its own, as with dockerd's classic builder
    assert.match(first.stdout, /^Step 1\/16 : ARG BASE=busybox\nStep 2\/16 : FROM /m);
    assert.match(first.stdout, /Step 16\/16 : CMD/);
    assert.match(first.stdout, / ---> Running in ([0-9a-f]{12})\n(?:.*\n)*?Removing intermediate container \1\n ---> [0-9a-f]{12}\n/);
    assert.match(first.stdout, /Successfully tagged app:latest\n/);
    assert.equal([...cachedSteps(first.stdout).values()].filter(Boolean).length, 0);

    const out = ok(await docker(['run', '--rm', 'app']), 'docker run');
    assert.equal(out, 'hello from 65534 in /app\npart1\npart2\nbuilt-by-run\n');
    const health = ok(await docker(['image', 'inspect', '--format', '{{json .Config.Healthcheck.Test}}', 'app']));
    assert.equal(health.trim(), '["CMD-SHELL","test -f /app/message.txt"]');

    const started = Date.now();
    const second = await build();
    const seconds = (Date.now() - started) / 1000;
    assert.equal(second.code, 0, second.stderr);
    const steps = cachedSteps(second.stdout);
    for (const [n, cached] of steps) if (n !== 1 && n !== 2 && n !== 8) assert.ok(cached, `step ${n} was not cached:\n${second.stdout}`);
    assert.doesNotMatch(second.stdout, /Running in/);
    assert.ok(seconds < 1, `cached rebuild took ${seconds}s (the goal is under a second)`);
    const firstId = /Successfully built ([0-9a-f]{12})/.exec(first.stdout)?.[1];
    assert.ok(firstId && second.stdout.includes(`Successfully built ${firstId}`));
  });

  test('changing one copied file rebuilds from that step on, and only from there', async () => {
    fs.writeFileSync(path.join(ctx, 'src', 'part2.txt'), 'part2 changed\n');
    const r = await build();
    assert.equal(r.code, 0, r.stdout + r.stderr);
    const cached = [...cachedSteps(r.stdout)].filter(([, c]) => c).map(([n]) => n);
    // WORKDIR and the first RUN come before the changed COPY; ENV of stage 2 only depends on its base
    assert.deepEqual(cached, [3, 4, 9], r.stdout);
    const out = ok(await docker(['run', '--rm', 'app']), 'docker run');
    assert.equal(out, 'hello from 65534 in /app\npart1\npart2 changed\nbuilt-by-run\n');
  });

  test('a Dockerfile error is a daemon error before any step; a failing RUN reports its code', async () => {
    const bad = await docker(['build', '-'], { input: 'FROM busybox\nBOGUS x\n', env: { DOCKER_BUILDKIT: '0' } });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /^Error response from daemon: dockerfile parse error on line 2: unknown instruction: BOGUS$/m);
    assert.doesNotMatch(bad.stdout, /Step /);
    const failing = await docker(['build', '-'], { input: 'FROM busybox\nRUN exit 3\n', env: { DOCKER_BUILDKIT: '0' } });
    assert.equal(failing.code, 3);
    assert.match(failing.stdout, /Step 2\/2 : RUN exit 3\n ---> Running in [0-9a-f]{12}\n/);
    assert.match(failing.stderr, /The command '\/bin\/sh -c exit 3' returned a non-zero code: 3/);
    assert.doesNotMatch(failing.stdout, /Removing intermediate container/);
  });

  test('a built image (layers stored uncompressed) pushes, and pulls back runnable', async () => {
    const remote = `${reg.host}/built/app:1`;
    ok(await docker(['tag', 'app', remote]), 'docker tag');
    ok(await docker(['push', remote]), 'docker push');
    ok(await docker(['rmi', 'app', remote]), 'docker rmi');
    ok(await docker(['pull', remote]), 'docker pull');
    const out = ok(await docker(['run', '--rm', remote]), 'docker run');
    assert.equal(out, 'hello from 65534 in /app\npart1\npart2 changed\nbuilt-by-run\n');
  });
});
