/**
 * Containers through a real berthd and the real docker CLI, with images pulled from a real registry on
 * loopback (the docker CLI pulls on "No such image" and retries), and containers that survive a berthd crash.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { dockerCli, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

let registry: Registry;
let daemon: Berthd;
let docker: BoundCli;

before(async () => {
  registry = await startRegistry();
  await seedImages(registry);
  daemon = await startBerthd({ registryMirror: registry.url, insecureRegistries: [registry.host] });
  docker = dockerCli(daemon);
});

after(async () => {
  await docker(['rm', '-f', 'survivor']).catch(() => undefined);
  await daemon?.stop();
  await registry?.stop();
});

test('docker run --rm hello-world pulls, runs and removes', async () => {
  const r = await docker(['run', '--rm', 'hello-world']);
  assert.equal(r.code, 0, r.stderr + daemon.logs());
  assert.match(r.stdout, /Hello/);
  assert.match(r.stderr, /Unable to find image 'hello-world:latest' locally/);
  assert.equal(ok(await docker(['ps', '-aq'])), '');
});

test('docker run busybox echo hi; exit codes; ps -a keeps it', async () => {
  const r = await docker(['run', 'busybox', 'echo', 'hi']);
  assert.equal(r.stdout, 'hi\n', r.stderr);
  assert.equal(r.code, 0);
  assert.equal((await docker(['run', '--rm', 'busybox', 'sh', '-c', 'exit 42'])).code, 42);
  const ps = ok(await docker(['ps', '-a', '--format', '{{.Image}} {{.Command}} {{.Status}}']));
  assert.match(ps, /^busybox "echo hi" Exited \(0\) /);
  ok(await docker(['container', 'prune', '-f']));
});

test('a detached container survives a berthd crash and is managed again after restart', async () => {
  const id = ok(await docker(['run', '-d', '--name', 'survivor', 'busybox', 'sh', '-c', 'trap "exit 0" TERM; echo up; while true; do sleep 0.1; done'])).trim();
  await daemon.kill9();
  await daemon.restart();
  assert.match(ok(await docker(['ps', '--format', '{{.ID}} {{.Status}}'])), new RegExp(`^${id.slice(0, 12)} Up `));
  assert.equal(ok(await docker(['logs', 'survivor'])), 'up\n');
  const waiting = docker(['wait', 'survivor']);
  ok(await docker(['stop', 'survivor']));
  assert.equal(ok(await waiting), '0\n');
  ok(await docker(['rm', 'survivor']));
});
