import { test } from 'node:test';
import assert from 'node:assert/strict';
import { inCidr, isInsecureRegistry, registryEndpoints } from '../../src/registry/hosts';

test('docker.io goes to registry-1.docker.io, after mirrors', () => {
  assert.deepEqual(registryEndpoints('docker.io', { mirrors: [], insecure: [] }).map((e) => e.baseUrl), ['https://registry-1.docker.io']);
  const eps = registryEndpoints('docker.io', { mirrors: ['http://127.0.0.1:5000/', 'mirror.example.com'], insecure: [] });
  assert.deepEqual(eps.map((e) => [e.baseUrl, e.mirror]), [
    ['http://127.0.0.1:5000', true], ['https://mirror.example.com', true], ['https://registry-1.docker.io', false],
  ]);
  assert.equal(registryEndpoints('index.docker.io', { mirrors: [], insecure: [] })[0].baseUrl, 'https://registry-1.docker.io');
});

test('other registries: https unless insecure; loopback and localhost insecure by default', () => {
  const o = { mirrors: ['http://m'], insecure: ['reg.lan:5000', '10.1.0.0/16'] };
  assert.deepEqual(registryEndpoints('quay.io', o).map((e) => e.baseUrl), ['https://quay.io']);
  assert.deepEqual(registryEndpoints('127.0.0.1:5000', o).map((e) => e.baseUrl), ['http://127.0.0.1:5000']);
  assert.equal(isInsecureRegistry('127.3.4.5:80', []), true);
  assert.equal(isInsecureRegistry('localhost:5000', []), true);
  assert.equal(isInsecureRegistry('[::1]:5000', []), true);
  assert.equal(isInsecureRegistry('reg.lan:5000', o.insecure), true);
  assert.equal(isInsecureRegistry('reg.lan:5001', o.insecure), false);
  assert.equal(isInsecureRegistry('10.1.200.3:5000', o.insecure), true);
  assert.equal(isInsecureRegistry('10.2.0.1:5000', o.insecure), false);
  assert.equal(isInsecureRegistry('myhost:5000', ['http://myhost:5000']), true);
});

test('CIDR matching for both families', () => {
  assert.equal(inCidr('192.168.1.7', '192.168.0.0/16'), true);
  assert.equal(inCidr('192.169.1.7', '192.168.0.0/16'), false);
  assert.equal(inCidr('1.2.3.4', '0.0.0.0/0'), true);
  assert.equal(inCidr('fd00::1', 'fd00::/8'), true);
  assert.equal(inCidr('fe80::1', 'fd00::/8'), false);
  assert.equal(inCidr('1.2.3.4', 'fd00::/8'), false);
});
