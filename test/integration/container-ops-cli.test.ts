/**
 * berth's own CLI against berthd for pause/unpause, rename, restart, update, top, stats, a restart loop
 * stopped by hand, a health check from --health-cmd, container prune and system prune.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { berthCli, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
const NAMES = ['bo-run', 'bo-run2', 'bo-loop', 'bo-health', 'bo-dead'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('berth CLI container operations', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let berth: BoundCli;
  const inspect = async (name: string, tmpl: string) => ok(await berth(['inspect', '-f', tmpl, name]), `inspect ${name}`).trim();

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    berth = berthCli(daemon);
    ok(await berth(['pull', 'busybox']), 'berth pull busybox');
  });

  after(async () => {
    if (berth) await berth(['rm', '-f', ...NAMES]).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
    assert.equal(fs.existsSync(daemon.socket), false);
  });

  test('pause, unpause, rename, restart, update, top, stats', async () => {
    ok(await berth(['run', '-d', '--name', 'bo-run', 'busybox', 'sleep', '1000']));
    assert.equal(ok(await berth(['pause', 'bo-run'])).trim(), 'bo-run');
    assert.match(ok(await berth(['ps', '--format', '{{.Status}}', '--filter', 'name=bo-run'])), /\(Paused\)/);
    assert.equal(ok(await berth(['unpause', 'bo-run'])).trim(), 'bo-run');
    ok(await berth(['rename', 'bo-run', 'bo-run2']));
    const started = await inspect('bo-run2', '{{.State.StartedAt}}');
    assert.equal(ok(await berth(['restart', '-t', '0', 'bo-run2'])).trim(), 'bo-run2');
    assert.notEqual(await inspect('bo-run2', '{{.State.StartedAt}}'), started);
    ok(await berth(['update', '--memory', '32m', '--restart', 'unless-stopped', 'bo-run2']));
    assert.equal(await inspect('bo-run2', '{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}}'), `${32 * 1024 * 1024} unless-stopped`);
    assert.match(ok(await berth(['top', 'bo-run2'])), /sleep 1000/);
    const stats = ok(await berth(['stats', '--no-stream', '--format', '{{.Name}} {{.MemUsage}} {{.PIDs}}', 'bo-run2'])).trim();
    assert.match(stats, /^bo-run2 [\d.]+\w+ \/ 32MiB 1$/);
  });

  test('a restart loop is ended by stop, and a manual stop is not restarted', async () => {
    ok(await berth(['run', '-d', '--name', 'bo-loop', '--restart', 'always', 'busybox', 'sh', '-c', 'sleep 0.3; exit 3']));
    await sleep(2000);
    const count = Number(await inspect('bo-loop', '{{.RestartCount}}'));
    assert.ok(count >= 1, `RestartCount ${count}`);
    ok(await berth(['stop', '-t', '1', 'bo-loop']));
    await sleep(1500);
    assert.equal(await inspect('bo-loop', '{{.State.Status}}'), 'exited');
    const after = Number(await inspect('bo-loop', '{{.RestartCount}}'));
    await sleep(1000);
    assert.equal(Number(await inspect('bo-loop', '{{.RestartCount}}')), after);
  });

  test('--health-cmd makes the container healthy; prune commands print reclaimed space', async () => {
    ok(await berth(['run', '-d', '--name', 'bo-health', '--health-cmd', 'test -d /', '--health-interval', '500ms', 'busybox', 'sleep', '1000']));
    for (let i = 0; i < 40 && (await inspect('bo-health', '{{.State.Health.Status}}')) !== 'healthy'; i++) await sleep(250);
    assert.equal(await inspect('bo-health', '{{.State.Health.Status}}'), 'healthy');
    ok(await berth(['rm', '-f', 'bo-health']));

    ok(await berth(['run', '--name', 'bo-dead', 'busybox', 'true']));
    const r = ok(await berth(['container', 'prune', '-f']));
    assert.match(r, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.match(r, /Total reclaimed space: /);
    const s = await berth(['system', 'prune'], { input: 'y\n' });
    assert.match(ok(s), /WARNING! This will remove:\n  - all stopped containers\n/);
    assert.match(s.stdout, /Total reclaimed space: /);
    assert.equal(await inspect('bo-run2', '{{.State.Running}}'), 'true');
  });
});
