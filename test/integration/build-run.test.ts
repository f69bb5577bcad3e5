/**
 * RUN in the classic builder with the real runtime: berthd (real runc, real overlay) builds from a busybox
 * pulled through a registry mirror; the image runs and has what the RUN steps made (files, a whiteout, a
 * heredoc's output, the user), a failing RUN leaves nothing behind, and a rebuild is fully cached.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { berthCli, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;

function contextDir(root: string, name: string, files: Record<string, string>): string {
  const dir = path.join(root, name);
  fs.mkdirSync(dir, { recursive: true });
  for (const [f, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, f), text);
  return dir;
}

/** Short container IDs from ` ---> Running in <id>` lines. */
function runIds(out: string): string[] {
  return [...out.matchAll(/ ---> Running in ([0-9a-f]{12})/g)].map((m) => m[1]);
}

function leftovers(d: Berthd, ids: string[]): string[] {
  const found: string[] = [];
  const tmp = path.join(d.dataRoot, 'tmp');
  for (const n of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) if (n.startsWith('build-run-')) found.push(`tmp/${n}`);
  for (const line of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && mp.startsWith(d.dataRoot + '/tmp/')) found.push(`mount ${mp}`);
  }
  const state = path.join(d.execRoot, 'build-runc');
  for (const n of fs.existsSync(state) ? fs.readdirSync(state) : []) found.push(`runc state ${n}`);
  for (const ctl of fs.readdirSync('/sys/fs/cgroup')) {
    const parent = path.join('/sys/fs/cgroup', ctl, 'berth-build');
    if (!fs.existsSync(parent)) continue;
    for (const n of fs.readdirSync(parent)) if (ids.some((id) => n.startsWith(id))) found.push(`cgroup ${parent}/${n}`);
  }
  return found;
}

describe('RUN with the real runtime', { skip, timeout: 240_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let berth: BoundCli;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync('/tmp/berth-build-run-');
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    berth = berthCli(daemon);
  });

  after(async () => {
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const dockerfile = [
    'FROM busybox',
    'RUN echo hi > /greeting && mkdir -p /app',
    'RUN rm /bin/vi',
    'RUN <<EOF',
    'echo from-heredoc > /app/heredoc.txt',
    'echo heredoc step ran',
    'EOF',
    'WORKDIR /work/dir',
    'RUN pwd > /app/pwd.txt',
    'USER nobody',
    'RUN id -u',
    '',
  ].join('\n');

  test('RUN steps make layers: files, a whiteout, a heredoc, WORKDIR, USER; a rebuild is fully cached', async () => {
    const ctx = contextDir(tmp, 'ok', { Dockerfile: dockerfile });
    const first = await berth(['build', '-t', 'runapp', ctx], { timeoutMs: 120_000 });
    assert.equal(first.code, 0, first.stdout + first.stderr);
    assert.match(first.stdout, /heredoc step ran\n/);
    assert.match(first.stdout, /Step 8\/8 : RUN id -u\n ---> Running in [0-9a-f]{12}\n65534\n/);
    assert.equal(runIds(first.stdout).length, 5);

    const show = await berth(['run', '--rm', 'runapp', 'sh', '-c', 'cat /greeting /app/heredoc.txt /app/pwd.txt; id -u; test -e /bin/vi || echo vi-gone']);
    assert.equal(show.code, 0, show.stderr);
    assert.equal(show.stdout, 'hi\nfrom-heredoc\n/work/dir\n65534\nvi-gone\n');
    const history = ok(await berth(['history', '--no-trunc', '--format', '{{.CreatedBy}}', 'runapp']));
    assert.match(history, /\/bin\/sh -c echo hi > \/greeting && mkdir -p \/app/);

    const second = await berth(['build', '-t', 'runapp', ctx], { timeoutMs: 60_000 });
    assert.equal(second.code, 0, second.stderr);
    assert.equal((second.stdout.match(/ ---> Using cache/g) ?? []).length, 7, second.stdout);
    assert.equal(runIds(second.stdout).length, 0);
    assert.deepEqual(leftovers(daemon, runIds(first.stdout)), []);
  });

  test('a failing RUN prints its output and the exit code, and leaves no image, dir, mount, runc state or cgroup', async () => {
    const before = ok(await berth(['images', '-q', '-a'])).split('\n').filter(Boolean).sort();
    const ctx = contextDir(tmp, 'fail', { Dockerfile: 'FROM busybox\nRUN echo about to fail; echo on-stderr >&2; exit 3\n' });
    const r = await berth(['build', '-t', 'willfail', ctx], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    const all = r.stdout + r.stderr;
    assert.match(all, /about to fail\n/);
    assert.match(all, /on-stderr\n/);
    assert.match(all, /The command '\/bin\/sh -c echo about to fail; echo on-stderr >&2; exit 3' returned a non-zero code: 3/);

    const ctx2 = contextDir(tmp, 'false', { Dockerfile: 'FROM busybox\nRUN false\n' });
    const f = await berth(['build', ctx2], { timeoutMs: 60_000 });
    assert.notEqual(f.code, 0);
    assert.match(f.stdout + f.stderr, /The command '\/bin\/sh -c false' returned a non-zero code: 1/);

    const after = ok(await berth(['images', '-q', '-a'])).split('\n').filter(Boolean).sort();
    assert.deepEqual(after, before);
    assert.deepEqual(leftovers(daemon, [...runIds(r.stdout), ...runIds(f.stdout)]), []);
  });

  test('berthd killed (SIGKILL) in the middle of a RUN starts again and removes the step it left', async () => {
    const ctx = contextDir(tmp, 'killed', { Dockerfile: 'FROM busybox\nRUN echo started; sleep 60\n' });
    const building = berth(['build', ctx], { timeoutMs: 90_000 });
    const state = path.join(daemon.execRoot, 'build-runc');
    const deadline = Date.now() + 30_000;
    while (Date.now() < deadline && !(fs.existsSync(state) && fs.readdirSync(state).length > 0)) await new Promise((r) => setTimeout(r, 50));
    const ids = fs.readdirSync(state);
    assert.equal(ids.length, 1, 'the RUN step started');
    await daemon.kill9();
    const r = await building;
    assert.notEqual(r.code, 0);
    assert.ok(leftovers(daemon, []).some((l) => l.startsWith('mount ')), 'the dead daemon left its step mounted');
    await daemon.restart();
    assert.deepEqual(leftovers(daemon, ids.map((id) => id.slice(0, 12))), []);
    const again = await berth(['build', contextDir(tmp, 'after-kill', { Dockerfile: 'FROM busybox\nRUN echo alive-again\n' })], { timeoutMs: 60_000 });
    assert.equal(again.code, 0, again.stdout + again.stderr);
    assert.match(again.stdout, /alive-again\n/);
  });

  test('USER with an unknown name fails like dockerd', async () => {
    const ctx = contextDir(tmp, 'nouser', { Dockerfile: 'FROM busybox\nUSER nosuchuser\nRUN true\n' });
    const r = await berth(['build', ctx], { timeoutMs: 60_000 });
    assert.notEqual(r.code, 0);
    assert.match(r.stdout + r.stderr, /unable to find user nosuchuser/);
    assert.deepEqual(leftovers(daemon, []), []);
  });
});
