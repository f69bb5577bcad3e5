/**
 * berth-spawn --serve (runtime/spawn-server.ts): programs with relayed stdio and exit status, start
 * failures, mounts, and the server's end when berthd's pipe closes.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { isMounted } from '../../src/runtime/rootfs';
import { SpawnServer, type SpawnedProgram } from '../../src/runtime/spawn-server';
import { silentLogger } from '../../src/util/logger';

const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let dir: string;
let server: SpawnServer;

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-spawn-'));
  server = new SpawnServer(path.join(dir, 'spawn.sock'), silentLogger);
});
after(async () => {
  // a mount test that failed half-way leaves its tmpfs
  const target = path.join(dir, 'mnt');
  if (await isMounted(target)) execFileSync('umount', ['-l', target]);
  server.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function collect(p: SpawnedProgram): Promise<{ stdout: string; stderr: string; code?: number; error?: string }> {
  const out = { stdout: '', stderr: '' };
  p.on('stdout', (b: Buffer) => (out.stdout += b.toString()));
  p.on('stderr', (b: Buffer) => (out.stderr += b.toString()));
  return new Promise((resolve) => {
    p.on('close', (code?: number) => resolve({ ...out, code }));
    p.on('error', (e: Error) => resolve({ ...out, error: e.message }));
  });
}

test('a program gets stdin, its stdout and stderr come back apart, then its exit status', async () => {
  const p = await server.run('/bin/sh', ['-c', 'read x; echo "out $x"; echo err >&2; exit 3'], { stdin: true, output: true });
  const done = collect(p);
  p.writeStdin(Buffer.from('hello\n'));
  p.endStdin();
  assert.deepEqual(await done, { stdout: 'out hello\n', stderr: 'err\n', code: 3 });
  assert.ok(p.pid > 0);
});

test('a signal is 128+n; output without --output is dropped; a missing program is an error', async () => {
  assert.equal((await collect(await server.run('/bin/sh', ['-c', 'kill -9 $$'], { stdin: false, output: true }))).code, 137);
  assert.deepEqual(await collect(await server.run('/bin/echo', ['unseen'], { stdin: false, output: false })), { stdout: '', stderr: '', code: 0 });
  const missing = await collect(await server.run('/no/such/program', [], { stdin: false, output: true }));
  assert.match(missing.error ?? '', /cannot run \/no\/such\/program: No such file or directory/);
  const noOutput = await collect(await server.run('/bin/cat', [], { stdin: true, output: false }));
  assert.match(noOutput.error ?? '', /--stdin needs --output/);
});

test('large output arrives whole', async () => {
  const r = await collect(await server.run('/bin/sh', ['-c', 'head -c 5000000 /dev/zero | tr "\\0" x'], { stdin: false, output: true }));
  assert.equal(r.code, 0);
  assert.equal(r.stdout.length, 5_000_000);
  assert.ok(/^x+$/.test(r.stdout));
});

test('mount and umount; a bad mount is refused with the kernel\'s reason', { skip }, async () => {
  const target = path.join(dir, 'mnt');
  fs.mkdirSync(target);
  // mount(8)'s flag words become mount(2) flags; the rest is the filesystem's own options
  await server.mount('tmpfs', 'berth-test', target, 'nosuid,nodev,noexec,mode=750,size=1m', '/');
  assert.equal(await isMounted(target), true);
  const line = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.split(' ')[4] === target) ?? '';
  assert.match(line, / rw,nosuid,nodev,noexec[, ]/);
  assert.match(line, /size=1024k,mode=750/);
  await server.umount(target);
  assert.equal(await isMounted(target), false);
  await assert.rejects(server.mount('no-such-fs', 'x', target, '', '/'), /No such device/);
  await assert.rejects(server.umount(target), /Invalid argument/);
});

test('the server ends when its stdin closes', async () => {
  const s = new SpawnServer(path.join(dir, 'other.sock'), silentLogger);
  await s.start();
  const pid = s.pid!;
  s.stop();
  for (let i = 0; i < 100 && fs.existsSync(`/proc/${pid}`) && !/^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8')); i++) {
    await new Promise((r) => setTimeout(r, 20));
  }
  const gone = !fs.existsSync(`/proc/${pid}`) || /^State:\s+Z/m.test(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  assert.ok(gone, 'berth-spawn still running');
  assert.equal(fs.existsSync(path.join(dir, 'other.sock')), false, 'socket left');
});
