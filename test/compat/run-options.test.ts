/**
 * `docker run` options checked against what dockerd does: legacy links on the default bridge (/etc/hosts
 * line, the ALIAS_* variables) and on a user-defined network (an extra name), their refusals, and
 * `--entrypoint ""` clearing the image's entrypoint.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { berthCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startDockerBed, type DockerBed } from '../helpers/mirrored-daemon';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

describe('docker CLI: run options against berthd', { skip, timeout: 120_000 }, () => {
  let bed: DockerBed;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    bed = await startDockerBed();
    ({ daemon, docker } = bed);
  });

  after(async () => {
    await bed?.close(['ro-db', 'ro-app', 'ro-user']);
    if (docker) await docker(['network', 'rm', 'ro-net']).catch(() => undefined);
  });

  test('--link on the default bridge: a hosts line and the variables of the linked container', async () => {
    ok(await docker(['run', '-d', '--name', 'ro-db', '-e', 'PASSWORD=pw', '--expose', '5432', '--expose', '80/udp', 'busybox', 'sleep', '600']));
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'ro-db'])).trim();
    const ip = ok(await docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'ro-db'])).trim();
    assert.match(ip, /^\d+\.\d+\.\d+\.\d+$/);
    const out = ok(await docker(['run', '--rm', '--name', 'ro-client', '--link', 'ro-db:db', 'busybox', 'sh', '-c',
      'grep -w db /etc/hosts; env | grep ^DB_ | sort; ping -c1 -W2 db >/dev/null && echo reached']));
    assert.equal(out, [
      `${ip}\tdb ${id.slice(0, 12)} ro-db`,
      `DB_ENV_PASSWORD=pw`,
      `DB_NAME=/ro-client/db`,
      `DB_PORT=udp://${ip}:80`,
      `DB_PORT_5432_TCP=tcp://${ip}:5432`, `DB_PORT_5432_TCP_ADDR=${ip}`, `DB_PORT_5432_TCP_PORT=5432`, `DB_PORT_5432_TCP_PROTO=tcp`,
      `DB_PORT_80_UDP=udp://${ip}:80`, `DB_PORT_80_UDP_ADDR=${ip}`, `DB_PORT_80_UDP_PORT=80`, `DB_PORT_80_UDP_PROTO=udp`,
      'reached', '',
    ].join('\n'));
    // the berth CLI sends --link too
    assert.match(ok(await berthCli(daemon)(['run', '--rm', '--link', 'ro-db', 'busybox', 'grep', '-w', 'ro-db', '/etc/hosts'])), new RegExp(`^${ip.replace(/\./g, '\\.')}\tro-db `));
  });

  test('links are stored as dockerd stores them; a stopped or missing target is refused without a pull', async () => {
    ok(await docker(['create', '--name', 'ro-app', '--link', 'ro-db:db', 'busybox', 'true']));
    assert.equal(ok(await docker(['inspect', '-f', '{{.HostConfig.Links}}', 'ro-app'])).trim(), '[/ro-db:/ro-app/db]');
    ok(await docker(['stop', '-t', '0', 'ro-db']));
    const start = await docker(['start', 'ro-app']);
    assert.notEqual(start.code, 0);
    assert.match(start.stderr, /Cannot link to a non running container: \/ro-db AS \/ro-app\/db/);
    const missing = await docker(['run', '--rm', '--link', 'no-such-container:x', 'busybox', 'true']);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /could not get container for no-such-container/);
    assert.doesNotMatch(missing.stderr, /Unable to find image/);
  });

  test('--link on a user-defined network is an extra name for the linked container', async () => {
    ok(await docker(['network', 'create', 'ro-net']));
    ok(await docker(['run', '-d', '--name', 'ro-user', '--network', 'ro-net', 'busybox', 'sleep', '600']));
    assert.equal(ok(await docker(['run', '--rm', '--network', 'ro-net', '--link', 'ro-user:other', 'busybox', 'sh', '-c',
      'ping -c1 -W2 other >/dev/null && echo reached; env | grep -c ^OTHER_ || true'])), 'reached\n0\n');
  });

  test('--entrypoint "" clears the image\'s entrypoint', async () => {
    assert.equal(ok(await docker(['run', '--rm', '--network', 'none', '--entrypoint', '', 'busybox', 'echo', 'no entrypoint'])), 'no entrypoint\n');
  });
});
