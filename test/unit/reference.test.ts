import { test } from 'node:test';
import assert from 'node:assert/strict';
import { familiarName, familiarString, fullString, parseReference, familiarize } from '../../src/image/reference';

test('single name normalises to docker.io/library with latest', () => {
  const r = parseReference('busybox');
  assert.deepEqual(r, { domain: 'docker.io', path: 'library/busybox', tag: undefined, digest: undefined });
  assert.equal(fullString(r), 'docker.io/library/busybox:latest');
  assert.equal(familiarString(r), 'busybox:latest');
});

test('registry with port, nested path, tag', () => {
  const r = parseReference('127.0.0.1:5000/team/app:1.2');
  assert.equal(r.domain, '127.0.0.1:5000');
  assert.equal(r.path, 'team/app');
  assert.equal(r.tag, '1.2');
  assert.equal(familiarName(r), '127.0.0.1:5000/team/app');
});

test('digest references keep no default tag', () => {
  const d = 'sha256:' + 'a'.repeat(64);
  const r = parseReference(`busybox@${d}`);
  assert.equal(r.digest, d);
  assert.equal(fullString(r), `docker.io/library/busybox@${d}`);
});

test('user repos on docker hub and legacy index host', () => {
  assert.equal(fullString(parseReference('index.docker.io/me/app')), 'docker.io/me/app:latest');
  assert.equal(familiarString(parseReference('docker.io/me/app:2')), 'me/app:2');
  assert.equal(familiarize('docker.io/library/busybox:latest'), 'busybox:latest');
  assert.equal(parseReference('localhost/app').domain, 'localhost');
});

test('invalid references are refused with dockerd wording', () => {
  for (const bad of ['', 'UPPER', 'a:b:c', 'busybox:', 'busy box', 'a//b', '-x', 'busybox@sha256:zz', 'x:' + 't'.repeat(200)]) {
    assert.throws(() => parseReference(bad), /invalid reference format|must be lowercase/, bad);
  }
  assert.throws(() => parseReference('a'.repeat(64)), /64-byte hexadecimal/);
});
