/**
 * The real docker CLI against berthd for exec, interactive TTY sessions and attach: exit codes, stdin,
 * a missing binary, detached exec, and TTY sessions driven through a real pseudo-terminal (window size,
 * arithmetic in the shell, exit code, ctrl-p ctrl-q detach, re-attach). Events and exec dirs are checked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { berthCli, berthEntry, dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';
import { CTRL_P, CTRL_Q, runOnPty } from './pty-driver';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

describe('docker exec, run -it and attach against berthd', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let since: string;

  before(async () => {
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
    since = String(Math.floor(Date.now() / 1000) - 1);
    ok(await docker(['run', '-d', '--name', 'box', 'busybox', 'sleep', '600']), 'docker run -d');
  });

  after(async () => {
    await docker?.(['rm', '-f', 'box', 'tty1', 'tty2', 'tty3', 'plain1', 'sig1']).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
  });

  test('exec exit codes and separate stdout/stderr', async () => {
    const r = await docker(['exec', 'box', 'sh', '-c', 'echo out-line; echo err-line >&2; exit 7']);
    assert.equal(r.code, 7, r.stderr);
    assert.equal(r.stdout, 'out-line\n');
    assert.equal(r.stderr, 'err-line\n');
    const t = await docker(['exec', 'box', 'true']);
    assert.equal(t.code, 0);
  });

  test('exec of a missing binary: dockerd message and exit 126', async () => {
    const r = await docker(['exec', 'box', 'nope']);
    assert.equal(r.code, 126);
    assert.match(r.stdout + r.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown/);
  });

  test('exec -i pipes stdin; -e, -w and -u apply', async () => {
    const r = await docker(['exec', '-i', 'box', 'sh'], { input: 'echo "got $((6*7))"\n' });
    assert.equal(ok(r), 'got 42\n');
    const s = await docker(['exec', '-i', 'box', 'cat'], { input: 'piped-in\n' });
    assert.equal(ok(s), 'piped-in\n');
    const e = await docker(['exec', '-e', 'FOO=bar', '-w', '/tmp', '-u', 'nobody', 'box', 'sh', '-c', 'echo $FOO; pwd; id -u']);
    assert.equal(ok(e), 'bar\n/tmp\n65534\n');
  });

  test('exec -d runs in the background', async () => {
    ok(await docker(['exec', '-d', 'box', 'sh', '-c', 'sleep 0.3; echo done > /tmp/bg']));
    await new Promise((r) => setTimeout(r, 1200));
    assert.equal(ok(await docker(['exec', 'box', 'cat', '/tmp/bg'])), 'done\n');
  });

  test('exec on a stopped container is refused; unknown exec id is 404', async () => {
    ok(await docker(['create', '--name', 'tty3', 'busybox', 'true']));
    const r = await docker(['exec', 'tty3', 'true']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /is not running/);
    const res = await docker(['exec', 'no-such-container', 'true']);
    assert.match(res.stderr, /No such container: no-such-container/);
  });

  test('exec -it on a terminal: window size, arithmetic, exit code', async () => {
    const r = await runOnPty([DOCKER_CLI, 'exec', '-it', 'box', 'sh'], {
      env: daemon.env, rows: 40, cols: 132, inputs: ['stty size\n', 'echo $((6*7))\n', 'exit 5\n'],
    });
    assert.match(r.out, /40 132/);
    assert.match(r.out, /\r\n42\r\n/);
    assert.equal(r.code, 5);
  });

  test('run -it: window size, exit code', async () => {
    const r = await runOnPty([DOCKER_CLI, 'run', '-it', '--name', 'tty1', 'busybox', 'sh'], {
      env: daemon.env, rows: 33, cols: 111, inputs: ['stty size\n', 'echo $((6*7))\n', 'exit 4\n'],
    });
    assert.match(r.out, /33 111/);
    assert.match(r.out, /\r\n42\r\n/);
    assert.equal(r.code, 4);
  });

  test('run -it detached with ctrl-p ctrl-q keeps running; attach resumes the session', async () => {
    const first = await runOnPty([DOCKER_CLI, 'run', '-it', '--name', 'tty2', 'busybox', 'sh'], {
      env: daemon.env, rows: 30, cols: 100, inputs: ['echo one\n', CTRL_P + CTRL_Q],
    });
    assert.equal(first.code, 0, first.out);
    const state = ok(await docker(['inspect', '-f', '{{.State.Running}}', 'tty2']));
    assert.equal(state.trim(), 'true');
    const again = await runOnPty([DOCKER_CLI, 'attach', 'tty2'], {
      env: daemon.env, rows: 25, cols: 90, inputs: ['\n', 'stty size\n', 'echo attached $((1+1))\n', 'exit 9\n'],
    });
    assert.match(again.out, /25 90/);
    assert.match(again.out, /attached 2/);
    assert.equal(again.code, 9);
  });

  test('run -t and exec -t without -i see the terminal size from ConsoleSize', async () => {
    const r = await runOnPty([DOCKER_CLI, 'run', '--rm', '-t', 'busybox', 'stty', 'size'], { env: daemon.env, rows: 27, cols: 88, inputs: [] });
    assert.match(r.out, /^27 88\r/);
    assert.equal(r.code, 0);
    const e = await runOnPty([DOCKER_CLI, 'exec', '-t', 'box', 'stty', 'size'], { env: daemon.env, rows: 29, cols: 77, inputs: [] });
    assert.match(e.out, /^29 77\r/);
    assert.equal(e.code, 0);
  });

  test('attach without a TTY: stdin goes in, output comes out, the exit code comes back', async () => {
    ok(await docker(['run', '-d', '-i', '--name', 'plain1', 'busybox', 'sh', '-c', 'while read l; do echo "got $l"; done; exit 6']));
    const session = runOnPty([DOCKER_CLI, 'attach', 'plain1'], { env: daemon.env, rows: 24, cols: 80, inputs: ['hello\n'], exitWaitMs: 8000 });
    await new Promise((r) => setTimeout(r, 3000));
    ok(await docker(['kill', '-s', 'KILL', 'plain1']));
    const r = await session;
    assert.match(r.out, /got hello/);
    assert.equal(r.code, 137);
  });

  test('ctrl-c without a TTY is proxied to the container (sig-proxy)', async () => {
    const child = spawn(DOCKER_CLI, ['run', '--name', 'sig1', 'busybox', 'sh', '-c', 'trap "echo caught; exit 3" INT; echo ready; while true; do sleep 0.1; done'], {
      env: daemon.env, stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (out += c));
    const code = new Promise<number | null>((r) => child.on('close', (c) => r(c)));
    for (let i = 0; i < 100 && !out.includes('ready'); i++) await new Promise((r) => setTimeout(r, 100));
    child.kill('SIGINT');
    assert.equal(await code, 3);
    assert.match(out, /caught/);
  });

  test('berth exec and berth attach behave like docker\'s', async () => {
    const berth = berthCli(daemon);
    const r = await berth(['exec', 'box', 'sh', '-c', 'echo out-line; echo err-line >&2; exit 7']);
    assert.equal(r.code, 7);
    assert.equal(r.stdout, 'out-line\n');
    assert.equal(r.stderr, 'err-line\n');
    assert.equal(ok(await berth(['exec', '-i', '-e', 'X=1', 'box', 'sh'], { input: 'echo "x=$X $((6*7))"\n' })), 'x=1 42\n');
    const missing = await berth(['exec', 'box', 'nope']);
    assert.equal(missing.code, 126);
    const tty = await runOnPty([process.execPath, ...berthEntry(), 'exec', '-it', 'box', 'sh'], {
      env: daemon.env, rows: 40, cols: 132, inputs: ['stty size\n', 'exit 5\n'],
    });
    assert.match(tty.out, /\r\n40 132\r\n/);
    assert.equal(tty.code, 5);
  });

  test('exec events are emitted and exec dirs are cleaned up', async () => {
    const until = String(Math.floor(Date.now() / 1000) + 1);
    const out = ok(await docker(['events', '--since', since, '--until', until, '--filter', 'container=box', '--format', '{{.Action}}']));
    assert.match(out, /^exec_create: sh -c echo out-line/m);
    assert.match(out, /^exec_start: sh -c echo out-line/m);
    assert.match(out, /^exec_die$/m);
    await new Promise((r) => setTimeout(r, 500));
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'box'])).trim();
    const execDir = path.join(daemon.dataRoot, 'containers', id, 'exec');
    const left = fs.existsSync(execDir) ? fs.readdirSync(execDir) : [];
    assert.deepEqual(left, []);
    const links = fs.readdirSync(path.join(daemon.execRoot, 's'));
    assert.deepEqual(links.filter((l) => !id.startsWith(l)), []);
  });
});
