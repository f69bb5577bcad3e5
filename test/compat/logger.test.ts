/**
 * The real docker CLI against berthd with native/berth-logger owning non-TTY containers' stdio: logs and
 * attached output byte for byte per stream, partial lines, stdin, a berthd SIGKILL while a container
 * prints, log rotation, and no logger process left behind. Skipped when the logger is not built.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startMirroredDaemon, type MirroredDaemon } from '../helpers/mirrored-daemon';
import { findLogger } from '../../src/runtime/logger';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : !findLogger() ? 'native/bin/berth-logger not built' : false;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Processes whose command line names `needle` and berth-logger. */
function loggersWith(needle: string): string[] {
  const found: string[] = [];
  for (const pid of fs.readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let cmd = '';
    try { cmd = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' '); } catch { continue; }
    if (cmd.startsWith(path.resolve(findLogger() ?? 'berth-logger')) && cmd.includes(needle)) found.push(`${pid}: ${cmd.slice(0, 200)}`);
  }
  return found;
}

// 40 000 numbered stdout lines of ~100 bytes (~4 MiB); every 7th line also a stderr line
const INTERLEAVED = 'awk \'BEGIN { for (i = 0; i < 40000; i++) { printf "out %06d %s\\n", i, "' + 'x'.repeat(85) + '"; if (i % 7 == 0) printf "err %06d\\n", i > "/dev/stderr" } }\'';
function expectedInterleaved(): { out: string; err: string } {
  let out = '';
  let err = '';
  for (let i = 0; i < 40000; i++) {
    out += `out ${String(i).padStart(6, '0')} ${'x'.repeat(85)}\n`;
    if (i % 7 === 0) err += `err ${String(i).padStart(6, '0')}\n`;
  }
  return { out, err };
}

describe('docker CLI: container output through berth-logger', { skip, timeout: 240_000 }, () => {
  let bed: MirroredDaemon;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    bed = await startMirroredDaemon();
    daemon = bed.daemon;
    docker = dockerCli(daemon);
    ok(await docker(['pull', 'busybox']), 'docker pull busybox');
  });

  after(async () => {
    if (docker) await docker(['rm', '-f', 'lg-mix', 'lg-part', 'lg-kill', 'lg-rot'], { timeoutMs: 30_000 }).catch(() => undefined);
    await bed?.stop();
  });

  test('a few MiB of interleaved stdout/stderr: attached run and logs give each stream exactly, in order', async () => {
    const want = expectedInterleaved();
    const run = await docker(['run', '--name', 'lg-mix', 'busybox', 'sh', '-c', INTERLEAVED], { timeoutMs: 60_000 });
    assert.equal(run.code, 0, run.stderr.slice(0, 500));
    assert.equal(run.stdout.length, want.out.length);
    assert.ok(run.stdout === want.out, 'attached stdout differs');
    assert.ok(run.stderr === want.err, 'attached stderr differs');
    const logs = await docker(['logs', 'lg-mix']);
    assert.equal(logs.code, 0);
    assert.ok(logs.stdout === want.out, `logs stdout differs (${logs.stdout.length} vs ${want.out.length} bytes)`);
    assert.ok(logs.stderr === want.err, 'logs stderr differs');
    // the k8s-file records are what conmon writes: time, stream, F/P, text
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'lg-mix'])).trim();
    const first = fs.readFileSync(path.join(daemon.dataRoot, 'containers', id, 'ctr.log'), 'utf8').split('\n')[0];
    assert.match(first, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) [FP] /);
  });

  test('a last line without a newline survives as it was written', async () => {
    const run = await docker(['run', '--name', 'lg-part', 'busybox', 'sh', '-c', 'printf "one\\ntwo"; printf "e1\\ne2" >&2']);
    assert.equal(run.code, 0);
    assert.equal(run.stdout, 'one\ntwo');
    assert.equal(run.stderr, 'e1\ne2');
    const logs = await docker(['logs', 'lg-part']);
    assert.equal(logs.stdout, 'one\ntwo');
    assert.equal(logs.stderr, 'e1\ne2');
  });

  test('run -i: piped stdin reaches the container and its EOF ends it', async () => {
    assert.equal(ok(await docker(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'hi\n' })), 'hi\n');
    const big = Buffer.alloc(3 * 1024 * 1024 + 17, 'abcdefghij\n');
    assert.equal(ok(await docker(['run', '-i', '--rm', 'busybox', 'wc', '-c'], { input: big, timeoutMs: 60_000 })).trim(), String(big.length));
    // without -i the container's stdin is empty
    assert.equal(ok(await docker(['run', '--rm', 'busybox', 'wc', '-c'], { input: 'ignored\n' })).trim(), '0');
  });

  test('SIGKILL berthd while a container prints: the log is complete and logs -f follows to the end', async () => {
    const script = 'i=0; while [ $i -lt 3000 ]; do echo "line $i"; i=$((i+1)); [ $((i % 100)) = 0 ] && sleep 0.1; done; echo done >&2';
    ok(await docker(['run', '-d', '--name', 'lg-kill', 'busybox', 'sh', '-c', script]));
    await sleep(800);
    await daemon.kill9();
    await sleep(1500); // the container goes on printing with nobody but its logger listening
    await daemon.restart();
    const child = spawn(DOCKER_CLI, ['logs', '-f', 'lg-kill'], { env: daemon.env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (c: Buffer) => (out += c.toString()));
    child.stderr.on('data', (c: Buffer) => (err += c.toString()));
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      child.on('close', (c) => { clearTimeout(timer); resolve(c); });
    });
    assert.equal(code, 0, `logs -f did not end: ${err}`);
    const lines = out.split('\n').filter(Boolean);
    assert.equal(lines.length, 3000);
    lines.forEach((l, i) => assert.equal(l, `line ${i}`));
    assert.equal(err, 'done\n');
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', 'lg-kill'])).trim(), 'exited 0');
  });

  test('--log-opt max-size/max-file: the log rotates, logs returns the newest lines in order', async () => {
    const script = 'i=0; while [ $i -lt 20000 ]; do echo "rotated line $i"; i=$((i+1)); done';
    const run = await docker(['run', '--name', 'lg-rot', '--log-opt', 'max-size=100k', '--log-opt', 'max-file=3', 'busybox', 'sh', '-c', script], { timeoutMs: 60_000 });
    assert.equal(run.code, 0);
    assert.equal(run.stdout.split('\n').filter(Boolean).length, 20000, 'the attached client gets everything');
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'lg-rot'])).trim();
    assert.equal(ok(await docker(['inspect', '-f', '{{index .HostConfig.LogConfig.Config "max-size"}}', 'lg-rot'])).trim(), '100k');
    const dir = path.join(daemon.dataRoot, 'containers', id);
    const files = fs.readdirSync(dir).filter((f) => f.startsWith('ctr.log')).sort();
    assert.deepEqual(files, ['ctr.log', 'ctr.log.1', 'ctr.log.2']);
    for (const f of files) assert.ok(fs.statSync(path.join(dir, f)).size <= 100 * 1024, `${f} is ${fs.statSync(path.join(dir, f)).size} bytes`);
    const lines = ok(await docker(['logs', 'lg-rot'])).split('\n').filter(Boolean);
    assert.ok(lines.length > 2000 && lines.length < 20000, `${lines.length} lines kept`);
    const firstN = Number(/^rotated line (\d+)$/.exec(lines[0])?.[1]);
    lines.forEach((l, k) => assert.equal(l, `rotated line ${firstN + k}`));
    assert.equal(lines[lines.length - 1], 'rotated line 19999');
    // one stream, one write per line: the last records are the last lines
    assert.equal(ok(await docker(['logs', '--tail', '3', 'lg-rot'])), 'rotated line 19997\nrotated line 19998\nrotated line 19999\n');
    const bad = await docker(['run', '--rm', '--log-opt', 'max-file=0', 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
  });

  test('--log-driver none: an attached run still prints; logs refuses as dockerd does; no log file is written', async () => {
    const r = await docker(['run', '--name', 'lg-none', '--network', 'none', '--log-driver', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2']);
    assert.deepEqual([r.code, r.stdout, r.stderr], [0, 'out\n', 'err\n']);
    const logs = await docker(['logs', 'lg-none']);
    assert.equal(logs.code, 1);
    assert.match(logs.stderr, /configured logging driver does not support reading/);
    const id = ok(await docker(['inspect', '-f', '{{.Id}} {{.HostConfig.LogConfig.Type}}', 'lg-none'])).trim().split(' ');
    assert.equal(id[1], 'none');
    assert.deepEqual(fs.readdirSync(path.join(daemon.dataRoot, 'containers', id[0])).filter((f) => f.startsWith('ctr.log')), []);
    ok(await docker(['rm', 'lg-none']));
  });

  test('no logger process is left once containers are removed', async () => {
    ok(await docker(['run', '-d', '--name', 'lg-left', 'busybox', 'sleep', '600']));
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'lg-left'])).trim();
    assert.equal(loggersWith(id).length, 1, 'a running container has one logger');
    ok(await docker(['rm', '-f', 'lg-left', 'lg-mix', 'lg-part', 'lg-kill', 'lg-rot']));
    const end = Date.now() + 5_000;
    while (loggersWith(daemon.execRoot).length > 0 && Date.now() < end) await sleep(100);
    assert.deepEqual(loggersWith(daemon.execRoot), []);
  });
});
