/**
 * Root: NetworkService against real netavark 1.4 + aardvark-dns, with network namespaces this test creates
 * playing the containers. Traffic goes only to loopback and to those namespaces. Everything made here
 * (netns files, veths, the test bridges, berth's iptables rules for the test subnets, aardvark) is checked
 * gone at the end.
 */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDb } from '../../src/store/db';
import { EventLog } from '../../src/engine/events';
import { NetworkService } from '../../src/engine/networks';
import { newId } from '../../src/util/ids';
import { silentLogger } from '../../src/util/logger';
import { routedCidrs, parseCidr, cidrOverlaps } from '../../src/network/ipam';
import { portForwardChain } from '../../src/network/bridge-anchor';

const isRoot = process.getuid?.() === 0;
const sh = (cmd: string, args: string[]) => {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 15_000 });
  } catch (err) {
    return `${(err as { stdout?: string }).stdout ?? ''}${(err as { stderr?: string }).stderr ?? ''}FAILED`;
  }
};
const inNs = (ns: string, args: string[]) => sh('nsenter', [`--net=${ns}`, ...args]);

/** A free /24 in 10.201-10.250 that no route and no other network uses. */
function freeSubnets(count: number): string[] {
  const routes = routedCidrs(sh('ip', ['-4', 'route', 'show', 'table', 'all']));
  const out: string[] = [];
  for (let tries = 0; out.length < count && tries < 500; tries++) {
    const s = `10.${201 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}.0/24`;
    if (!out.includes(s) && !routes.some((r) => cidrOverlaps(r, parseCidr(s)))) out.push(s);
  }
  return out;
}

function aardvarkPids(configDir: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      if (cmd.includes('aardvark') && cmd.includes(configDir)) pids.push(Number(p));
    } catch { /* gone */ }
  }
  return pids;
}

async function until<T>(fn: () => T | undefined, ms = 5000): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

test('netavark setup/teardown with test namespaces', { skip: !isRoot && 'needs root', timeout: 180_000 }, async (t) => {
  const tag = randomBytes(3).toString('hex');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-net-'));
  const execRoot = path.join(tmp, 'run');
  const db = openDb(path.join(tmp, 'berth.db'));
  const [userSubnet, bridgeSubnet] = freeSubnets(2);
  const bip = bridgeSubnet.replace(/0\/24$/, '1/24');
  const svc = new NetworkService({
    execRoot, db, events: new EventLog(db), log: silentLogger, bip, bridgeName: `btb${tag}`,
  });
  const userBridge = `btu${tag}`;
  const httpd: { pid?: number; kill(): void }[] = [];
  const ids = [newId(), newId(), newId(), newId()];
  try {
    const { Id } = await svc.create({ Name: `berth-t-${tag}`, IPAM: { Config: [{ Subnet: userSubnet }] }, Options: { 'com.docker.network.bridge.name': userBridge } });
    const net = svc.inspect(Id);
    const gateway = net.IPAM.Config[0].Gateway;
    assert.equal(gateway, userSubnet.replace(/0\/24$/, '1'));

    const [c1, c2, c3, c4] = ids;
    const e1 = svc.prepareEndpoints(c1, 'alpha', [{ network: net.Name, aliases: ['web'] }]);
    const e2 = svc.prepareEndpoints(c2, '/beta', [{ network: Id.slice(0, 12) }]);
    assert.equal(e1[0].ip, userSubnet.replace(/0\/24$/, '2'), 'lowest free address, gateway skipped');
    assert.equal(e2[0].ip, userSubnet.replace(/0\/24$/, '3'));
    const ns1 = await svc.createNetns(c1);
    const ns2 = await svc.createNetns(c2);
    assert.ok(ns1.startsWith(path.join(execRoot, 'netns')));

    // a published port on loopback, served by busybox httpd inside ns1
    const probe = (await import('node:net')).createServer();
    const hostPort = await new Promise<number>((r) => probe.listen(0, '127.0.0.1', () => r((probe.address() as { port: number }).port)));
    await new Promise((r) => probe.close(r));
    const r1 = await svc.setup(c1, ns1, [{ hostIp: '127.0.0.1', hostPort, containerPort: 8080, protocol: 'tcp' }]);
    await svc.setup(c2, ns2, []);
    assert.ok(r1.status[net.Name]?.interfaces?.eth0, JSON.stringify(r1.status));
    assert.deepEqual(r1.ports, [{ hostIp: '127.0.0.1', hostPort, containerPort: 8080, protocol: 'tcp' }]);

    await t.test('interfaces, lo, MAC', () => {
      assert.match(inNs(ns1, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']), new RegExp(`inet ${e1[0].ip.replace(/\./g, '\\.')}/24`));
      assert.match(inNs(ns1, ['ip', '-o', 'link', 'show', 'dev', 'lo']), /[<,]UP[,>]/);
      assert.match(inNs(ns2, ['ip', '-o', 'link', 'show', 'dev', 'eth0']), new RegExp(e2[0].mac));
      assert.equal(readFileSync(`/sys/class/net/${userBridge}/addr_assign_type`, 'utf8').trim(), '3', 'bridge MAC pinned');
      const ports = readdirSync(`/sys/class/net/${userBridge}/brif`).filter((p) => !p.startsWith('bk')); // berth's anchor port aside
      assert.equal(ports.length, 2);
      for (const p of ports) assert.equal(readFileSync(`/sys/class/net/${userBridge}/brif/${p}/hairpin_mode`, 'utf8').trim(), '1');
      const view = svc.inspect(net.Name);
      assert.deepEqual(Object.keys(view.Containers).sort(), [c1, c2].sort());
      assert.equal(view.Containers[c2].Name, 'beta');
      assert.equal(view.Containers[c1].IPv4Address, `${e1[0].ip}/24`);
    });

    await t.test('ping and names through aardvark', async () => {
      assert.match(inNs(ns1, ['busybox', 'ping', '-c', '1', '-W', '2', e2[0].ip]), / 0% packet loss/);
      const lookup = (ns: string, name: string) => until(() => {
        const out = inNs(ns, ['busybox', 'nslookup', name, gateway]);
        return out.includes('FAILED') ? undefined : out;
      });
      assert.match((await lookup(ns1, 'beta')) ?? 'no answer', new RegExp(`Address:\\s+${e2[0].ip.replace(/\./g, '\\.')}`));
      assert.match((await lookup(ns2, 'web')) ?? 'no answer', new RegExp(`Address:\\s+${e1[0].ip.replace(/\./g, '\\.')}`));
      assert.match((await lookup(ns2, c1.slice(0, 12))) ?? 'no answer', new RegExp(e1[0].ip.replace(/\./g, '\\.')));
      const resolv = await svc.resolvConf(c1);
      assert.match(resolv ?? '', new RegExp(`^nameserver ${gateway}$`, 'm'));
      assert.match(resolv ?? '', /options ndots:0/);
    });

    await t.test('published port on loopback, duplicate refused, berth chain rule', async () => {
      const www = path.join(tmp, 'www');
      mkdirSync(www);
      writeFileSync(path.join(www, 'index.html'), 'hello-berth\n');
      const child = spawn('nsenter', [`--net=${ns1}`, 'busybox', 'httpd', '-f', '-p', '8080', '-h', www], { stdio: 'ignore' });
      httpd.push(child);
      const body = await until(() => {
        const out = sh('curl', ['-s', '--max-time', '2', `http://127.0.0.1:${hostPort}/index.html`]);
        return out.includes('hello-berth') ? out : undefined;
      });
      assert.match(body ?? 'unreachable', /hello-berth/);
      await assert.rejects(svc.setup(c3, await svc.createNetns(c3), [{ hostIp: '', hostPort, containerPort: 80, protocol: 'tcp' }]).finally(() => undefined),
        (err: Error) => err.message === `Bind for 0.0.0.0:${hostPort} failed: port is already allocated`);
      await svc.removeNetns(path.join(execRoot, 'netns', c3));
      assert.ok((await svc.firewall.rules()).some((r) => r.includes(userSubnet)), 'DNAT accept rule for the subnet');
    });

    await t.test('connect/disconnect style setup of a second network on the default bridge', async () => {
      const e4 = svc.prepareEndpoints(c4, 'delta', [{ network: 'default' }]);
      assert.equal(e4[0].ip, bip.replace(/1\/24$/, '2'));
      const ns4 = await svc.createNetns(c4);
      await svc.setup(c4, ns4);
      assert.match(inNs(ns4, ['ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']), new RegExp(e4[0].ip.replace(/\./g, '\\.')));
      assert.equal(await svc.resolvConf(c4), undefined, 'no DNS on the default bridge');
      assert.match(inNs(ns4, ['busybox', 'nslookup', 'alpha', bip.split('/')[0]]), /FAILED|can't|NXDOMAIN|timed out/i);
      const settings = svc.endpointSettings(c4).bridge;
      assert.equal(settings.IPAddress, e4[0].ip);
      assert.equal(settings.Gateway, bip.split('/')[0]);
    });

    await t.test('teardown after the netns is gone still removes rules', async () => {
      for (const h of httpd) h.kill();
      await svc.removeNetns(ns1);
      await svc.teardown(c1);
      assert.equal(svc.portBindings(c1).length, 0);
      assert.ok(!(await svc.firewall.rules()).some((r) => r.includes(userSubnet)), 'berth chain rule for the subnet gone');
      assert.ok(!sh('iptables-save', []).includes(`${e1[0].ip}:8080`), 'DNAT rule gone');
      assert.deepEqual(Object.keys(svc.inspect(net.Name).Containers), [c2]);
    });

    await t.test('last teardown removes bridge, rules and aardvark', async () => {
      await assert.rejects(svc.remove(net.Name), /has active endpoints/);
      await svc.teardown(c2);
      await svc.teardown(c4);
      for (const c of ids) await svc.releaseEndpoints(c);
      await svc.removeNetns(ns2);
      await svc.removeNetns(path.join(execRoot, 'netns', c4));
      await svc.remove(net.Name);
      assert.ok(!readdirSync('/sys/class/net').includes(userBridge), 'user bridge removed');
      // the default bridge stays while the daemon runs (as docker0 does); daemon stop deletes it
      assert.ok(readdirSync('/sys/class/net').includes(`btb${tag}`), 'default bridge kept while idle');
      await svc.shutdown();
      assert.ok(!readdirSync('/sys/class/net').includes(`btb${tag}`), 'default bridge removed');
      const rules = sh('iptables-save', []);
      assert.ok(!rules.includes(userSubnet), 'no rule mentions the user subnet');
      assert.ok(!rules.includes(bridgeSubnet), 'no rule mentions the bridge subnet');
      // the user network published a port: its (emptied) port-forward chain goes with it
      assert.ok(!rules.includes(portForwardChain(net.Name)), `${portForwardChain(net.Name)} removed`);
      assert.deepEqual(await until(() => (aardvarkPids(svc.netavark.configDir).length === 0 ? [] : undefined)), [], 'aardvark stopped');
      assert.deepEqual(await svc.netns.list(), []);
    });
  } finally {
    for (const h of httpd) h.kill();
    for (const c of ids) await svc.releaseEndpoints(c).catch(() => undefined);
    await svc.netns.destroy();
    for (const pid of aardvarkPids(svc.netavark.configDir)) process.kill(pid, 'SIGTERM');
    db.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});

test('gcOnStartup tears down what belongs to dead containers', { skip: !isRoot && 'needs root', timeout: 120_000 }, async () => {
  const tag = randomBytes(3).toString('hex');
  const tmp = mkdtempSync(path.join(os.tmpdir(), 'berth-netgc-'));
  const execRoot = path.join(tmp, 'run');
  const db = openDb(path.join(tmp, 'berth.db'));
  const [subnet, bridgeSubnet] = freeSubnets(2);
  const deps = { execRoot, db, events: new EventLog(db), log: silentLogger, bip: bridgeSubnet.replace(/0\/24$/, '1/24'), bridgeName: `btg${tag}` };
  const first = new NetworkService(deps);
  const bridge = `btn${tag}`;
  const dead = newId();
  const stopped = newId();
  try {
    await first.create({ Name: `gc-${tag}`, IPAM: { Config: [{ Subnet: subnet }] }, Options: { 'com.docker.network.bridge.name': bridge } });
    for (const id of [dead, stopped]) {
      first.prepareEndpoints(id, `c-${id.slice(0, 4)}`, [{ network: `gc-${tag}` }]);
      await first.setup(id, await first.createNetns(id));
    }
    // the "crash": the stopped container's namespace is gone, the daemon restarts over the same database
    await first.removeNetns(path.join(execRoot, 'netns', stopped));
    const second = new NetworkService(deps);
    await second.gcOnStartup([], [stopped]);
    assert.ok(!readdirSync('/sys/class/net').includes(bridge), 'bridge removed');
    assert.ok(!sh('iptables-save', []).includes(subnet), 'no rule mentions the subnet');
    assert.deepEqual(second.endpointsOf(dead), [], 'endpoints of a removed container dropped');
    assert.equal(second.endpointsOf(stopped).length, 1, 'a stopped container keeps its endpoint (and address)');
    assert.equal(second.endpointsOf(stopped)[0].netavark, undefined, 'but it is no longer set up');
    assert.deepEqual(await second.netns.list(), [], 'stale namespaces removed');
    assert.deepEqual(await until(() => (aardvarkPids(second.netavark.configDir).length === 0 ? [] : undefined)), []);
  } finally {
    await first.releaseEndpoints(dead).catch(() => undefined);
    await first.releaseEndpoints(stopped).catch(() => undefined);
    await first.netns.destroy();
    for (const pid of aardvarkPids(first.netavark.configDir)) process.kill(pid, 'SIGTERM');
    db.close();
    rmSync(tmp, { recursive: true, force: true });
  }
});
