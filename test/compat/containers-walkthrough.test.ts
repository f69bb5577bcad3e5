/**
 * The Docker course container walkthrough with the real docker CLI against berthd, output shaped as
 * dockerd's: run (with its implicit pull), logs, ps, create/start -a, stop/kill, pause, rename, exec, cp,
 * diff, rm, prune, image rm conflicts and `docker stop $(docker container ls -q)`. (`run -it` lives in
 * exec-tty.test.ts.)
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const T = { timeoutMs: 30_000 };

describe('docker course walkthrough against berthd', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let tmp: string;
  const inspect = async (name: string, tmpl: string) => ok(await docker(['inspect', '-f', tmpl, name], T), `inspect ${name}`).trim();

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-walk-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox', 'hello-world']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
  });

  after(async () => {
    if (docker) {
      const ids = (await docker(['ps', '-aq'], T).catch(() => ({ stdout: '' }))).stdout.trim().split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-f', ...ids], T).catch(() => undefined);
    }
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('run hello-world pulls once, then only greets', async () => {
    const first = await docker(['run', 'hello-world'], { timeoutMs: 60_000 });
    ok(first, 'run hello-world');
    assert.match(first.stderr, /^Unable to find image 'hello-world:latest' locally\n/);
    assert.match(first.stderr, /latest: Pulling from library\/hello-world/);
    assert.match(first.stderr, /Digest: sha256:[0-9a-f]{64}/);
    assert.match(first.stderr, /Status: Downloaded newer image for hello-world:latest/);
    assert.match(first.stdout, /Hello from a berth container!/);
    const second = await docker(['run', 'hello-world'], T);
    ok(second, 'second run hello-world');
    assert.doesNotMatch(second.stderr, /Unable to find image|Pulling from/);
    assert.match(second.stdout, /Hello from a berth container!/);
  });

  test('run -d ping, logs, ps and ps -a columns', async () => {
    const id = ok(await docker(['run', '-d', '--name', 'wt-ping', 'busybox', 'ping', '127.0.0.1'], { timeoutMs: 60_000 })).trim();
    assert.match(id, /^[0-9a-f]{64}$/);
    await sleep(1500);
    const logs = ok(await docker(['logs', 'wt-ping'], T));
    assert.match(logs, /^PING 127\.0\.0\.1 \(127\.0\.0\.1\): 56 data bytes\n/);
    assert.match(logs, /64 bytes from 127\.0\.0\.1: seq=0 ttl=64 time=/);
    const ps = ok(await docker(['ps'], T)).split('\n');
    assert.match(ps[0], /^CONTAINER ID\s+IMAGE\s+COMMAND\s+CREATED\s+STATUS\s+PORTS\s+NAMES$/);
    const row = ps.find((l) => l.endsWith('wt-ping')) ?? '';
    assert.match(row, new RegExp(`^${id.slice(0, 12)}\\s+busybox\\s+"ping 127\\.0\\.0\\.1"\\s+\\S.* ago\\s+Up \\S.*\\s+wt-ping$`));
    const psa = ok(await docker(['ps', '-a'], T));
    assert.match(psa, /hello-world\s+"\/hello"\s+.* ago\s+Exited \(0\) .* ago\s+\S+/);
    assert.doesNotMatch(ok(await docker(['ps'], T)), /hello-world/);
  });

  test('create -> Created; start -a prints output', async () => {
    ok(await docker(['create', '--name', 'wt-created', 'busybox', 'echo', 'hello from start'], T));
    assert.equal(await inspect('wt-created', '{{.State.Status}}'), 'created');
    const st = ok(await docker(['ps', '-a', '--filter', 'name=^wt-created$', '--format', '{{.Status}}'], T)).trim();
    assert.equal(st, 'Created');
    assert.equal(ok(await docker(['start', '-a', 'wt-created'], T)), 'hello from start\n');
    assert.equal(await inspect('wt-created', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 0');
  });

  test('stop -t 2 kills a container ignoring SIGTERM (137); kill; pause/unpause; rename', async () => {
    ok(await docker(['run', '-d', '--name', 'wt-stubborn', 'busybox', 'sh', '-c', 'trap "" TERM; sleep 600'], T));
    await sleep(300);
    const t0 = Date.now();
    assert.equal(ok(await docker(['stop', '-t', '2', 'wt-stubborn'], T)).trim(), 'wt-stubborn');
    const took = Date.now() - t0;
    assert.ok(took >= 1900 && took < 10_000, `stop took ${took} ms`);
    assert.equal(await inspect('wt-stubborn', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');
    assert.match(ok(await docker(['ps', '-a', '--filter', 'name=^wt-stubborn$', '--format', '{{.Status}}'], T)), /^Exited \(137\) /);

    ok(await docker(['run', '-d', '--name', 'wt-kill', 'busybox', 'sleep', '600'], T));
    assert.equal(ok(await docker(['kill', 'wt-kill'], T)).trim(), 'wt-kill');
    assert.equal(await inspect('wt-kill', '{{.State.Status}} {{.State.ExitCode}}'), 'exited 137');

    assert.equal(ok(await docker(['pause', 'wt-ping'], T)).trim(), 'wt-ping');
    assert.match(ok(await docker(['ps', '--filter', 'name=^wt-ping$', '--format', '{{.Status}}'], T)).trim(), /^Up .* \(Paused\)$/);
    assert.equal(ok(await docker(['unpause', 'wt-ping'], T)).trim(), 'wt-ping');
    assert.equal(await inspect('wt-ping', '{{.State.Status}}'), 'running');

    ok(await docker(['rename', 'wt-ping', 'wt-pinger'], T));
    assert.equal(await inspect('wt-pinger', '{{.Name}}'), '/wt-pinger');
    const gone = await docker(['inspect', 'wt-ping'], T);
    assert.notEqual(gone.code, 0);
    assert.match(gone.stderr, /No such object: wt-ping/);
  });

  test('exec sh -c, cp both ways, diff shows A/C/D', async () => {
    ok(await docker(['run', '-d', '--name', 'wt-fs', 'busybox', 'sleep', '600'], T));
    assert.equal(ok(await docker(['exec', 'wt-fs', 'sh', '-c', 'echo $((6*7)) > /tmp/answer && cat /tmp/answer'], T)), '42\n');
    const hostFile = path.join(tmp, 'in.txt');
    fs.writeFileSync(hostFile, 'from the host\n');
    ok(await docker(['cp', hostFile, 'wt-fs:/root/in.txt'], T), 'cp to container');
    assert.equal(ok(await docker(['exec', 'wt-fs', 'cat', '/root/in.txt'], T)), 'from the host\n');
    ok(await docker(['cp', 'wt-fs:/tmp/answer', path.join(tmp, 'answer')], T), 'cp from container');
    assert.equal(fs.readFileSync(path.join(tmp, 'answer'), 'utf8'), '42\n');

    ok(await docker(['exec', 'wt-fs', 'sh', '-c', 'rm /etc/group; echo x >> /etc/passwd'], T));
    const diff = ok(await docker(['diff', 'wt-fs'], T)).split('\n').filter(Boolean);
    for (const want of ['C /tmp', 'A /tmp/answer', 'C /root', 'A /root/in.txt', 'C /etc', 'D /etc/group', 'C /etc/passwd']) {
      assert.ok(diff.includes(want), `diff lacks "${want}": ${diff.join(' | ')}`);
    }
  });

  test('image rm busybox is refused while a container uses it', async () => {
    const imageId = await inspect('busybox', '{{.Id}}');
    const r = await docker(['image', 'rm', 'busybox'], T);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, new RegExp(
      `^Error response from daemon: conflict: unable to remove repository reference "busybox" \\(must force\\) - container [0-9a-f]{12} is using its referenced image ${imageId.replace('sha256:', '').slice(0, 12)}\\n$`));
    assert.equal(await inspect('busybox', '{{.Id}}'), imageId);
  });

  test('rm -f, container prune -f, system prune -f, docker stop $(docker container ls -q)', async () => {
    ok(await docker(['rm', '-f', 'wt-fs'], T));
    assert.notEqual((await docker(['inspect', 'wt-fs'], T)).code, 0);

    const stopped = ok(await docker(['ps', '-aq', '--filter', 'status=exited'], T)).trim().split('\n').filter(Boolean);
    assert.ok(stopped.length >= 4, `stopped: ${stopped.join(',')}`);
    const pruned = ok(await docker(['container', 'prune', '-f'], T));
    assert.match(pruned, /^Deleted Containers:\n/);
    for (const id of stopped) assert.ok(pruned.includes(id), `prune did not list ${id}`);
    assert.match(pruned, /Total reclaimed space: /);
    assert.equal(ok(await docker(['ps', '-aq', '--filter', 'status=exited'], T)).trim(), '');

    ok(await docker(['run', '--name', 'wt-exited', 'busybox', 'true'], T));
    ok(await docker(['run', '-d', '--name', 'wt-second', 'busybox', 'sleep', '600'], T));
    const sys = ok(await docker(['system', 'prune', '-f'], T));
    assert.match(sys, /Total reclaimed space: /);
    assert.notEqual((await docker(['inspect', 'wt-exited'], T)).code, 0, 'system prune kept a stopped container');
    assert.equal(await inspect('wt-second', '{{.State.Running}}'), 'true');
    assert.equal(await inspect('busybox', '{{.RepoTags}}'), '[busybox:latest]');

    const running = ok(await docker(['container', 'ls', '-q'], T)).trim().split('\n').filter(Boolean);
    assert.equal(running.length, 2); // wt-pinger and wt-second
    const out = ok(await docker(['stop', '-t', '1', ...running], T));
    assert.deepEqual(out.trim().split('\n'), running);
    assert.equal(ok(await docker(['container', 'ls', '-q'], T)).trim(), '');
  });
});
