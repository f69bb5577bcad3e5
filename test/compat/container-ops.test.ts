/**
 * The real docker CLI (v28) against berthd for pause/unpause, rename, restart, update, stats, top, restart
 * policies (on-failure:N, always across a berthd SIGKILL), health checks, container prune and system prune.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

const NAMES = ['co-pause', 'co-renamed', 'co-other', 'co-stats', 'co-fail', 'co-always', 'co-healthy', 'co-sick', 'co-dead1', 'co-dead2', 'co-upd'];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(250);
  }
}

describe('docker CLI container operations against berthd', { skip, timeout: 600_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  const inspect = async (name: string, tmpl: string) => ok(await docker(['inspect', '-f', tmpl, name]), `inspect ${name}`).trim();
  const status = async (name: string) => ok(await docker(['ps', '-a', '--filter', `name=^${name}$`, '--format', '{{.Status}}'])).trim();

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  });

  after(async () => {
    if (docker) await docker(['rm', '-f', ...NAMES]).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
  });

  test('pause freezes a counter and ps shows (Paused); unpause resumes it; rename; restart changes StartedAt', async () => {
    ok(await docker(['run', '-d', '--name', 'co-pause', 'busybox', 'sh', '-c', 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.1; done']));
    await sleep(500);
    assert.equal(ok(await docker(['pause', 'co-pause'])).trim(), 'co-pause');
    assert.equal(await inspect('co-pause', '{{.State.Status}} {{.State.Paused}}'), 'paused true');
    assert.match(await status('co-pause'), /^Up .* \(Paused\)$/);
    const lines = async () => ok(await docker(['logs', 'co-pause'])).split('\n').filter(Boolean).length;
    const frozen = await lines();
    await sleep(1000);
    assert.equal(await lines(), frozen, 'the counter moved while paused');
    const again = await docker(['pause', 'co-pause']);
    assert.notEqual(again.code, 0);
    assert.match(again.stderr, /is already paused/);
    // dockerd names the container as the client did
    const exec = await docker(['exec', 'co-pause', 'true']);
    assert.notEqual(exec.code, 0);
    assert.match(exec.stderr, /Error response from daemon: Container co-pause is paused, unpause the container before exec/);
    ok(await docker(['unpause', 'co-pause']));
    await sleep(1000);
    assert.ok((await lines()) > frozen + 3, 'the counter did not resume');
    assert.match(await status('co-pause'), /^Up /);

    ok(await docker(['rename', 'co-pause', 'co-renamed']));
    assert.equal(await inspect('co-renamed', '{{.Name}}'), '/co-renamed');
    ok(await docker(['create', '--name', 'co-other', 'busybox', 'true']));
    const clash = await docker(['rename', 'co-renamed', 'co-other']);
    assert.notEqual(clash.code, 0);
    assert.match(clash.stderr, /is already in use by container/);

    const started = await inspect('co-renamed', '{{.State.StartedAt}}');
    ok(await docker(['restart', '-t', '1', 'co-renamed']));
    assert.notEqual(await inspect('co-renamed', '{{.State.StartedAt}}'), started);
    assert.equal(await inspect('co-renamed', '{{.State.Running}}'), 'true');
  });

  test('stats --no-stream shows memory and pids; top lists the process; update changes live limits', async () => {
    ok(await docker(['run', '-d', '--name', 'co-stats', 'busybox', 'sh', '-c', 'sleep 1000 & sleep 1001']));
    const out = ok(await docker(['stats', '--no-stream', 'co-stats']), 'docker stats');
    const [header, row] = out.trim().split('\n');
    assert.match(header, /CONTAINER ID\s+NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+NET I\/O\s+BLOCK I\/O\s+PIDS/);
    assert.match(row, /co-stats/);
    const f = ok(await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}|{{.PIDs}}|{{.CPUPerc}}', 'co-stats'])).trim();
    const [mem, pids, cpu] = f.split('|');
    assert.match(mem, /^[\d.]+(B|KiB|MiB) \/ [\d.]+(MiB|GiB)$/, mem);
    assert.ok(!mem.startsWith('0B'), mem);
    assert.ok(Number(pids) >= 2, pids); // busybox sh execs its last command: the two sleeps
    assert.match(cpu, /^\d+\.\d\d%$/);

    const top = ok(await docker(['top', 'co-stats']), 'docker top');
    assert.match(top.split('\n')[0], /UID\s+PID\s+PPID/);
    assert.match(top, /sleep 1000/);
    assert.match(top, /sleep 1001/);
    const topArgs = ok(await docker(['top', 'co-stats', '-o', 'pid,comm']));
    assert.match(topArgs, /PID\s+COMMAND/);

    ok(await docker(['update', '-m', '64m', '--pids-limit', '50', 'co-stats']));
    assert.equal(await inspect('co-stats', '{{.HostConfig.Memory}} {{.HostConfig.PidsLimit}}'), String(64 * 1024 * 1024) + ' 50');
    const lim = ok(await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', 'co-stats'])).trim();
    assert.match(lim, / \/ 64MiB$/);
    ok(await docker(['rm', '-f', 'co-stats']));
  });

  test('--restart on-failure:2 restarts a failing container twice, then it stays exited', async () => {
    ok(await docker(['run', '-d', '--name', 'co-fail', '--restart', 'on-failure:2', 'busybox', 'sh', '-c', 'exit 1']));
    await until('two restarts', async () => {
      const s = await inspect('co-fail', '{{.RestartCount}} {{.State.Status}}');
      return s === '2 exited' && s;
    });
    await sleep(1500);
    assert.equal(await inspect('co-fail', '{{.RestartCount}} {{.State.Status}} {{.State.ExitCode}}'), '2 exited 1');
  });

  test('--restart always: running across a berthd SIGKILL, and started again when it died while berthd was down', async () => {
    ok(await docker(['run', '-d', '--name', 'co-always', '--restart', 'always', 'busybox', 'sleep', '1000']));
    const pid = Number(await inspect('co-always', '{{.State.Pid}}'));
    assert.ok(pid > 0);
    await daemon.kill9();
    process.kill(pid, 'SIGKILL');
    await daemon.restart();
    await until('co-always running again', async () => {
      const [running, newPid] = (await inspect('co-always', '{{.State.Running}} {{.State.Pid}}')).split(' ');
      return running === 'true' && Number(newPid) !== pid;
    });
    // a manual stop is not undone by the policy
    ok(await docker(['stop', '-t', '1', 'co-always']));
    await sleep(1000);
    assert.equal(await inspect('co-always', '{{.State.Status}}'), 'exited');
  });

  test('health checks: `true` goes healthy, `false` goes unhealthy after the retries', async () => {
    ok(await docker(['run', '-d', '--name', 'co-healthy', '--health-cmd', 'true', '--health-interval', '1s', 'busybox', 'sleep', '1000']));
    ok(await docker(['run', '-d', '--name', 'co-sick', '--health-cmd', 'echo bad; false', '--health-interval', '1s', '--health-retries', '2', 'busybox', 'sleep', '1000']));
    assert.match(await status('co-healthy'), /\(health: starting\)$/);
    await until('healthy', async () => (await inspect('co-healthy', '{{.State.Health.Status}}')) === 'healthy');
    assert.match(await status('co-healthy'), /^Up .* \(healthy\)$/);
    await until('unhealthy', async () => (await inspect('co-sick', '{{.State.Health.Status}}')) === 'unhealthy');
    const h = JSON.parse(await inspect('co-sick', '{{json .State.Health}}'));
    assert.ok(h.FailingStreak >= 2);
    assert.equal(h.Log.at(-1).ExitCode, 1);
    assert.equal(h.Log.at(-1).Output, 'bad\n');
    assert.match(await status('co-sick'), /\(unhealthy\)$/);
    const filtered = ok(await docker(['ps', '--filter', 'health=unhealthy', '--format', '{{.Names}}'])).trim();
    assert.equal(filtered, 'co-sick');
    ok(await docker(['rm', '-f', 'co-healthy', 'co-sick']));
  });

  test('container prune and system prune remove stopped containers and report reclaimed space', async () => {
    ok(await docker(['run', '--name', 'co-dead1', 'busybox', 'sh', '-c', 'echo x > /file']));
    ok(await docker(['run', '--name', 'co-dead2', 'busybox', 'true']));
    const id1 = await inspect('co-dead1', '{{.Id}}');
    const r = ok(await docker(['container', 'prune', '-f']), 'container prune');
    assert.match(r, /Deleted Containers:\n/);
    assert.ok(r.includes(id1), r);
    assert.match(r, /Total reclaimed space: \d/);
    assert.equal((await docker(['inspect', 'co-dead1'])).code, 1);
    const prompt = await docker(['container', 'prune'], { input: 'n\n' });
    assert.match(prompt.stdout, /WARNING! This will remove all stopped containers\.\nAre you sure you want to continue\? \[y\/N\]/);

    ok(await docker(['run', '--name', 'co-dead2', 'busybox', 'true']));
    const s = ok(await docker(['system', 'prune', '-f']), 'system prune');
    assert.match(s, /Deleted Containers:\n[0-9a-f]{64}\n/);
    assert.match(s, /Total reclaimed space: /);
    assert.equal((await docker(['inspect', 'co-dead2'])).code, 1);
    assert.equal((await docker(['inspect', 'co-renamed'])).code, 0, 'a running container was pruned');
  });
});
