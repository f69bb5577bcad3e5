/**
 * Container networking across a berthd crash: a container that keeps running stays reachable on its
 * published port; one that exits while berthd is down has its endpoints torn down, its port freed and its
 * netns removed when berthd comes back (reconciliation + NetworkService.gcOnStartup). Nothing is left after.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { getLoopback, getLoopbackSoon } from '../helpers/http';
import { freePort, seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;
const SUBNET = '10.196.11.0/24';
const BRIDGE = 'bnetrst11';

const httpd = (text: string) => `mkdir -p /www && echo ${text} > /www/index.html && exec httpd -f -p 80 -h /www`;

describe('container networking across a berthd crash', { skip, timeout: 240_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host], extraArgs: ['--bip', '10.197.11.1/24', '--bridge', 'bnetrst11d'] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', '-q', 'busybox']), 'pull');
    ok(await docker(['network', 'create', '--subnet', SUBNET, '-o', `com.docker.network.bridge.name=${BRIDGE}`, 'rst-net']), 'network create');
  });

  after(async () => {
    if (docker) {
      const ids = (await docker(['ps', '-aq'])).stdout.split('\n').filter(Boolean);
      if (ids.length) await docker(['rm', '-fv', ...ids]);
      await docker(['network', 'rm', 'rst-net']);
    }
    await daemon?.stop();
    await reg?.stop();
  });

  test('running containers keep their network; exited ones are torn down at start-up', async () => {
    const [keepPort, gonePort] = [await freePort(), await freePort()];
    ok(await docker(['run', '-d', '--name', 'keep', '--network', 'rst-net', '-p', `127.0.0.1:${keepPort}:80`, 'busybox', 'sh', '-c', httpd('kept')]), 'keep');
    ok(await docker(['run', '-d', '--name', 'gone', '--network', 'rst-net', '-p', `127.0.0.1:${gonePort}:80`, 'busybox', 'sh', '-c', `${httpd('gone')} & sleep 3`]), 'gone');
    assert.equal(await getLoopbackSoon(keepPort), 'kept\n');
    assert.equal(await getLoopbackSoon(gonePort), 'gone\n');

    await daemon.kill9();
    await new Promise((r) => setTimeout(r, 4000)); // `gone` exits while berthd is down
    await daemon.restart();

    assert.equal(await getLoopback(keepPort), 'kept\n');
    const state = ok(await docker(['inspect', '-f', '{{.State.Status}} {{json .NetworkSettings.Ports}}', 'gone'])).trim();
    assert.equal(state, 'exited {}');
    await assert.rejects(getLoopback(gonePort));
    const netns = fs.readdirSync(path.join(daemon.execRoot, 'netns'));
    const keepId = ok(await docker(['inspect', '-f', '{{.Id}}', 'keep'])).trim();
    assert.deepEqual(netns, [keepId]);
    // the address of `gone` stays leased, and it comes back on start
    ok(await docker(['start', 'gone']), 'restart gone');
    assert.equal(await getLoopbackSoon(gonePort), 'gone\n');

    ok(await docker(['rm', '-f', 'keep', 'gone']), 'rm');
    ok(await docker(['network', 'rm', 'rst-net']), 'network rm');
    assert.ok(!fs.readdirSync('/sys/class/net').includes(BRIDGE), 'bridge removed');
    assert.deepEqual(fs.readdirSync(path.join(daemon.execRoot, 'netns')), []);
    const rules = execFileSync('iptables-save', { encoding: 'utf8' });
    assert.ok(!rules.includes('10.196.11.'), 'no firewall rule for the test subnet is left');
  });
});
