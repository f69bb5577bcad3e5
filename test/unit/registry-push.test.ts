import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loginDomain } from '../../src/engine/auth-check';
import { splitSearchTerm } from '../../src/engine/search';
import { isKind } from '../../src/errors';
import { RegistryHttpError } from '../../src/registry/errors';
import { pushEndpoint, translatePushError } from '../../src/registry/push';

test('search terms name their registry like dockerd splits them', () => {
  assert.deepEqual(splitSearchTerm('busybox'), ['docker.io', 'busybox']);
  assert.deepEqual(splitSearchTerm('team/app'), ['docker.io', 'team/app']);
  assert.deepEqual(splitSearchTerm('127.0.0.1:5000/team'), ['127.0.0.1:5000', 'team']);
  assert.deepEqual(splitSearchTerm('localhost/x'), ['localhost', 'x']);
  assert.deepEqual(splitSearchTerm('index.docker.io/library/busybox'), ['docker.io', 'library/busybox']);
});

test('login server addresses map to one registry domain', () => {
  assert.equal(loginDomain(undefined), 'docker.io');
  assert.equal(loginDomain('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(loginDomain('http://127.0.0.1:5000/'), '127.0.0.1:5000');
  assert.equal(loginDomain('registry.example:443'), 'registry.example:443');
});

test('pushes go to the registry itself, never to a mirror', () => {
  const e = pushEndpoint('docker.io', { mirrors: ['http://127.0.0.1:5000'], insecure: [], mirrorsOnly: true });
  assert.equal(e.baseUrl, 'https://registry-1.docker.io');
  assert.equal(pushEndpoint('127.0.0.1:5000', { mirrors: [], insecure: [] }).baseUrl, 'http://127.0.0.1:5000');
});

test('registry push errors read as dockerd prints them', () => {
  const denied = translatePushError(new RegistryHttpError('PUT', 'u', 403, [{ code: 'DENIED', message: 'requested access to the resource is denied' }]));
  assert.ok(isKind(denied, 'Unauthorized'));
  assert.equal((denied as Error).message, 'denied: requested access to the resource is denied');
  const down = translatePushError(new RegistryHttpError('PUT', 'u', 500, []));
  assert.equal((down as Error).message, 'received unexpected HTTP status: 500 Internal Server Error');
});
