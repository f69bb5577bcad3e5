import { test } from 'node:test';
import assert from 'node:assert/strict';
import { matchesNetworkListFilters, portSet } from '../../src/engine/container-list-filters';
import type { ContainerRecord } from '../../src/engine/containers-store';
import { parseMac } from '../../src/network/endpoints';

test('portSet: single ports, protocols, ranges, and dockerd-worded refusals', () => {
  assert.deepEqual([...portSet('expose', ['80'])], ['80/tcp']);
  assert.deepEqual([...portSet('expose', ['53/UDP', '8000-8002'])], ['53/udp', '8000/tcp', '8001/tcp', '8002/tcp']);
  assert.throws(() => portSet('publish', ['127.0.0.1:80']), /filter for 'publish' should not contain ':'/);
  assert.throws(() => portSet('expose', ['90-80']), /error while looking up for expose 90-80: Invalid range specified for the Port: 90-80/);
  assert.throws(() => portSet('expose', ['http']), /strconv.ParseUint: parsing "http": invalid syntax/);
});

test('matchesNetworkListFilters: network by name or ID prefix, volume, publish/expose', () => {
  const record = {
    networkSettings: { Networks: { web: { NetworkID: 'abc123' } } },
    mounts: [{ Name: 'data', Source: '/var/lib/x', Destination: '/data' }, { Source: '/host', Destination: '/h' }],
  } as unknown as ContainerRecord;
  const view = { record, ports: [{ PrivatePort: 80, PublicPort: 8080, Type: 'tcp' }, { PrivatePort: 53, Type: 'udp' }] };
  const f = (k: string, ...v: string[]) => new Map([[k, v]]);
  assert.ok(matchesNetworkListFilters(view, f('network', 'web')));
  assert.ok(matchesNetworkListFilters(view, f('network', 'abc')));
  assert.ok(!matchesNetworkListFilters(view, f('network', 'other')));
  assert.ok(matchesNetworkListFilters(view, f('volume', 'data')));
  assert.ok(matchesNetworkListFilters(view, f('volume', '/host')));
  assert.ok(matchesNetworkListFilters(view, f('volume', '/h')));
  assert.ok(!matchesNetworkListFilters(view, f('volume', '/var/lib/x')), 'a named volume matches by name, not source');
  assert.ok(matchesNetworkListFilters(view, f('publish', '8080')));
  assert.ok(!matchesNetworkListFilters(view, f('publish', '80')));
  assert.ok(matchesNetworkListFilters(view, f('expose', '53/udp')));
  assert.ok(!matchesNetworkListFilters(view, f('expose', '53')));
});

test('parseMac: normalised, malformed and multicast refused', () => {
  assert.equal(parseMac('92:D0:C6:0A:29:33'), '92:d0:c6:0a:29:33');
  assert.equal(parseMac('92-d0-c6-0a-29-33'), '92:d0:c6:0a:29:33');
  assert.throws(() => parseMac('92:d0:c6:0a:29'), /invalid MAC address/);
  assert.throws(() => parseMac('01:00:5e:00:00:01'), /multicast/);
});
