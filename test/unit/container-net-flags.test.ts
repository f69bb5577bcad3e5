import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseMount, parsePublish, displayPorts } from '../../src/cli/commands/run-flags-net';
import { portRequests, portsSummary, portsView } from '../../src/engine/container-network';
import type { ContainerConfigRecord, HostConfigRecord } from '../../src/engine/containers-store';

test('-p forms: ip, host port, random, ranges, udp', () => {
  assert.deepEqual(parsePublish('127.0.0.1:8080:80'), [{ key: '80/tcp', hostIp: '127.0.0.1', hostPort: '8080' }]);
  assert.deepEqual(parsePublish('8080:80/udp'), [{ key: '80/udp', hostIp: '', hostPort: '8080' }]);
  assert.deepEqual(parsePublish('80'), [{ key: '80/tcp', hostIp: '', hostPort: '' }]);
  assert.deepEqual(parsePublish('127.0.0.1::80'), [{ key: '80/tcp', hostIp: '127.0.0.1', hostPort: '' }]);
  assert.deepEqual(parsePublish('9000-9001:90-91').map((b) => `${b.hostPort}->${b.key}`), ['9000->90/tcp', '9001->91/tcp']);
  assert.deepEqual(parsePublish('9000-9010:80'), [{ key: '80/tcp', hostIp: '', hostPort: '9000-9010' }]);
  assert.throws(() => parsePublish('9000-9002:90-91'), /invalid ranges/);
  assert.throws(() => parsePublish('80/xyz'), /invalid proto/);
});

test('--mount fields become HostConfig.Mounts entries', () => {
  assert.deepEqual(parseMount('type=bind,source=/a,target=/b,readonly'), { Type: 'bind', Source: '/a', Target: '/b', ReadOnly: true });
  assert.deepEqual(parseMount('type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1777'), { Type: 'tmpfs', Target: '/t', TmpfsOptions: { SizeBytes: 1048576, Mode: 0o1777 } });
  assert.deepEqual(parseMount('src=v,target=/v,volume-nocopy'), { Type: 'volume', Source: 'v', Target: '/v', VolumeOptions: { NoCopy: true } });
  assert.throws(() => parseMount('type=bind,bogus=1'), /unexpected key/);
});

test('published port requests, -P and the inspect/list views', async () => {
  const config = { ExposedPorts: { '80/tcp': {}, '443/tcp': {}, '53/udp': {} } } as unknown as ContainerConfigRecord;
  const hc = { PortBindings: { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }, { HostIp: '', HostPort: '' }] }, PublishAllPorts: true } as unknown as HostConfigRecord;
  const reqs = await portRequests(config, hc);
  assert.deepEqual(reqs, [
    { hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
    { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' },
    { hostIp: '', hostPort: 0, containerPort: 443, protocol: 'tcp' },
    { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
  ]);
  const view = portsView(config, { ...hc, PublishAllPorts: false } as HostConfigRecord, [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]);
  assert.deepEqual(view, { '80/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }], '443/tcp': null, '53/udp': null });
  const summary = portsSummary(view);
  assert.deepEqual(summary[0], { IP: '127.0.0.1', PrivatePort: 80, PublicPort: 8080, Type: 'tcp' });
  assert.equal(displayPorts(summary), '127.0.0.1:8080->80/tcp, 443/tcp, 53/udp');
});
