import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import Database from 'better-sqlite3';
import { migrate } from '../../src/store/db';
import {
  IpLeases, cidrOverlaps, formatCidr, formatIPv4, lowestFree, parseCidr, parseIPv4, pickSubnet, routedCidrs, validatePlan,
} from '../../src/network/ipam';
import { createNetworkRecord, matchNetwork, parseUntil } from '../../src/network/create';
import { macFromIPv4 } from '../../src/network/firewall';
import { resolvConfForNetworks } from '../../src/network/resolv';
import { portForwardChain } from '../../src/network/bridge-anchor';

test('IPv4 and CIDR parsing', () => {
  assert.equal(formatIPv4(parseIPv4('10.200.3.4')), '10.200.3.4');
  assert.equal(formatIPv4(parseIPv4('255.255.255.255')), '255.255.255.255');
  assert.throws(() => parseIPv4('10.1.2.256'), /invalid IPv4/);
  assert.throws(() => parseIPv4('10.1.2'), /invalid IPv4/);
  assert.equal(formatCidr(parseCidr('10.1.2.3/16')), '10.1.0.0/16');
  assert.throws(() => parseCidr('10.0.0.0/33'), /invalid CIDR/);
  assert.ok(cidrOverlaps(parseCidr('10.0.0.0/8'), parseCidr('10.5.0.0/24')));
  assert.ok(!cidrOverlaps(parseCidr('10.5.1.0/24'), parseCidr('10.5.0.0/24')));
});

test('lowest free address skips network, gateway, broadcast and used ones; ip-range confines it', () => {
  const plan = validatePlan('10.9.0.0/29');
  assert.equal(formatIPv4(lowestFree(plan, new Set())!), '10.9.0.2');
  const used = new Set([parseIPv4('10.9.0.2'), parseIPv4('10.9.0.3')]);
  assert.equal(formatIPv4(lowestFree(plan, used)!), '10.9.0.4');
  const full = new Set(['10.9.0.2', '10.9.0.3', '10.9.0.4', '10.9.0.5', '10.9.0.6'].map(parseIPv4));
  assert.equal(lowestFree(plan, full), undefined, '10.9.0.7 is the broadcast address');
  const custom = validatePlan('10.9.0.0/24', '10.9.0.2', '10.9.0.128/30');
  assert.equal(formatIPv4(custom.gateway), '10.9.0.2');
  assert.equal(formatIPv4(lowestFree(custom, new Set())!), '10.9.0.128');
  assert.equal(formatIPv4(lowestFree(validatePlan('10.9.0.0/24', '10.9.0.3'), new Set([parseIPv4('10.9.0.1'), parseIPv4('10.9.0.2')]))!), '10.9.0.4', 'custom gateway skipped');
  assert.throws(() => validatePlan('10.9.0.0/24', '10.8.0.1'), /no matching subnet for gateway/);
  assert.throws(() => validatePlan('10.9.0.0/24', undefined, '10.8.0.0/25'), /no matching subnet for range/);
});

test('subnet picking avoids taken subnets and host routes', () => {
  const routes = routedCidrs(`default via 192.0.2.1 dev eth0
10.200.0.0/24 dev x proto kernel scope link src 10.200.0.1
local 10.200.1.7 dev lo table local proto kernel scope host src 10.200.1.7
broadcast 127.255.255.255 dev lo table local proto kernel scope link src 127.0.0.1`);
  assert.deepEqual(routes.map(formatCidr), ['10.200.0.0/24', '10.200.1.7/32', '127.255.255.255/32']);
  const picked = pickSubnet(parseCidr('10.200.0.0/16'), 24, [...routes, parseCidr('10.200.2.0/23')]);
  assert.equal(formatCidr(picked!), '10.200.4.0/24');
  assert.equal(pickSubnet(parseCidr('10.200.0.0/23'), 24, [parseCidr('10.200.0.0/16')]), undefined, 'exhausted pool');
});

test('leases in the database: unique, requested, exhausted, released', () => {
  const db = new Database(':memory:');
  migrate(db);
  db.prepare(`INSERT INTO networks (id, name, driver, created) VALUES ('n1', 'net', 'bridge', 'now')`).run();
  const leases = new IpLeases(db);
  const plan = validatePlan('10.9.0.0/29');
  assert.equal(leases.lease('n1', plan, 'c1'), '10.9.0.2');
  assert.equal(leases.lease('n1', plan, 'c2', '10.9.0.5'), '10.9.0.5');
  assert.throws(() => leases.lease('n1', plan, 'c3', '10.9.0.5'), /Address already in use/);
  assert.throws(() => leases.lease('n1', plan, 'c3', '10.9.0.1'), /Address already in use/, 'the gateway');
  assert.throws(() => leases.lease('n1', plan, 'c3', '10.10.0.5'), /does not belong/);
  assert.equal(leases.lease('n1', plan, 'c3'), '10.9.0.3');
  assert.equal(leases.lease('n1', plan, 'c4'), '10.9.0.4');
  assert.equal(leases.lease('n1', plan, 'c5'), '10.9.0.6');
  assert.throws(() => leases.lease('n1', plan, 'c6'), (err: Error & { kind?: string }) => err.kind === 'Conflict' && /no available IPv4 addresses/.test(err.message));
  leases.release('n1', 'c3');
  assert.equal(leases.lease('n1', plan, 'c6'), '10.9.0.3');
  db.prepare(`DELETE FROM networks WHERE id = 'n1'`).run();
  assert.equal(leases.leasesOf('n1').length, 0, 'leases go with their network');
  db.close();
});

test('network create requests: auto subnet, collisions, names, drivers', () => {
  const ctx = { existing: [], routes: '10.200.0.0/24 dev eth9 scope link\n', pool: parseCidr('10.200.0.0/16'), poolPrefix: 24, hostLinks: ['eth0'] };
  const a = createNetworkRecord({ Name: 'a' }, ctx);
  assert.equal(a.subnet, '10.200.1.0/24');
  assert.equal(a.gateway, '10.200.1.1');
  assert.ok(a.dnsEnabled);
  assert.match(a.bridge, /^berth-[0-9a-f]{9}$/);
  const b = createNetworkRecord({ Name: 'b' }, { ...ctx, existing: [a] });
  assert.equal(b.subnet, '10.200.2.0/24');
  assert.throws(() => createNetworkRecord({ Name: 'a' }, { ...ctx, existing: [a] }), /network with name a already exists/);
  assert.throws(() => createNetworkRecord({ Name: 'c', IPAM: { Config: [{ Subnet: '10.200.1.128/25' }] } }, { ...ctx, existing: [a] }), /Pool overlaps/);
  assert.throws(() => createNetworkRecord({ Name: 'bad/name' }, ctx), (e: Error & { kind?: string }) => e.kind === 'InvalidArgument');
  assert.throws(() => createNetworkRecord({ Name: 'o', Driver: 'overlay' }, ctx), (e: Error & { kind?: string }) => e.kind === 'NotFound');
  assert.throws(() => createNetworkRecord({ Name: 'h', Driver: 'host' }, ctx), (e: Error & { kind?: string }) => e.kind === 'Forbidden');
  assert.throws(() => createNetworkRecord({ Name: 'x', Options: { 'com.docker.network.bridge.name': 'eth0' } }, ctx), /already in use/);
  const c = createNetworkRecord({ Name: 'c', Internal: true, Labels: { k: 'v' }, IPAM: { Config: [{ Subnet: '10.210.0.0/16', Gateway: '10.210.0.254', IPRange: '10.210.5.0/24' }] } }, ctx);
  assert.deepEqual([c.subnet, c.gateway, c.ipRange, c.internal], ['10.210.0.0/16', '10.210.0.254', '10.210.5.0/24', true]);
  assert.ok(matchNetwork(c, new Map([['label', ['k=v']], ['type', ['custom']], ['dangling', ['true']]]), false));
  assert.ok(!matchNetwork(c, new Map([['label', ['k=w']]]), false));
  assert.ok(!matchNetwork(c, new Map([['dangling', ['true']]]), true));
  assert.ok(matchNetwork(c, new Map([['name', ['^c$']], ['driver', ['bridge']]]), false));
  assert.throws(() => matchNetwork(c, new Map([['type', ['other']]]), false), /invalid filter/);
});

test('small helpers: until, MAC, resolv.conf', () => {
  assert.equal(parseUntil('1h', 10_000_000), 10_000_000 - 3_600_000);
  assert.equal(parseUntil('1700000000'), 1_700_000_000_000);
  assert.equal(macFromIPv4('10.88.0.2'), '02:42:0a:58:00:02');
  assert.equal(resolvConfForNetworks('nameserver 127.0.0.53\nsearch corp.example\n', ['10.9.0.1']), 'nameserver 10.9.0.1\nsearch corp.example\noptions ndots:0\n');
});

test("netavark's port-forward chain name: NETAVARK-DN- and 13 hex of SHA-512 of the network name", () => {
  // the chain netavark 1.4 made for networks named "bridge" and "berthdemo_default" on this host
  assert.equal(portForwardChain('bridge'), 'NETAVARK-DN-7D24D33E39064');
  assert.equal(portForwardChain('berthdemo_default'), 'NETAVARK-DN-7D7041258BA06');
});
