import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { access } from 'node:fs/promises';
import * as path from 'node:path';
import { ContainerService } from '../../src/engine/containers';
import { isKind } from '../../src/errors';

import { SqliteImageStore } from '../../src/image/image-store';
import { OverlayLayerStore } from '../../src/image/layer-store';
import { silentLogger } from '../../src/util/logger';
import { IMAGE, makeBed, sleep, traces, type Bed } from './containers-fixture';

let bed: Bed;
before(async () => { bed = await makeBed(); });
after(async () => { await bed.close(); });

async function logsOf(id: string, follow = false): Promise<{ stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  for await (const c of bed.svc.logs(id, { follow, stdout: true, stderr: true, sinceNs: 0n, untilNs: 0n })) {
    if (c.stream === 'stderr') stderr += c.data.toString();
    else stdout += c.data.toString();
  }
  return { stdout, stderr };
}

test('run echo: output in the logs, exit code 3 propagates, die event, no traces after rm', async () => {
  const died: string[] = [];
  const unsub = bed.events.subscribe((e) => { if (e.Action === 'die') died.push(e.Actor.Attributes.exitCode); });
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['sh', '-c', 'echo hello; echo oops >&2; exit 3'] }, 'echo3');
  const waited = bed.svc.wait(Id, 'next-exit');
  await bed.svc.start(Id);
  assert.deepEqual(await waited, { StatusCode: 3, Error: null });
  const info = bed.svc.inspect('echo3');
  assert.equal(info.State.Status, 'exited');
  assert.equal(info.State.ExitCode, 3);
  assert.equal(info.Name, '/echo3');
  assert.deepEqual(await logsOf(Id), { stdout: 'hello\n', stderr: 'oops\n' });
  assert.deepEqual(died, ['3']);
  unsub();
  // exited: the rootfs is unmounted, runtime state and cgroups are gone, only the record and dir remain
  assert.deepEqual((await traces(bed, Id)).filter((t) => t !== 'container-dir' && t !== 'exit-file'), []);
  await bed.svc.remove(Id);
  assert.deepEqual(await traces(bed, Id), []);
  assert.throws(() => bed.svc.get(Id), (e) => isKind(e, 'NotFound'));
});

test('the image config applies: env, hostname files, user, workdir', async () => {
  const { Id } = await bed.svc.create({
    Image: IMAGE, Env: ['FOO=bar'], User: 'nobody', WorkingDir: '/tmp', Hostname: 'boaty',
    Cmd: ['sh', '-c', 'echo $FOO $HOSTNAME $(id -u) $(pwd) $(hostname); cat /etc/hostname; ls /sys/class/net'],
  });
  const waited = bed.svc.wait(Id, 'next-exit');
  await bed.svc.start(Id);
  assert.equal((await waited).StatusCode, 0);
  const out = (await logsOf(Id)).stdout.split('\n');
  assert.equal(out[0], 'bar boaty 65534 /tmp boaty');
  assert.equal(out[1], 'boaty');
  assert.equal(out[2], 'lo', 'only loopback in the network namespace');
  await bed.svc.remove(Id);
});

test('a sleeping container is listed as running; stop escalates to SIGKILL; kill works', async () => {
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '100'] });
  await bed.svc.start(Id);
  const running = bed.svc.list();
  assert.equal(running.length, 1);
  assert.equal(running[0].Id, Id);
  assert.equal(running[0].State, 'running');
  assert.match(running[0].Status, /^Up /);
  assert.ok(bed.svc.inspect(Id).State.Pid > 0);
  const t0 = Date.now();
  await bed.svc.stop(Id, 1); // sleep as pid 1 ignores SIGTERM
  assert.ok(Date.now() - t0 >= 900);
  assert.equal(bed.svc.inspect(Id).State.ExitCode, 137);
  assert.equal(bed.svc.list().length, 0);
  assert.equal(bed.svc.list({ all: true }).length, 1);
  await assert.rejects(bed.svc.stop(Id), (e) => isKind(e, 'NotModified'));

  // restart the same container, then kill it
  await bed.svc.start(Id);
  assert.equal(bed.svc.inspect(Id).State.Status, 'running');
  const waited = bed.svc.wait(Id);
  await bed.svc.kill(Id, 'KILL');
  assert.equal((await waited).StatusCode, 137);
  await assert.rejects(bed.svc.kill(Id), (e) => isKind(e, 'Conflict'));
  await bed.svc.remove(Id);
});

test('rm -f removes a running container and everything it had on the host', async () => {
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '100'] });
  await bed.svc.start(Id);
  assert.ok((await traces(bed, Id)).includes('mount'));
  assert.ok((await traces(bed, Id)).includes('conmon'));
  await assert.rejects(bed.svc.remove(Id), (e) => isKind(e, 'Conflict') && /container is running/.test(e.message));
  const removed = bed.svc.wait(Id, 'removed');
  await bed.svc.remove(Id, { force: true });
  assert.equal((await removed).StatusCode, 137);
  await sleep(50);
  assert.deepEqual(await traces(bed, Id), []);
});

test('failures leave nothing behind: missing image, name conflict, bad name, missing executable', async () => {
  const before = bed.svc.store.list().length;
  await assert.rejects(bed.svc.create({ Image: 'nope:1' }), (e) => isKind(e, 'NotFound') && e.message === 'No such image: nope:1');
  await assert.rejects(bed.svc.create({ Image: IMAGE }, 'bad name!'), (e) => isKind(e, 'InvalidArgument'));
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['/nonexistent'] }, 'taken');
  await assert.rejects(bed.svc.create({ Image: IMAGE }, 'taken'), (e) => isKind(e, 'Conflict') &&
    e.message === `Conflict. The container name "/taken" is already in use by container "${Id}". You have to remove (or rename) that container to be able to reuse that name.`);
  await assert.rejects(bed.svc.start(Id), (e) => /executable file not found|no such file/i.test((e as Error).message));
  const info = bed.svc.inspect(Id);
  assert.equal(info.State.Status, 'created');
  assert.equal(info.State.ExitCode, 127);
  assert.deepEqual((await traces(bed, Id)).filter((t) => t !== 'container-dir'), []);
  await bed.svc.remove(Id);
  assert.equal(bed.svc.store.list().length, before);
});

test('auto-remove: the container goes away after exit; wait removed reports its code', async () => {
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['sh', '-c', 'exit 4'], HostConfig: { AutoRemove: true } });
  const removed = bed.svc.wait(Id, 'removed');
  await bed.svc.start(Id);
  assert.equal((await removed).StatusCode, 4);
  assert.deepEqual(await traces(bed, Id), []);
});

test('follow logs end when the container exits', async () => {
  const { Id } = await bed.svc.create({ Image: IMAGE, Cmd: ['sh', '-c', 'for i in 1 2 3; do echo tick $i; sleep 0.2; done'] });
  await bed.svc.start(Id);
  const { stdout } = await logsOf(Id, true);
  assert.equal(stdout, 'tick 1\ntick 2\ntick 3\n');
  await bed.svc.remove(Id);
});

test('reconciliation: a restarted service finds running containers and exits that happened meanwhile', async () => {
  const long = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '100'] })).Id;
  const short = (await bed.svc.create({ Image: IMAGE, Cmd: ['sh', '-c', 'sleep 0.5; exit 9'] })).Id;
  await bed.svc.start(long);
  await bed.svc.start(short);
  bed.svc.shutdown(); // the old service stops watching, as if berthd died
  await sleep(1200);
  await access(path.join(bed.execRoot, 'exits', short));
  const svc2 = new ContainerService({
    dataRoot: bed.dataRoot, execRoot: bed.execRoot, db: bed.db, images: new SqliteImageStore(bed.db),
    layers: new OverlayLayerStore(bed.dataRoot, bed.db), events: bed.events, log: silentLogger, runtimePath: '/usr/sbin/runc',
  });

  await svc2.init();
  assert.equal(svc2.inspect(short).State.Status, 'exited');
  assert.equal(svc2.inspect(short).State.ExitCode, 9);
  assert.equal(svc2.inspect(long).State.Status, 'running');
  const waited = svc2.wait(long);
  await svc2.kill(long, 'SIGKILL');
  assert.equal((await waited).StatusCode, 137);
  await svc2.remove(long);
  await svc2.remove(short);
  assert.deepEqual(await traces(bed, long), []);
  svc2.shutdown();
  bed.svc = new ContainerService({
    dataRoot: bed.dataRoot, execRoot: bed.execRoot, db: bed.db, images: new SqliteImageStore(bed.db),
    layers: new OverlayLayerStore(bed.dataRoot, bed.db), events: bed.events, log: silentLogger, runtimePath: '/usr/sbin/runc',
  });
  await bed.svc.init();
});
