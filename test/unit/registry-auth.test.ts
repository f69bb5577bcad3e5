import { test } from 'node:test';
import assert from 'node:assert/strict';
import { basicHeader, decodeRegistryAuth, parseWWWAuthenticate } from '../../src/registry/auth';
import { isKind } from '../../src/errors';

test('WWW-Authenticate: Bearer with quoted realm, service and scope', () => {
  const c = parseWWWAuthenticate('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/ubuntu:pull"');
  assert.deepEqual(c, [{
    scheme: 'bearer',
    params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/ubuntu:pull' },
  }]);
});

test('WWW-Authenticate: commas inside quotes, escaped quotes, spaces, upper-case names', () => {
  const [c] = parseWWWAuthenticate('bearer  Realm="http://127.0.0.1:5001/token" , scope="repository:a/b:pull,push", error="insufficient_scope", note="say \\"hi\\""');
  assert.equal(c.scheme, 'bearer');
  assert.equal(c.params.realm, 'http://127.0.0.1:5001/token');
  assert.equal(c.params.scope, 'repository:a/b:pull,push');
  assert.equal(c.params.error, 'insufficient_scope');
  assert.equal(c.params.note, 'say "hi"');
});

test('WWW-Authenticate: Basic realm, unquoted values, and two challenges in one header', () => {
  assert.deepEqual(parseWWWAuthenticate('Basic realm="berth-test-registry"'), [{ scheme: 'basic', params: { realm: 'berth-test-registry' } }]);
  const two = parseWWWAuthenticate('Basic realm=reg, Bearer realm="https://x/token",service=reg');
  assert.deepEqual(two.map((c) => c.scheme), ['basic', 'bearer']);
  assert.equal(two[0].params.realm, 'reg');
  assert.equal(two[1].params.service, 'reg');
});

const creds = { username: 'alice', password: '??>>~~~', serveraddress: '127.0.0.1:5000' };
const json = JSON.stringify(creds);

test('X-Registry-Auth: url-safe and standard base64, padded or not', () => {
  const std = Buffer.from(json).toString('base64');
  const url = Buffer.from(json).toString('base64url');
  assert.match(std, /[+/].*=$/, 'fixture should have + or / and padding');
  for (const form of [std, std.replace(/=+$/, ''), url, url + '='.repeat((4 - (url.length % 4)) % 4)]) {
    assert.deepEqual(decodeRegistryAuth(form), creds, form);
  }
});

test('X-Registry-Auth: empty, {} and blank fields mean no credentials', () => {
  assert.equal(decodeRegistryAuth(undefined), undefined);
  assert.equal(decodeRegistryAuth(''), undefined);
  assert.equal(decodeRegistryAuth('e30='), undefined); // {}
  assert.equal(decodeRegistryAuth('e30'), undefined);
  assert.equal(decodeRegistryAuth('{}'), undefined);
  assert.equal(decodeRegistryAuth(Buffer.from('{"username":"","password":""}').toString('base64url')), undefined);
});

test('X-Registry-Auth: auth field, capitalised keys, identity and registry tokens', () => {
  const fromAuth = decodeRegistryAuth(Buffer.from(JSON.stringify({ auth: Buffer.from('bob:se:cret').toString('base64') })).toString('base64url'));
  assert.equal(fromAuth?.username, 'bob');
  assert.equal(fromAuth?.password, 'se:cret');
  const caps = decodeRegistryAuth(Buffer.from(JSON.stringify({ Username: 'u', Password: 'p', ServerAddress: 's' })).toString('base64'));
  assert.deepEqual(caps, { username: 'u', password: 'p', serveraddress: 's' });
  assert.equal(decodeRegistryAuth(Buffer.from('{"identitytoken":"tok"}').toString('base64url'))?.identitytoken, 'tok');
  assert.equal(decodeRegistryAuth(Buffer.from('{"registrytoken":"rt"}').toString('base64url'))?.registrytoken, 'rt');
});

test('X-Registry-Auth: garbage is an invalid argument', () => {
  assert.throws(() => decodeRegistryAuth('!!!not base64 json'), (e) => isKind(e, 'InvalidArgument'));
  assert.throws(() => decodeRegistryAuth(Buffer.from('[1,2]').toString('base64')), (e) => isKind(e, 'InvalidArgument'));
});

test('basic header encodes user:password', () => {
  assert.equal(basicHeader({ username: 'a', password: 'b' }), 'Basic ' + Buffer.from('a:b').toString('base64'));
  assert.equal(basicHeader({}), undefined);
});
