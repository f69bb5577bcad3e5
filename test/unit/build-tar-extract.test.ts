import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { cleanName, extractTar } from '../../src/build/tar-extract';

test('cleanName: the root in every spelling is "", names lose ./ and trailing slashes, climbing out is refused', () => {
  for (const root of ['.', './', './/', '/', '']) assert.equal(cleanName(root), '', root);
  assert.equal(cleanName('./a//b/'), 'a/b');
  assert.equal(cleanName('/etc/passwd'), 'etc/passwd');
  assert.equal(cleanName('a/../b'), 'b');
  for (const bad of ['..', '../x', './../x', 'a/../../x']) assert.throws(() => cleanName(bad), /escapes the archive root/, bad);
});

test('extractTar takes a context made with `tar -C dir -cf - .` (entries under ./, the first one the root itself)', async () => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-tar-extract-'));
  try {
    const src = path.join(tmp, 'src');
    fs.mkdirSync(path.join(src, 'sub'), { recursive: true });
    fs.writeFileSync(path.join(src, 'Dockerfile'), 'FROM busybox\n');
    fs.writeFileSync(path.join(src, 'sub', 'a'), 'hi\n');
    const tar = execFileSync('tar', ['-C', src, '-cf', '-', '.']);
    assert.ok(tar.includes(Buffer.from('./sub/a')), 'the archive names entries under ./');
    const dest = path.join(tmp, 'dest');
    fs.mkdirSync(dest);
    await extractTar((async function* () { yield tar; })(), dest);
    assert.deepEqual(fs.readdirSync(dest).sort(), ['Dockerfile', 'sub']);
    assert.equal(fs.readFileSync(path.join(dest, 'sub', 'a'), 'utf8'), 'hi\n');
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
});
