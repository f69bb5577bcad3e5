import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { absContainerPath, goBase, goFileMode, goTime, resolveFollow, resolveNoFollowLast } from '../../src/engine/container-path';
import { prepareArchiveCopy, preserveTrailing, rebaseName, splitPathDirEntry } from '../../src/cli/commands/cp-host';

test('container paths keep a trailing / or /. and never climb above /', () => {
  assert.equal(absContainerPath('etc/passwd'), '/etc/passwd');
  assert.equal(absContainerPath('/etc/'), '/etc/');
  assert.equal(absContainerPath('/etc/.'), '/etc/.');
  assert.equal(absContainerPath('.'), '/.');
  assert.equal(absContainerPath('/'), '/');
  assert.equal(absContainerPath('../../..'), '/');
  assert.equal(goBase('/etc/'), 'etc');
  assert.equal(goBase('/'), '/');
  assert.equal(goBase('/etc/.'), '.');
});

test('Go FileMode and time shapes', () => {
  assert.equal(goFileMode(0o040755), 2 ** 31 + 0o755);
  assert.equal(goFileMode(0o120777), 2 ** 27 + 0o777);
  assert.equal(goFileMode(0o041777), 2 ** 31 + 2 ** 20 + 0o777);
  assert.equal(goFileMode(0o100644), 0o644);
  assert.equal(goFileMode(0o020666), 2 ** 26 + 2 ** 21 + 0o666);
  assert.equal(goTime(1_600_000_000_000_000_000n), '2020-09-13T12:26:40Z');
  assert.equal(goTime(1_600_000_000_120_000_000n), '2020-09-13T12:26:40.12Z');
});

test('resolution follows links inside the root only', async () => {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-unit-cpath-'));
  try {
    fs.mkdirSync(path.join(root, 'etc'));
    fs.writeFileSync(path.join(root, 'etc', 'passwd'), 'x');
    fs.symlinkSync('/', path.join(root, 'up'));
    fs.symlinkSync('../../../../etc', path.join(root, 'rel'));
    assert.equal(await resolveFollow(root, '/up/up/etc/passwd'), path.join(root, 'etc', 'passwd'));
    assert.equal(await resolveFollow(root, '/rel/passwd'), path.join(root, 'etc', 'passwd'));
    assert.equal(await resolveFollow(root, '/up'), root);
    assert.equal((await resolveNoFollowLast(root, '/up')).host, path.join(root, 'up'));
    assert.equal((await resolveNoFollowLast(root, '/up/')).host, root);
    assert.equal((await resolveNoFollowLast(root, '/rel/.')).host, path.join(root, 'etc'));
  } finally {
    fs.rmSync(root, { recursive: true, force: true });
  }
});

test('the docker CLI copy rules: destination dir and top-entry renames', () => {
  assert.deepEqual(splitPathDirEntry('/a/b/.'), { dir: '/a/b', base: '.' });
  assert.equal(preserveTrailing('a//b/'), 'a/b/');
  assert.equal(rebaseName('/bin', '/', 'out'), 'out/bin');
  assert.equal(rebaseName('./x', '.', 'new'), 'new/x');
  const src = { path: '/h/dir', exists: true, isDir: true };
  assert.deepEqual(prepareArchiveCopy(src, { path: '/tmp', exists: true, isDir: true }), { dstDir: '/tmp' });
  assert.deepEqual(prepareArchiveCopy(src, { path: '/tmp/new', exists: false, isDir: false }), { dstDir: '/tmp', rename: ['dir', 'new'] });
  assert.throws(() => prepareArchiveCopy(src, { path: '/etc/passwd', exists: true, isDir: false }), /cannot copy directory/);
  assert.throws(() => prepareArchiveCopy({ path: '/h/f', exists: true, isDir: false }, { path: '/no/', exists: false, isDir: false }), /no such directory/);
});
