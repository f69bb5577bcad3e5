/**
 * Published ports across a berthd crash, with the real docker CLI: `-p 127.0.0.1:PORT:80` on the default
 * bridge and `--expose 80 -P` on a user network keep answering after SIGKILL + restart on the same data root,
 * and `docker port` still reports them; a container that exits while berthd is down has its DNAT rules,
 * port leases and netns cleaned at start-up; `docker stop` then frees every port (connection refused) and
 * leaves no rule naming a container address. Bridges stay while their network exists and berthd runs (as
 * under dockerd); `network rm` and daemon stop delete them with their rules.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Database from 'better-sqlite3';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { getLoopback, getLoopbackSoon } from '../helpers/http';
import { freePort, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;
const BIP = '10.197.21.1/24';
const DEFAULT_PREFIX = '10.197.21.';
const DEFAULT_BRIDGE = 'bcrash21d';
const USER_SUBNET = '10.196.21.0/24';
const USER_PREFIX = '10.196.21.';
const USER_BRIDGE = 'bcrash21u';

/** Resolves with the socket error code of a connection attempt ('' when it connected). */
async function connectError(port: number): Promise<string> {
  try {
    await getLoopback(port);
    return '';
  } catch (err) {
    const cause = (err as { cause?: { code?: string } }).cause;
    return cause?.code ?? (err as Error).name;
  }
}

const httpd = (text: string) => `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`;
const natRules = () => execFileSync('iptables-save', { encoding: 'utf8' }).split('\n').filter((l) => l.startsWith('-A '));
/** Whether an iptables rule names exactly this address (10.0.0.2 is not 10.0.0.20). */
const mentions = (rule: string, ip: string) => new RegExp(`(^|[^0-9.])${ip.replace(/\./g, '\\.')}([^0-9]|$)`).test(rule);
/** Ports of a bridge other than berth's anchor (container veths); [] when the bridge is gone. */
const containerPorts = (bridge: string) =>
  (fs.existsSync(`/sys/class/net/${bridge}/brif`) ? fs.readdirSync(`/sys/class/net/${bridge}/brif`) : []).filter((p) => !p.startsWith('bk'));

describe('published ports across a berthd SIGKILL (docker CLI)', { skip, timeout: 240_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs: ['--bip', BIP, '--bridge', DEFAULT_BRIDGE] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', '-q', 'busybox']), 'pull');
    ok(await docker(['network', 'create', '--subnet', USER_SUBNET, '-o', `com.docker.network.bridge.name=${USER_BRIDGE}`, 'crash-net']), 'network create');
  });

  after(async () => {
    if (docker) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-fv', ...ids]);
      await docker(['network', 'rm', 'crash-net']);
    }
    await daemon?.stop();
    await reg?.stop();
  });

  const ipOf = async (name: string, net: string) => ok(await docker(['inspect', '-f', `{{(index .NetworkSettings.Networks "${net}").IPAddress}}`, name])).trim();
  const leasedPorts = () => {
    const db = new Database(path.join(daemon.dataRoot, 'berth.db'), { readonly: true, fileMustExist: true });
    try {
      return (db.prepare('SELECT container_id, host_port FROM port_leases ORDER BY host_port').all() as { container_id: string; host_port: number }[]);
    } finally {
      db.close();
    }
  };

  test('running containers keep their ports, an exited one is cleaned, stop frees everything', async () => {
    const [fixedPort, gonePort] = [await freePort(), await freePort()];
    ok(await docker(['run', '-d', '--name', 'fixed', '-p', `127.0.0.1:${fixedPort}:80`, 'busybox', 'sh', '-c', httpd('fixed')]), 'run fixed');
    ok(await docker(['run', '-d', '--name', 'auto', '--network', 'crash-net', '--expose', '80', '-P', 'busybox', 'sh', '-c', httpd('auto')]), 'run auto');
    ok(await docker(['run', '-d', '--name', 'gone', '-p', `127.0.0.1:${gonePort}:80`, 'busybox', 'sh', '-c', `${httpd('gone')} & sleep 4`]), 'run gone');

    const autoLine = ok(await docker(['port', 'auto', '80/tcp'])).trim().split('\n')[0];
    const autoPort = Number(/:(\d+)$/.exec(autoLine)?.[1]);
    assert.ok(autoPort > 0, `docker port auto: ${autoLine}`);
    assert.equal(await getLoopbackSoon(fixedPort), 'fixed\n');
    assert.equal(await getLoopbackSoon(autoPort), 'auto\n');
    assert.equal(await getLoopbackSoon(gonePort), 'gone\n');
    const goneIp = await ipOf('gone', 'bridge');
    const fixedIp = await ipOf('fixed', 'bridge');
    const autoIp = await ipOf('auto', 'crash-net');
    const goneId = ok(await docker(['inspect', '-f', '{{.Id}}', 'gone'])).trim();
    assert.ok(natRules().some((l) => l.includes(`${goneIp}:80`)), 'the probe sees the DNAT rule of `gone`');
    assert.ok(leasedPorts().some((r) => r.container_id === goneId), 'the probe sees the port lease of `gone`');

    await daemon.kill9();
    // `gone` exits while berthd is down; the others keep serving without it
    await new Promise((r) => setTimeout(r, 5000));
    assert.equal(await getLoopback(fixedPort), 'fixed\n');
    await daemon.restart();

    assert.equal(await getLoopback(fixedPort), 'fixed\n');
    assert.equal(await getLoopback(autoPort), 'auto\n');
    assert.equal(ok(await docker(['port', 'fixed'])).trim(), `80/tcp -> 127.0.0.1:${fixedPort}`);
    assert.equal(ok(await docker(['port', 'auto', '80'])).trim().split('\n')[0], autoLine);
    assert.match(ok(await docker(['ps', '--filter', 'name=fixed', '--format', '{{.Ports}}'])), new RegExp(`127\\.0\\.0\\.1:${fixedPort}->80/tcp`));

    // the exited one: no ports, no rules, no lease, no netns
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.Status}}', 'gone'])).trim(), 'exited');
    assert.equal(ok(await docker(['port', 'gone'])).trim(), '');
    assert.equal(await connectError(gonePort), 'ECONNREFUSED');
    assert.deepEqual(natRules().filter((l) => l.includes(goneIp)), []);
    assert.ok(!leasedPorts().some((r) => r.container_id === goneId), 'the lease of `gone` is released');
    assert.ok(!fs.readdirSync(path.join(daemon.execRoot, 'netns')).includes(goneId), 'the netns of `gone` is removed');
    // its address stays leased (as before the crash), so it gets the same one back
    ok(await docker(['start', 'gone']), 'start gone');
    assert.equal(await getLoopbackSoon(gonePort), 'gone\n');
    assert.equal(await ipOf('gone', 'bridge'), goneIp);

    ok(await docker(['stop', '-t', '1', 'fixed', 'auto', 'gone']), 'stop');
    for (const p of [fixedPort, autoPort, gonePort]) assert.equal(await connectError(p), 'ECONNREFUSED', `port ${p} after stop`);
    assert.deepEqual(natRules().filter((l) => [fixedIp, autoIp, goneIp].some((ip) => mentions(l, ip))), []);
    assert.deepEqual(leasedPorts(), []);
    assert.deepEqual(fs.readdirSync(path.join(daemon.execRoot, 'netns')), []);
    // the bridges stay while their networks exist and berthd runs (as under dockerd), with no container port
    assert.deepEqual(containerPorts(DEFAULT_BRIDGE), []);
    assert.deepEqual(containerPorts(USER_BRIDGE), []);
  });

  test('a container stopped while berthd is down is cleaned on restart, its port refused', async () => {
    const port = await freePort();
    ok(await docker(['run', '-d', '--name', 'killed', '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c', httpd('killed')]), 'run killed');
    assert.equal(await getLoopbackSoon(port), 'killed\n');
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'killed'])).trim();
    const ip = await ipOf('killed', 'bridge');
    await daemon.kill9();
    // the container's processes die under an unmonitored berthd (as an OOM kill or `kill` on the host would)
    const pid = Number(fs.readFileSync(path.join(daemon.dataRoot, 'containers', id, 'conmon.pid'), 'utf8').trim());
    const child = execFileSync('pgrep', ['-P', String(pid)], { encoding: 'utf8' }).trim().split('\n').map(Number).filter(Boolean);
    for (const c of child) process.kill(c, 'SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    await daemon.restart();
    assert.notEqual(ok(await docker(['inspect', '-f', '{{.State.Status}}', 'killed'])).trim(), 'running');
    assert.equal(await connectError(port), 'ECONNREFUSED');
    assert.deepEqual(natRules().filter((l) => mentions(l, ip)), []);
    assert.deepEqual(leasedPorts(), []);
    assert.deepEqual(containerPorts(DEFAULT_BRIDGE), []);
    ok(await docker(['rm', 'killed']), 'rm');
  });

  test('network rm deletes its bridge and rules; an idle default bridge goes when berthd stops', async () => {
    // berthd's restart above released idle bridges; a container on each network brings them back
    ok(await docker(['run', '--rm', '--network', 'crash-net', 'busybox', 'true']), 'run on crash-net');
    ok(await docker(['run', '--rm', 'busybox', 'true']), 'run on bridge');
    assert.ok(fs.existsSync(`/sys/class/net/${USER_BRIDGE}`), 'the probe sees the idle user bridge');
    assert.ok(fs.existsSync(`/sys/class/net/${DEFAULT_BRIDGE}`), 'the probe sees the idle default bridge');
    assert.ok(natRules().some((l) => l.includes(USER_PREFIX)), 'the probe sees the user network rules');
    ok(await docker(['network', 'rm', 'crash-net']), 'network rm');
    assert.ok(!fs.existsSync(`/sys/class/net/${USER_BRIDGE}`), 'user bridge removed');
    assert.deepEqual(natRules().filter((l) => l.includes(USER_PREFIX) || l.includes(USER_BRIDGE)), []);
    await daemon.restart();
    assert.ok(!fs.existsSync(`/sys/class/net/${DEFAULT_BRIDGE}`), 'default bridge removed at daemon stop');
    assert.deepEqual(natRules().filter((l) => l.includes(DEFAULT_PREFIX) || l.includes(DEFAULT_BRIDGE)), []);
    const anchors = fs.readdirSync('/sys/class/net').filter((l) => fs.existsSync(`/sys/class/net/${l}/master`) && [DEFAULT_BRIDGE, USER_BRIDGE].includes(path.basename(fs.readlinkSync(`/sys/class/net/${l}/master`))));
    assert.deepEqual(anchors, [], 'no port of either bridge left');
  });
});
