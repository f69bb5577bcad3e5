/**
 * docker-compose (v1, Debian's docker-compose package on the Docker SDK for Python) against berthd: a
 * two-service project with a published port, a named volume, a health check and service-name DNS; `up -d`,
 * `ps`, `logs`, `exec`, `run --rm`, `down -v`, and nothing of the project left afterwards.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, ok, run, type BoundCli, type RunResult } from '../helpers/cli';
import { getLoopbackSoon } from '../helpers/http';
import type { Berthd } from '../helpers/daemon';
import { freePort } from '../helpers/registry';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';

const COMPOSE = '/usr/bin/docker-compose';
const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(COMPOSE) ? 'no docker-compose (scripts/setup installs it)' : false;

describe('docker-compose v1 against berthd', { skip, timeout: 300_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;
  let docker: BoundCli;
  let dir: string;
  let port: number;
  // `run` and `exec` go through the docker CLI, as compose does by default on Linux; `sdk` makes compose do
  // them itself with the Python SDK (COMPOSE_INTERACTIVE_NO_CLI=1)
  const compose = (args: string[], sdk = false): Promise<RunResult> =>
    run(COMPOSE, ['-p', 'berthdemo', ...args], { env: { ...daemon.env, ...(sdk ? { COMPOSE_INTERACTIVE_NO_CLI: '1' } : {}) }, cwd: dir, timeoutMs: 120_000 });

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
    port = await freePort();
    dir = path.join(daemon.dir, 'project');
    fs.mkdirSync(dir);
    fs.writeFileSync(path.join(dir, 'docker-compose.yml'), `version: "3.8"
services:
  web:
    image: busybox
    command: ["sh", "-c", "echo web up; while true; do printf 'HTTP/1.0 200 OK\\r\\n\\r\\nhello-from-web\\n' | nc -l -p 8080; done"]
    ports: ["127.0.0.1:${port}:8080"]
    environment: [MODE=test]
    volumes: [data:/data]
    depends_on: [db]
    healthcheck:
      test: ["CMD", "true"]
      interval: 1s
  db:
    image: busybox
    command: sh -c "echo db up; echo stored > /data/f; sleep 300"
    volumes: [data:/data]
volumes:
  data: {}
`);
  });

  after(async () => {
    await compose(['down', '-v', '--timeout', '1']).catch(() => undefined);
    await bed?.stop();
  });

  test('up, ps, logs, exec, run, down', async () => {
    const up = await compose(['up', '-d']);
    assert.equal(up.code, 0, up.stdout + up.stderr);
    assert.match(up.stderr, /Creating network "berthdemo_default" with the default driver/);
    assert.match(up.stderr, /Creating berthdemo_web_1 \.\.\. done/);

    const ps = ok(await compose(['ps']));
    assert.match(ps, /berthdemo_db_1\s+.*\s+Up\s/);
    assert.match(ps, new RegExp(`berthdemo_web_1\\s+.*Up.*127\\.0\\.0\\.1:${port}->8080/tcp`));
    assert.equal(await getLoopbackSoon(port), 'hello-from-web\n');

    const logs = ok(await compose(['logs', '--no-color']));
    assert.match(logs, /db_1\s+\| db up/);
    assert.match(logs, /web_1\s+\| web up/);

    // service names resolve on the project network; the volume is shared
    const dns = ok(await compose(['exec', '-T', 'db', 'sh', '-c', 'nslookup web >/dev/null && ping -c1 -W2 web >/dev/null && echo reached']));
    assert.equal(dns.trim(), 'reached');
    assert.equal(ok(await compose(['exec', '-T', 'web', 'cat', '/data/f'])).trim(), 'stored');
    assert.equal(ok(await compose(['exec', '-T', 'web', 'sh', '-c', 'echo $MODE'])).trim(), 'test');
    const ran = await compose(['run', '--rm', '-T', 'db', 'echo', 'ran']);
    assert.equal(ran.code, 0, ran.stderr);
    assert.match(ran.stdout, /^ran$/m, `stdout: ${ran.stdout}\nstderr: ${ran.stderr}`);
    // the SDK path attaches only after its start: output written before the attach is not seen (dockerd
    // alike), so this container waits before it writes
    const viaSdk = await compose(['run', '--rm', '-T', 'db', 'sh', '-c', 'sleep 1; echo ran-sdk; exit 4'], true);
    assert.equal(viaSdk.code, 4, viaSdk.stderr);
    assert.match(viaSdk.stdout, /^ran-sdk$/m, `stdout: ${viaSdk.stdout}\nstderr: ${viaSdk.stderr}`);
    assert.equal(ok(await compose(['exec', '-T', 'db', 'echo', 'sdk-exec'], true)).trim(), 'sdk-exec');

    const down = await compose(['down', '-v', '--timeout', '1']);
    assert.equal(down.code, 0, down.stderr);
    assert.equal(ok(await docker(['ps', '-a', '-q'])).trim(), '');
    assert.doesNotMatch(ok(await docker(['network', 'ls'])), /berthdemo/);
    assert.doesNotMatch(ok(await docker(['volume', 'ls'])), /berthdemo/);
  });
});
