/**
 * Sharing a built image between two daemons with the real docker CLI: `docker build` on berthd A, `docker
 * push`, then `docker pull` on berthd B (a fresh, empty data root) gives the same image ID and the same
 * repository digest; the same through a registry that wants a password, where B's pull fails with an
 * unauthorized message until `docker login` (each daemon has its own DOCKER_CONFIG). A's own rmi + pull
 * round trip gives the same ID back too.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { registryDigest, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

const DOCKERFILE = `FROM busybox
ENV APP_HOME=/app
WORKDIR /app
COPY hello.txt ./
RUN echo built > built.txt && cat hello.txt built.txt > both.txt
LABEL team=app
CMD ["cat", "/app/both.txt"]
`;

interface Identity { id: string; digests: string[] }

async function identity(docker: BoundCli, ref: string): Promise<Identity> {
  const out = ok(await docker(['image', 'inspect', '--format', '{{.Id}} {{json .RepoDigests}}', ref]), `inspect ${ref}`).trim();
  const space = out.indexOf(' ');
  return { id: out.slice(0, space), digests: JSON.parse(out.slice(space + 1)) as string[] };
}

function pushedDigest(out: string, tag: string): string {
  const digest = new RegExp(`${tag}: digest: (sha256:[a-f0-9]{64}) size: \\d+`).exec(out)?.[1];
  assert.ok(digest, `no digest line in push output:\n${out}`);
  return digest;
}

describe('docker build + push on one berthd, pull on a second one', { skip, timeout: 300_000 }, () => {
  let mirror: Registry;
  let plain: Registry;
  let secure: Registry;
  let a: Berthd;
  let b: Berthd;
  let dockerA: BoundCli;
  let dockerB: BoundCli;
  let built: string;
  const user = { user: 'roundtrip', password: 's3cret-pw' };

  before(async () => {
    mirror = await startRegistry();
    await seedImages(mirror, ['busybox']);
    plain = await startRegistry();
    secure = await startRegistry({ auth: user });
    a = await startBerthd({ registryMirror: mirror.url, insecureRegistries: [mirror.host] });
    // B gets no mirror: everything it has comes from the registries the test pushed to
    b = await startBerthd();
    dockerA = dockerCli(a);
    dockerB = dockerCli(b);
    const ctx = path.join(a.dir, 'ctx');
    fs.mkdirSync(ctx);
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), DOCKERFILE);
    fs.writeFileSync(path.join(ctx, 'hello.txt'), 'hello from the context\n');
    const r = await dockerA(['build', '-t', 'app', '.'], { cwd: ctx, env: { DOCKER_BUILDKIT: '0' }, timeoutMs: 120_000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    built = (await identity(dockerA, 'app')).id;
  });

  after(async () => {
    await a?.stop();
    await b?.stop();
    await mirror?.stop();
    await plain?.stop();
    await secure?.stop();
  });

  test('B starts empty', async () => {
    assert.equal(ok(await dockerB(['images', '-q'])).trim(), '');
  });

  test('push from A, pull on B: same image ID and repository digest, and it runs', async () => {
    const ref = `${plain.host}/team/app:1`;
    ok(await dockerA(['tag', 'app', ref]), 'docker tag');
    const digest = pushedDigest(ok(await dockerA(['push', ref]), 'docker push'), '1');
    assert.equal(await registryDigest(plain, 'team/app', '1'), digest);
    assert.deepEqual(await identity(dockerA, ref), { id: built, digests: [`${plain.host}/team/app@${digest}`] });

    const pulled = ok(await dockerB(['pull', ref]), 'docker pull on B');
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
    assert.deepEqual(await identity(dockerB, ref), { id: built, digests: [`${plain.host}/team/app@${digest}`] });
    assert.equal(ok(await dockerB(['run', '--rm', ref]), 'docker run on B'), 'hello from the context\nbuilt\n');

    // and on A itself: rmi, pull back, same ID
    ok(await dockerA(['rmi', ref]), 'docker rmi on A');
    ok(await dockerA(['pull', ref]), 'docker pull on A');
    assert.deepEqual(await identity(dockerA, ref), { id: built, digests: [`${plain.host}/team/app@${digest}`] });
  });

  test('through an htpasswd registry: B is refused before docker login, gets the same image after it', async () => {
    const ref = `${secure.host}/team/app:1`;
    ok(await dockerA(['tag', 'app', ref]), 'docker tag');
    const deniedPush = await dockerA(['push', ref]);
    assert.equal(deniedPush.code, 1, deniedPush.stdout + deniedPush.stderr);
    assert.match(deniedPush.stderr, /no basic auth credentials/);

    ok(await dockerA(['login', secure.host, '-u', user.user, '--password-stdin'], { input: `${user.password}\n` }), 'login on A');
    const digest = pushedDigest(ok(await dockerA(['push', ref]), 'docker push'), '1');
    assert.equal(await registryDigest(secure, 'team/app', '1'), digest);

    const denied = await dockerB(['pull', ref]);
    assert.equal(denied.code, 1, denied.stdout + denied.stderr);
    assert.match(denied.stderr, /unauthorized|no basic auth credentials/i);
    assert.match(denied.stderr, /Error response from daemon/);
    assert.equal(ok(await dockerB(['images', '-q', ref])).trim(), '', 'a refused pull leaves no image');

    const login = await dockerB(['login', secure.host, '-u', user.user, '--password-stdin'], { input: `${user.password}\n` });
    assert.equal(login.code, 0, login.stderr);
    const config = JSON.parse(fs.readFileSync(path.join(b.env.DOCKER_CONFIG!, 'config.json'), 'utf8'));
    assert.ok(config.auths[secure.host], 'B\'s login is stored in B\'s DOCKER_CONFIG');
    const pulled = ok(await dockerB(['pull', ref]), 'docker pull on B after login');
    assert.match(pulled, new RegExp(`Digest: ${digest}`));
    const got = await identity(dockerB, ref);
    assert.equal(got.id, built);
    assert.ok(got.digests.includes(`${secure.host}/team/app@${digest}`), got.digests.join(' '));
  });
});
