/**
 * With the real docker CLI against berthd: `docker ps --filter network=|volume=|publish=|expose=` (and the
 * refusal of a malformed port filter), and `--mac-address` on the default bridge and a user network.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { freePort, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

describe('docker ps network, volume, publish and expose filters; --mac-address', { skip, timeout: 180_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let tmp: string;
  let port = 0;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-psnet-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs: ['--bip', '10.197.23.1/24', '--bridge', 'bpsnet23d'] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', '-q', 'busybox']), 'pull');
    ok(await docker(['network', 'create', '--subnet', '10.196.23.0/24', '-o', 'com.docker.network.bridge.name=bpsnet23u', 'psnet']), 'network create');
    port = await freePort();
    ok(await docker(['run', '-d', '--name', 'pub', '-p', `127.0.0.1:${port}:80`, '--expose', '9000/udp', 'busybox', 'sleep', '300']), 'pub');
    ok(await docker(['run', '-d', '--name', 'onnet', '--network', 'psnet', '-v', 'psvol:/data', 'busybox', 'sleep', '300']), 'onnet');
    ok(await docker(['run', '-d', '--name', 'bound', '--network', 'none', '-v', `${tmp}:/host`, 'busybox', 'sleep', '300']), 'bound');
  });

  after(async () => {
    if (docker) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-fv', ...ids]);
      await docker(['network', 'rm', 'psnet']);
      await docker(['volume', 'rm', 'psvol']);
    }
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const names = async (...filters: string[]) =>
    ok(await docker(['ps', '-a', '--format', '{{.Names}}', ...filters.flatMap((f) => ['--filter', f])])).split('\n').filter(Boolean).sort();

  test('network= by name and by ID prefix', async () => {
    assert.deepEqual(await names('network=psnet'), ['onnet']);
    assert.deepEqual(await names('network=bridge'), ['pub']);
    assert.deepEqual(await names('network=none'), ['bound']);
    const id = ok(await docker(['network', 'inspect', '-f', '{{.Id}}', 'psnet'])).trim();
    assert.deepEqual(await names(`network=${id.slice(0, 10)}`), ['onnet']);
    assert.deepEqual(await names('network=psnet', 'network=none'), ['bound', 'onnet']);
    assert.deepEqual(await names('network=nosuchnet'), []);
  });

  test('volume= by volume name, bind source and destination', async () => {
    assert.deepEqual(await names('volume=psvol'), ['onnet']);
    assert.deepEqual(await names('volume=/data'), ['onnet']);
    assert.deepEqual(await names(`volume=${tmp}`), ['bound']);
    assert.deepEqual(await names('volume=/host'), ['bound']);
    assert.deepEqual(await names('volume=nope'), []);
  });

  test('publish= (host port) and expose= (container port), ranges and protocols', async () => {
    assert.deepEqual(await names(`publish=${port}`), ['pub']);
    assert.deepEqual(await names(`publish=${port}/tcp`), ['pub']);
    assert.deepEqual(await names(`publish=${port}/udp`), []);
    assert.deepEqual(await names('publish=80'), []);
    assert.deepEqual(await names('expose=80'), ['pub']);
    assert.deepEqual(await names('expose=70-90/tcp'), ['pub']);
    assert.deepEqual(await names('expose=9000/udp'), ['pub']);
    assert.deepEqual(await names('expose=9000'), []);
    assert.deepEqual(await names('expose=80', 'network=psnet'), []);
    const bad = await docker(['ps', '--filter', 'publish=127.0.0.1:80']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /filter for 'publish' should not contain ':'/);
    const badRange = await docker(['ps', '--filter', 'expose=90-70']);
    assert.notEqual(badRange.code, 0);
    assert.match(badRange.stderr, /error while looking up for expose 90-70: Invalid range specified for the Port: 90-70/);
  });

  test('--mac-address is the interface MAC, in inspect, on the bridge and a user network', async () => {
    const mac = '92:d0:c6:0a:29:33';
    const inside = ok(await docker(['run', '--rm', '--mac-address', mac, 'busybox', 'cat', '/sys/class/net/eth0/address'])).trim();
    assert.equal(inside, mac);
    ok(await docker(['run', '-d', '--name', 'macd', '--network', 'psnet', '--mac-address', '92:D0:C6:0A:29:34', 'busybox', 'sleep', '300']), 'macd');
    assert.equal(ok(await docker(['exec', 'macd', 'cat', '/sys/class/net/eth0/address'])).trim(), '92:d0:c6:0a:29:34');
    assert.equal(ok(await docker(['inspect', '-f', '{{.NetworkSettings.Networks.psnet.MacAddress}}', 'macd'])).trim(), '92:d0:c6:0a:29:34');
    // without it, the MAC still comes from the address (02:42 + IPv4), stable across restarts
    ok(await docker(['run', '-d', '--name', 'nomac', '--network', 'psnet', 'busybox', 'sleep', '300']), 'nomac');
    const ip = ok(await docker(['inspect', '-f', '{{.NetworkSettings.Networks.psnet.IPAddress}}', 'nomac'])).trim();
    const derived = ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
    assert.equal(ok(await docker(['exec', 'nomac', 'cat', '/sys/class/net/eth0/address'])).trim(), derived);
    const bad = await docker(['run', '--rm', '--mac-address', '01:00:5e:00:00:01', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid MAC address|multicast/);
    const host = await docker(['run', '--rm', '--network', 'host', '--mac-address', mac, 'busybox', 'true']);
    assert.notEqual(host.code, 0);
    assert.match(host.stderr, /conflicting options: mac-address and the network mode/);
    ok(await docker(['rm', '-f', 'macd', 'nomac']), 'rm');
  });
});
