/**
 * The real docker CLI (v28) against berthd: containers with volumes, bind mounts, tmpfs, user networks with
 * name resolution, network modes, published ports reachable on loopback, and cleanup of every veth, bridge,
 * netns and firewall rule afterwards. The default bridge has its own --bip and --bridge name, apart from other tests'.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { freePort, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

const BIP = '10.197.3.1/24';
const DEFAULT_BRIDGE = 'bcompat3';
const NET_SUBNET = '10.196.7.0/24';
const NET_BRIDGE = 'bcompat7';

async function httpGet(port: number): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

/** GET, retried for up to 5 s while the server in the container starts. */
async function httpGetSoon(port: number): Promise<string> {
  for (let i = 0; ; i++) {
    try {
      return await httpGet(port);
    } catch (err) {
      if (i >= 50) throw err;
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

describe('docker CLI volumes, networks and ports against berthd', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compat-volnet-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs: ['--bip', BIP, '--bridge', DEFAULT_BRIDGE] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', '-q', 'busybox']), 'pull');
  });

  after(async () => {
    if (docker) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-fv', ...ids]);
      await docker(['network', 'rm', 'vn-net']);
    }
    await daemon?.stop();
    await reg?.stop();
    fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a named volume outlives the container that wrote it; rm and prune of volumes', async () => {
    ok(await docker(['run', '--name', 'vn-writer', '-v', 'vn-data:/data', 'busybox', 'sh', '-c', 'echo persisted > /data/f']), 'writer');
    ok(await docker(['rm', 'vn-writer']), 'rm writer');
    assert.equal(ok(await docker(['run', '--rm', '-v', 'vn-data:/data', 'busybox', 'cat', '/data/f'])), 'persisted\n');

    ok(await docker(['run', '-d', '--name', 'vn-holder', '-v', 'vn-data:/data', 'busybox', 'sleep', '60']), 'holder');
    const inUse = await docker(['volume', 'rm', 'vn-data']);
    assert.notEqual(inUse.code, 0);
    assert.match(inUse.stderr, /volume is in use/);
    const mounts = JSON.parse(ok(await docker(['inspect', '-f', '{{json .Mounts}}', 'vn-holder'])));
    assert.equal(mounts.length, 1);
    assert.deepEqual(Object.keys(mounts[0]).sort(), ['Destination', 'Driver', 'Mode', 'Name', 'Propagation', 'RW', 'Source', 'Type']);
    assert.equal(mounts[0].Type, 'volume');
    assert.equal(mounts[0].Name, 'vn-data');
    assert.equal(mounts[0].Destination, '/data');
    assert.equal(mounts[0].RW, true);
    ok(await docker(['rm', '-f', 'vn-holder']), 'rm holder');

    ok(await docker(['volume', 'create', 'vn-unused']), 'volume create');
    ok(await docker(['volume', 'prune', '-af']), 'volume prune');
    const left = ok(await docker(['volume', 'ls', '-q'])).split('\n').filter(Boolean);
    assert.ok(!left.includes('vn-unused') && !left.includes('vn-data'), `volumes left: ${left.join(',')}`);
  });

  test('bind mounts, :ro, --mount, --tmpfs, --read-only with writable volumes', async () => {
    const host = path.join(tmp, 'bind');
    fs.mkdirSync(host);
    fs.writeFileSync(path.join(host, 'hello'), 'from host\n');
    assert.equal(ok(await docker(['run', '--rm', '-v', `${host}:/h`, 'busybox', 'sh', '-c', 'cat /h/hello && echo back > /h/out'])), 'from host\n');
    assert.equal(fs.readFileSync(path.join(host, 'out'), 'utf8'), 'back\n');
    const ro = await docker(['run', '--rm', '-v', `${host}:/h:ro`, 'busybox', 'sh', '-c', 'touch /h/nope']);
    assert.notEqual(ro.code, 0);
    assert.match(ro.stderr, /Read-only file system/);

    const script = 'touch /t/a /m/a /v/a && echo writable; touch /root/x 2>/dev/null || echo rootfs-ro; touch /b/x 2>/dev/null || echo bind-ro';
    const out = ok(await docker(['run', '--rm', '--read-only', '--tmpfs', '/t', '--mount', 'type=tmpfs,target=/m',
      '--mount', `type=bind,source=${host},target=/b,readonly`, '--mount', 'type=volume,source=vn-mnt,target=/v', 'busybox', 'sh', '-c', script]), 'read-only run');
    assert.equal(out, 'writable\nrootfs-ro\nbind-ro\n');
    const missing = await docker(['run', '--rm', '--mount', `type=bind,source=${path.join(tmp, 'absent')},target=/x`, 'busybox', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /bind source path does not exist/);
    ok(await docker(['volume', 'rm', 'vn-mnt']), 'volume rm');
  });

  test('anonymous volumes: -v /path, --volumes-from, rm -v', async () => {
    ok(await docker(['run', '--name', 'vn-anon', '-v', '/anon', 'busybox', 'sh', '-c', 'echo shared > /anon/f']), 'anon');
    const [m] = JSON.parse(ok(await docker(['inspect', '-f', '{{json .Mounts}}', 'vn-anon'])));
    assert.equal(m.Type, 'volume');
    assert.match(m.Name, /^[0-9a-f]{64}$/);
    assert.equal(ok(await docker(['run', '--rm', '--volumes-from', 'vn-anon:ro', 'busybox', 'cat', '/anon/f'])), 'shared\n');
    ok(await docker(['rm', '-v', 'vn-anon']), 'rm -v');
    const vols = ok(await docker(['volume', 'ls', '-q']));
    assert.ok(!vols.includes(m.Name), 'the anonymous volume was removed with its container');
  });

  test('user network: names and aliases resolve, resolv.conf points at the gateway', async () => {
    ok(await docker(['network', 'create', '--subnet', NET_SUBNET, '-o', `com.docker.network.bridge.name=${NET_BRIDGE}`, 'vn-net']), 'network create');
    ok(await docker(['run', '-d', '--name', 'web', '--network', 'vn-net', '--network-alias', 'www', 'busybox', 'sh', '-c',
      'mkdir -p /www && echo hello-web > /www/index.html && exec httpd -f -p 80 -h /www']), 'web');
    // wait for httpd in `web` to listen, then fetch by name and by alias
    const script = 'for i in $(seq 50); do wget -qO- http://web/ >/dev/null 2>&1 && break; sleep 0.1; done; cat /etc/resolv.conf; wget -qO- http://web/; wget -qO- http://www/';
    const out = ok(await docker(['run', '--rm', '--network', 'vn-net', '--ip', '10.196.7.77', 'busybox', 'sh', '-c', `${script}; ip -o -4 addr show eth0`]), 'client');
    assert.match(out, /^nameserver 10\.196\.7\.1$/m);
    assert.match(out, /^options ndots:0$/m);
    assert.equal(out.split('hello-web').length - 1, 2, out);
    assert.match(out, /inet 10\.196\.7\.77\//);
    // the default bridge has no name resolution
    const onBridge = await docker(['run', '--rm', 'busybox', 'nslookup', 'web']);
    assert.notEqual(onBridge.code, 0);

    const nets = JSON.parse(ok(await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'web'])));
    assert.deepEqual(Object.keys(nets), ['vn-net']);
    assert.deepEqual(nets['vn-net'].Aliases, ['www']);
    assert.match(nets['vn-net'].IPAddress, /^10\.196\.7\./);
  });

  test('network connect/disconnect on a running container', async () => {
    ok(await docker(['run', '-d', '--name', 'vn-late', 'busybox', 'sleep', '60']), 'late');
    ok(await docker(['network', 'connect', '--alias', 'lately', 'vn-net', 'vn-late']), 'connect');
    const found = ok(await docker(['run', '--rm', '--network', 'vn-net', 'busybox', 'nslookup', 'lately']), 'lookup');
    assert.match(found, /Address: 10\.196\.7\.\d+/);
    const nets = JSON.parse(ok(await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'vn-late'])));
    assert.deepEqual(Object.keys(nets).sort(), ['bridge', 'vn-net']);
    ok(await docker(['network', 'disconnect', 'vn-net', 'vn-late']), 'disconnect');
    const after = JSON.parse(ok(await docker(['inspect', '-f', '{{json .NetworkSettings.Networks}}', 'vn-late'])));
    assert.deepEqual(Object.keys(after), ['bridge']);
    ok(await docker(['rm', '-f', 'vn-late']), 'rm');
  });

  test('default bridge /etc/hosts and resolv.conf; --hostname, --add-host, --dns', async () => {
    const out = ok(await docker(['run', '--rm', '--hostname', 'myhost', '--add-host', 'db.local:10.9.9.9', '--dns', '9.9.9.9',
      '--dns-search', 'example.test', 'busybox', 'sh', '-c', 'hostname; cat /etc/hosts; echo ---; cat /etc/resolv.conf']), 'run');
    const [head, resolv] = out.split('---\n');
    assert.match(head, /^myhost\n/);
    assert.match(head, /^127\.0\.0\.1\tlocalhost$/m);
    assert.match(head, /^10\.9\.9\.9\tdb\.local$/m);
    assert.match(head, /^10\.197\.3\.\d+\tmyhost$/m);
    assert.match(resolv, /^nameserver 9\.9\.9\.9$/m);
    assert.match(resolv, /^search example\.test$/m);
    const plain = ok(await docker(['run', '--rm', 'busybox', 'cat', '/etc/resolv.conf']));
    assert.doesNotMatch(plain, /nameserver 127\./);
  });

  test('network modes: none, host, container:', async () => {
    const none = ok(await docker(['run', '--rm', '--network', 'none', 'busybox', 'ip', '-o', 'link']));
    assert.deepEqual(none.trim().split('\n').map((l) => l.split(':')[1].trim()), ['lo']);
    assert.match(none, /UP/);
    // other tests add and remove links meanwhile: compare the stable ones (not veths or bridges of tests)
    const stable = (names: string[]) => names.filter((n) => !/^(veth|b|gcpeer)/.test(n)).sort();
    const hostLinks = stable(fs.readdirSync('/sys/class/net'));
    const inHost = stable(ok(await docker(['run', '--rm', '--network', 'host', 'busybox', 'ls', '/sys/class/net'])).split(/\s+/).filter(Boolean));
    assert.deepEqual(inHost, hostLinks);
    assert.ok(inHost.length > 1, 'more than lo');
    ok(await docker(['run', '-d', '--name', 'vn-base', 'busybox', 'sleep', '60']), 'base');
    const ip = ok(await docker(['inspect', '-f', '{{.NetworkSettings.IPAddress}}', 'vn-base'])).trim();
    assert.match(ip, /^10\.197\.3\./);
    const shared = ok(await docker(['run', '--rm', '--network', 'container:vn-base', 'busybox', 'ip', '-o', '-4', 'addr', 'show', 'eth0']));
    assert.ok(shared.includes(`inet ${ip}/`), shared);
    ok(await docker(['rm', '-f', 'vn-base']), 'rm');
  });

  test('published ports: loopback, wildcard, random, range, udp, -P; docker port and ps; freed on stop', async () => {
    const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
    ok(await docker(['run', '-d', '--name', 'vn-pub', '-p', `127.0.0.1:${p1}:80`, '-p', `${p2}:80`, '-p', '80', '-p', `${p3}:53/udp`,
      '--expose', '81', '-P', 'busybox', 'sh', '-c', 'mkdir -p /www && echo published > /www/index.html && exec httpd -f -p 80 -h /www']), 'run');
    assert.equal(await httpGetSoon(p1), 'published\n');
    assert.equal(await httpGet(p2), 'published\n');
    const port = ok(await docker(['port', 'vn-pub']));
    assert.match(port, new RegExp(`^80/tcp -> 127\\.0\\.0\\.1:${p1}$`, 'm'));
    assert.match(port, new RegExp(`^80/tcp -> 0\\.0\\.0\\.0:${p2}$`, 'm'));
    assert.match(port, new RegExp(`^53/udp -> 0\\.0\\.0\\.0:${p3}$`, 'm'));
    assert.match(port, /^81\/tcp -> 0\.0\.0\.0:\d+$/m);
    const random = port.split('\n').map((l) => /^80\/tcp -> 0\.0\.0\.0:(\d+)$/.exec(l)?.[1]).filter((x) => x && Number(x) !== p2);
    assert.equal(random.length, 1, port);
    assert.equal(await httpGet(Number(random[0])), 'published\n');
    const ps = ok(await docker(['ps', '--filter', 'name=vn-pub', '--format', '{{.Ports}}']));
    assert.ok(ps.includes(`127.0.0.1:${p1}->80/tcp`), ps);
    const ports = JSON.parse(ok(await docker(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'vn-pub'])));
    assert.deepEqual(ports['53/udp'], [{ HostIp: '0.0.0.0', HostPort: String(p3) }]);

    ok(await docker(['stop', '-t', '1', 'vn-pub']), 'stop');
    await assert.rejects(httpGet(p2));
    assert.deepEqual(JSON.parse(ok(await docker(['inspect', '-f', '{{json .NetworkSettings.Ports}}', 'vn-pub']))), {});
    ok(await docker(['rm', 'vn-pub']), 'rm');
  });

  test('everything is cleaned up after containers and networks are removed', async () => {
    const ids = ok(await docker(['ps', '-aq'])).split('\n').filter(Boolean);
    if (ids.length) ok(await docker(['rm', '-fv', ...ids]), 'rm all');
    ok(await docker(['network', 'rm', 'vn-net']), 'network rm');
    assert.ok(!fs.readdirSync('/sys/class/net').includes(NET_BRIDGE), `bridge ${NET_BRIDGE} left after network rm`);
    // the default bridge stays while berthd runs (as docker0 does); stopping berthd deletes it when idle
    await daemon.restart();
    const links = fs.readdirSync('/sys/class/net');
    assert.ok(!links.includes(NET_BRIDGE), `bridge ${NET_BRIDGE} left`);
    assert.ok(!links.includes(DEFAULT_BRIDGE), `bridge ${DEFAULT_BRIDGE} left`);
    assert.deepEqual(fs.readdirSync(path.join(daemon.execRoot, 'netns')), []);
    const rules = execFileSync('iptables-save', { encoding: 'utf8' });
    assert.ok(!rules.includes('10.196.7.') && !rules.includes('10.197.3.'), 'no firewall rule for the test subnets is left');
  });
});
