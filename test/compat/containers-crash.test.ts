/**
 * The real docker CLI against berthd across a berthd SIGKILL: ten containers keep running or exit while berthd
 * is down; after restart ps/inspect/logs/logs -f/stop report them as dockerd would.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const LONG = Array.from({ length: 8 }, (_, i) => `crash-run${i}`);
const EXITERS: Array<[string, number]> = [['crash-exit3', 3], ['crash-exit5', 5]];
// five numbered lines, then a tick line every 0.5 s forever
const LONG_SCRIPT = 'i=0; while [ $i -lt 5 ]; do echo line $i; i=$((i+1)); sleep 0.1; done; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done';
const exitScript = (code: number) => `i=0; while [ $i -lt 5 ]; do echo line $i; i=$((i+1)); sleep 0.1; done; sleep 3; echo bye; exit ${code}`;

describe('docker CLI: containers survive a berthd SIGKILL', { skip, timeout: 180_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  const pids = new Map<string, number>();

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  });

  after(async () => {
    if (docker) await docker(['rm', '-f', ...LONG, ...EXITERS.map(([n]) => n)], { timeoutMs: 30_000 }).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
  });

  test('SIGKILL berthd with 10 containers; 2 exit while it is down; restart reports everything', async () => {
    for (const n of LONG) ok(await docker(['run', '-d', '--name', n, 'busybox', 'sh', '-c', LONG_SCRIPT], { timeoutMs: 20_000 }), `run ${n}`);
    for (const [n, code] of EXITERS) ok(await docker(['run', '-d', '--name', n, 'busybox', 'sh', '-c', exitScript(code)], { timeoutMs: 20_000 }), `run ${n}`);
    for (const n of [...LONG, ...EXITERS.map(([x]) => x)]) {
      pids.set(n, Number(ok(await docker(['inspect', '-f', '{{.State.Pid}}', n])).trim()));
    }
    await sleep(800); // the numbered lines are written
    for (const [n] of EXITERS) assert.ok(fs.existsSync(`/proc/${pids.get(n)}`), `${n} exited before berthd was killed`);
    await daemon.kill9();
    // the exiters finish while berthd is down
    const end = Date.now() + 15_000;
    for (const [n] of EXITERS) {
      while (fs.existsSync(`/proc/${pids.get(n)}`) && Date.now() < end) await sleep(200);
      assert.ok(!fs.existsSync(`/proc/${pids.get(n)}`), `${n} still running`);
    }
    for (const n of LONG) assert.ok(fs.existsSync(`/proc/${pids.get(n)}`), `${n} died with berthd`);
    await daemon.restart();

    const running = ok(await docker(['ps', '--format', '{{.Names}}'])).trim().split('\n').filter(Boolean).sort();
    assert.deepEqual(running, [...LONG].sort());
    const all = ok(await docker(['ps', '-a', '--format', '{{.Names}}|{{.Status}}'])).trim().split('\n');
    assert.equal(all.length, 10, all.join('\n'));
    for (const [n, code] of EXITERS) {
      const row = all.find((l) => l.startsWith(n + '|'));
      assert.match(row ?? '', new RegExp(`^${n}\\|Exited \\(${code}\\) `));
      assert.equal(ok(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', n])).trim(), `exited ${code}`);
      const lines = ok(await docker(['logs', n])).split('\n').filter(Boolean);
      assert.deepEqual(lines, ['line 0', 'line 1', 'line 2', 'line 3', 'line 4', 'bye']);
    }
    for (const n of LONG) {
      const lines = ok(await docker(['logs', n])).split('\n').filter(Boolean);
      assert.deepEqual(lines.slice(0, 5), ['line 0', 'line 1', 'line 2', 'line 3', 'line 4'], n);
      // complete and in order: the tick counter never skips
      lines.slice(5).forEach((l, k) => assert.equal(l, `tick ${k + 5}`, `${n}: ${lines.join(',')}`));
      assert.equal(ok(await docker(['inspect', '-f', '{{.State.Running}} {{.State.Pid}}', n])).trim(), `true ${pids.get(n)}`);
    }
  });

  test('logs -f on a survivor streams lines produced after the restart', async () => {
    const before = ok(await docker(['logs', LONG[0]])).split('\n').filter(Boolean);
    const last = before[before.length - 1];
    const child = spawn(DOCKER_CLI, ['logs', '-f', '--tail', '0', LONG[0]], { env: daemon.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    try {
      const end = Date.now() + 5_000;
      while (out.split('\n').filter(Boolean).length < 2 && Date.now() < end) await sleep(100);
    } finally {
      child.kill('SIGKILL');
    }
    const got = out.split('\n').filter(Boolean);
    assert.ok(got.length >= 2, `logs -f streamed ${JSON.stringify(out)}`);
    const n0 = Number(/^tick (\d+)$/.exec(got[0])?.[1]);
    const nLast = Number(/^tick (\d+)$/.exec(last)?.[1]);
    assert.ok(n0 > nLast, `streamed ${got[0]} is not newer than ${last}`);
    assert.equal(got[1], `tick ${n0 + 1}`);
  });

  test('docker stop -t 1 stops every survivor', async () => {
    const t0 = Date.now();
    const out = ok(await docker(['stop', '-t', '1', ...LONG], { timeoutMs: 40_000 }), 'docker stop');
    assert.deepEqual(out.trim().split('\n'), LONG);
    assert.ok(Date.now() - t0 < 30_000);
    assert.equal(ok(await docker(['ps', '-q'])).trim(), '');
    for (const n of LONG) {
      assert.equal(ok(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', n])).trim(), 'exited 137');
      assert.ok(!fs.existsSync(`/proc/${pids.get(n)}`), `${n} pid still alive`);
    }
    ok(await docker(['rm', '-f', ...LONG, ...EXITERS.map(([n]) => n)]));
    assert.equal(ok(await docker(['ps', '-aq'])).trim(), '');
  });
});
