/**
 * Network routes in-process over a temp unix socket: builtin networks listed like Docker's, create
 * (auto and explicit subnets, conflicts, bad input), list filters, inspect by name/ID/prefix, removal rules
 * (builtin 403, unknown 404, active endpoints 403), prune, and connect/disconnect of a namespace this test
 * creates (root; real netavark) through the container hooks.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as os from 'node:os';
import * as path from 'node:path';
import { registerNetworkRoutes } from '../../src/api/networks';
import { Router } from '../../src/api/router';
import { createApiServer } from '../../src/api/server';
import { EventLog, type EngineEvent } from '../../src/engine/events';
import { NetworkService } from '../../src/engine/networks';
import { notFound } from '../../src/errors';
import { cidrOverlaps, parseCidr, routedCidrs } from '../../src/network/ipam';
import { openDb, type Db } from '../../src/store/db';
import { newId } from '../../src/util/ids';
import { silentLogger } from '../../src/util/logger';

interface Reply { status: number; text: string; json: () => any }

const tag = randomBytes(3).toString('hex');
let root: string;
let socket: string;
let db: Db;
let server: http.Server;
let svc: NetworkService;
const events: EngineEvent[] = [];
const containers = new Map<string, { id: string; name: string; running: boolean; netnsPath?: string; networkMode: string }>();

function request(method: string, p: string, body?: unknown): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request({ socketPath: socket, method, path: p, headers: data ? { 'Content-Type': 'application/json' } : {} }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, text, json: () => JSON.parse(text) });
      });
    });
    req.on('error', reject);
    req.end(data);
  });
}
const q = (filters: Record<string, string[]>) => encodeURIComponent(JSON.stringify(filters));

/** /24s in 10.201-10.250 not routed on this host. */
function freeSubnets(count: number): string[] {
  const routes = routedCidrs(execFileSync('ip', ['-4', 'route', 'show', 'table', 'all'], { encoding: 'utf8' }));
  const out: string[] = [];
  while (out.length < count) {
    const s = `10.${201 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0/24`;
    if (!out.includes(s) && !routes.some((r) => cidrOverlaps(r, parseCidr(s)))) out.push(s);
  }
  return out;
}
const [poolA, explicit, bridgeNet] = freeSubnets(3);

before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-netapi-'));
  socket = path.join(root, 'api.sock');
  db = openDb(path.join(root, 'berth.db'));
  const log = new EventLog(db);
  log.subscribe((e) => events.push(e));
  svc = new NetworkService({
    execRoot: path.join(root, 'run'), db, events: log, log: silentLogger,
    bip: bridgeNet.replace(/0\/24$/, '1/24'), bridgeName: `bta${tag}`, pool: poolA, poolPrefix: 26,
    containers: {
      resolve: async (ref) => {
        const c = containers.get(ref) ?? [...containers.values()].find((x) => x.id.startsWith(ref));
        if (!c) throw notFound(`No such container: ${ref}`);
        return c;
      },
    },
  });
  const router = new Router();
  registerNetworkRoutes(router, svc);
  server = createApiServer(router, silentLogger);
  await new Promise<void>((r) => server.listen(socket, r));
});

after(async () => {
  await new Promise((r) => server.close(r));
  await svc.netns.destroy();
  db.close();
  fs.rmSync(root, { recursive: true, force: true });
});

test('builtin networks are listed like Docker and cannot be removed', async () => {
  const list = (await request('GET', '/v1.47/networks')).json() as { Name: string; Driver: string; Scope: string; Containers: object }[];
  const byName = Object.fromEntries(list.map((n) => [n.Name, n]));
  assert.equal(byName.bridge.Driver, 'bridge');
  assert.equal(byName.host.Driver, 'host');
  assert.equal(byName.none.Driver, 'null');
  assert.equal(byName.bridge.Scope, 'local');
  const bridge = (await request('GET', '/networks/bridge')).json();
  assert.deepEqual(bridge.IPAM.Config, [{ Subnet: bridgeNet, Gateway: bridgeNet.replace(/0\/24$/, '1') }]);
  assert.equal(bridge.Options['com.docker.network.bridge.name'], `bta${tag}`);
  assert.match(bridge.Id, /^[0-9a-f]{64}$/);
  for (const name of ['bridge', 'host', 'none']) {
    const r = await request('DELETE', `/networks/${name}`);
    assert.equal(r.status, 403);
    assert.equal(r.json().message, `${name} is a pre-defined network and cannot be removed`);
  }
  const builtin = (await request('GET', `/networks?filters=${q({ type: ['builtin'] })}`)).json();
  assert.deepEqual(builtin.map((n: { Name: string }) => n.Name).sort(), ['bridge', 'host', 'none']);
});

test('create, inspect, list filters, conflicts and bad input', async () => {
  const r = await request('POST', '/networks/create', { Name: `t1-${tag}`, Labels: { app: 'x' } });
  assert.equal(r.status, 201, r.text);
  const id = r.json().Id as string;
  assert.equal(r.json().Warning, '');
  const n = (await request('GET', `/networks/${id.slice(0, 10)}`)).json();
  assert.equal(n.Name, `t1-${tag}`);
  assert.equal(n.IPAM.Config[0].Subnet, poolA.replace(/0\/24$/, '0/26'), 'first /26 of the pool');
  assert.deepEqual(n.Labels, { app: 'x' });
  assert.deepEqual(n.Containers, {});
  assert.equal(n.Internal, false);
  assert.ok(events.some((e) => e.Type === 'network' && e.Action === 'create' && e.Actor.ID === id));

  const e = await request('POST', '/networks/create', {
    Name: `t2-${tag}`, Internal: true, IPAM: { Config: [{ Subnet: explicit, Gateway: explicit.replace(/0\/24$/, '254'), IPRange: explicit.replace(/0\/24$/, '128/25') }] },
  });
  assert.equal(e.status, 201, e.text);
  const n2 = (await request('GET', `/networks/t2-${tag}`)).json();
  assert.deepEqual(n2.IPAM.Config, [{ Subnet: explicit, Gateway: explicit.replace(/0\/24$/, '254'), IPRange: explicit.replace(/0\/24$/, '128/25') }]);
  assert.equal(n2.Internal, true);

  const dup = await request('POST', '/networks/create', { Name: `t1-${tag}` });
  assert.equal(dup.status, 409);
  assert.equal(dup.json().message, `network with name t1-${tag} already exists`);
  assert.equal((await request('POST', '/networks/create', { Name: 'bridge' })).status, 409);
  assert.equal((await request('POST', '/networks/create', { Name: `o-${tag}`, IPAM: { Config: [{ Subnet: explicit }] } })).status, 403, 'overlapping pool');
  assert.equal((await request('POST', '/networks/create', { Name: 'bad name' })).status, 400);
  assert.equal((await request('POST', '/networks/create', { Name: `x-${tag}`, IPAM: { Config: [{ Subnet: '10.1.0.0/40' }] } })).status, 400);
  assert.equal((await request('POST', '/networks/create', { Name: `x-${tag}`, Driver: 'overlay' })).status, 404);
  assert.equal((await request('POST', '/networks/create', { Name: `x-${tag}`, Driver: 'host' })).status, 403);

  const custom = (await request('GET', `/networks?filters=${q({ type: ['custom'] })}`)).json().map((x: { Name: string }) => x.Name).sort();
  assert.deepEqual(custom, [`t1-${tag}`, `t2-${tag}`]);
  const labelled = (await request('GET', `/networks?filters=${q({ label: ['app=x'] })}`)).json();
  assert.deepEqual(labelled.map((x: { Id: string }) => x.Id), [id]);
  const named = (await request('GET', `/networks?filters=${q({ name: [`t2-${tag}`], driver: ['bridge'] })}`)).json();
  assert.equal(named.length, 1);
  const dangling = (await request('GET', `/networks?filters=${q({ dangling: ['true'] })}`)).json().map((x: { Name: string }) => x.Name).sort();
  assert.deepEqual(dangling, [`t1-${tag}`, `t2-${tag}`]);
  assert.equal((await request('GET', `/networks?filters=${q({ type: ['weird'] })}`)).status, 400);
  assert.equal((await request('GET', `/networks?filters=${q({ colour: ['x'] })}`)).status, 400);

  const missing = await request('GET', '/networks/nope');
  assert.equal(missing.status, 404);
  assert.equal(missing.json().message, 'network nope not found');
  assert.equal((await request('DELETE', '/networks/nope')).status, 404);
});

test('connect and disconnect a running "container" (a test netns)', { skip: process.getuid?.() !== 0 && 'needs root' }, async () => {
  const id = newId();
  const netns = await svc.createNetns(id);
  containers.set('web', { id, name: 'web', running: true, netnsPath: netns, networkMode: 'bridge' });
  try {
    const ip = explicit.replace(/0\/24$/, '200');
    const r = await request('POST', `/networks/t2-${tag}/connect`, { Container: 'web', EndpointConfig: { Aliases: ['www'], IPAMConfig: { IPv4Address: ip } } });
    assert.equal(r.status, 200, r.text);
    const addr = execFileSync('nsenter', [`--net=${netns}`, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0'], { encoding: 'utf8' });
    assert.match(addr, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/24`));
    const n = (await request('GET', `/networks/t2-${tag}`)).json();
    assert.deepEqual(n.Containers[id], { Name: 'web', EndpointID: n.Containers[id].EndpointID, MacAddress: n.Containers[id].MacAddress, IPv4Address: `${ip}/24`, IPv6Address: '' });
    assert.equal((await request('POST', `/networks/t2-${tag}/connect`, { Container: 'web' })).status, 403, 'already connected');
    assert.equal((await request('POST', `/networks/t2-${tag}/connect`, { Container: 'ghost' })).status, 404);
    const busy = await request('DELETE', `/networks/t2-${tag}`);
    assert.equal(busy.status, 403);
    assert.match(busy.json().message, /has active endpoints/);
    assert.equal((await request('POST', `/networks/t2-${tag}/disconnect`, { Container: 'web' })).status, 200);
    assert.match(execFileSync('nsenter', [`--net=${netns}`, 'ip', '-o', 'link'], { encoding: 'utf8' }), /^1: lo/);
    assert.doesNotMatch(execFileSync('nsenter', [`--net=${netns}`, 'ip', '-o', 'link'], { encoding: 'utf8' }), /eth0/);
    assert.equal((await request('POST', `/networks/t2-${tag}/disconnect`, { Container: 'web' })).status, 403, 'not connected');
    // the bridge stays while its network exists (as under dockerd), held by berth's anchor port only
    for (const b of fs.readdirSync('/sys/class/net').filter((l) => l.startsWith('berth-'))) {
      assert.deepEqual(fs.readdirSync(`/sys/class/net/${b}/brif`).filter((p) => !p.startsWith('bk')), [], 'no container port left on the bridge');
    }
    assert.ok(events.some((e) => e.Action === 'connect') && events.some((e) => e.Action === 'disconnect'));
  } finally {
    await svc.releaseEndpoints(id);
    await svc.removeNetns(netns);
  }
});

test('remove and prune', async () => {
  assert.equal((await request('DELETE', `/networks/t1-${tag}`)).status, 204);
  await request('POST', '/networks/create', { Name: `t3-${tag}`, Labels: { keep: 'yes' } });
  const r = (await request('POST', `/networks/prune?filters=${q({ 'label!': ['keep'] })}`)).json();
  assert.deepEqual(r.NetworksDeleted, [`t2-${tag}`]);
  const all = (await request('POST', '/networks/prune')).json();
  assert.deepEqual(all.NetworksDeleted, [`t3-${tag}`]);
  const left = (await request('GET', '/networks')).json().map((x: { Name: string }) => x.Name).sort();
  assert.deepEqual(left, ['bridge', 'host', 'none']);
});
