/**
 * Non-TTY execs run as `runc exec`, started by the spawn server: cgroup membership, what is and is not a runtime
 * failure, the end of an exec when its container stops, and the temp files of a session.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { ExecService } from '../../src/engine/exec';
import { silentLogger } from '../../src/util/logger';
import { IMAGE, makeBed, sleep, type Bed } from './containers-fixture';

const execFileP = promisify(execFile);
const skip = process.getuid?.() !== 0 ? 'needs root' : false;
let bed: Bed;
let execs: ExecService;
let running: string;

before(async () => {
  if (skip) return;
  bed = await makeBed();
  execs = new ExecService({ containers: bed.svc, events: bed.events, log: silentLogger });
  running = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'] })).Id;
  await bed.svc.start(running);
});
after(async () => {
  if (skip) return;
  await bed.close();
});

/** Run an attached exec to its end; resolves with its output and inspect view. */
async function runExec(containerId: string, cmd: string[]) {
  const { Id } = execs.create(containerId, { Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const out = { stdout: '', stderr: '' };
  await new Promise<void>((resolve, reject) => {
    execs.start(Id, { detach: false }, { output: (s, b) => (out[s] += b.toString()), end: () => resolve() }).catch(reject);
  });
  return { id: Id, out, info: (await execs.inspectSettled(Id)) as { ExitCode: number | null; Running: boolean; Pid: number } };
}

/** runc exec processes this bed's daemon side started and that are still there. */
async function runcExecsLeft(): Promise<string[]> {
  const { stdout } = await execFileP('ps', ['-eo', 'args']);
  return stdout.split('\n').filter((l) => l.includes('runc') && l.includes(' exec ') && l.includes(bed.execRoot));
}

test('the exec\'d process is in the container\'s cgroups; inspect has its pid; no temp files stay', { skip }, async () => {
  const r = await runExec(running, ['cat', '/proc/self/cgroup']);
  assert.equal(r.info.ExitCode, 0);
  const lines = r.out.stdout.trim().split('\n').filter((l) => /:(pids|memory):/.test(l));
  assert.ok(lines.length > 0, r.out.stdout);
  for (const l of lines) assert.ok(l.endsWith(`/${running}`), l);
  assert.ok(r.info.Pid > 0);
  const tmp = path.join(bed.dataRoot, 'tmp');
  await sleep(100);
  assert.deepEqual(fs.readdirSync(tmp).filter((n) => n.startsWith('exec-')), []);
});

test('a process exiting 255 with a runc-like stderr line is an exit, not a start failure', { skip }, async () => {
  const line = 'time="2026-01-01T00:00:00Z" level=error msg="exec failed: made up"';
  const r = await runExec(running, ['sh', '-c', `echo out; echo '${line}' >&2; exit 255`]);
  assert.equal(r.info.ExitCode, 255);
  assert.equal(r.out.stdout, 'out\n');
  assert.equal(r.out.stderr, `${line}\n`);
});

test('-u goes through a process.json and still applies the user', { skip }, async () => {
  const { Id } = execs.create(running, { Cmd: ['id', '-u'], AttachStdout: true, User: 'nobody' });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    execs.start(Id, { detach: false }, { output: (_s, b) => (out += b.toString()), end: () => resolve() }).catch(reject);
  });
  assert.equal(out, '65534\n');
});

test('exec -u keeps the container\'s --group-add; exec --privileged gets every capability, as with dockerd', { skip }, async () => {
  const grouped = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'], HostConfig: { GroupAdd: ['4242'] } })).Id;
  await bed.svc.start(grouped);
  try {
    // dockerd 20.10 prints these for the same container: the exec's user keeps the container's extra group
    const { Id } = execs.create(grouped, { Cmd: ['id', '-G'], AttachStdout: true, User: '5' });
    let out = '';
    await new Promise<void>((resolve, reject) => {
      execs.start(Id, { detach: false }, { output: (_s, b) => (out += b.toString()), end: () => resolve() }).catch(reject);
    });
    assert.equal(out, '0 4242\n');
    assert.equal((await runExec(grouped, ['id', '-G'])).out.stdout, '0 4242\n');

    const caps = async (privileged: boolean) => {
      const { Id: pid } = execs.create(grouped, { Cmd: ['cat', '/proc/self/status'], AttachStdout: true, Privileged: privileged });
      let text = '';
      await new Promise<void>((resolve, reject) => {
        execs.start(pid, { detach: false }, { output: (_s, b) => (text += b.toString()), end: () => resolve() }).catch(reject);
      });
      const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(text);
      if (!m) throw new Error(text);
      return m[1];
    };
    const hostBnd = /^CapBnd:\s*([0-9a-f]+)$/m.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
    assert.equal(await caps(true), hostBnd);
    assert.notEqual(await caps(false), hostBnd, 'a plain exec keeps the default set');
  } finally {
    await bed.svc.remove(grouped, { force: true });
  }
});

test('an exec ends with 137 when its container is killed, and its runc is gone', { skip }, async () => {
  const victim = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'] })).Id;
  await bed.svc.start(victim);
  const { Id } = execs.create(victim, { Cmd: ['sleep', '300'] });
  await execs.start(Id, { detach: true });
  const info = () => execs.inspect(Id) as { Running: boolean; ExitCode: number | null; Pid: number };
  assert.equal(info().Running, true);
  for (let i = 0; i < 50 && !info().Pid; i++) await sleep(20);
  assert.ok(info().Pid > 0, 'pid of a running exec');
  await bed.svc.kill(victim, 'SIGKILL');
  for (let i = 0; i < 100 && info().Running; i++) await sleep(50);
  assert.equal(info().Running, false);
  assert.equal(info().ExitCode, 137);
  assert.deepEqual(await runcExecsLeft(), []);
  await bed.svc.remove(victim, { force: true });
});

test('health probes: exit code and output; a probe that cannot start rejects in dockerd\'s words; a timeout is -1 and kills it', { skip }, async () => {
  // stdout and stderr are two pipes: their order in the output is the order they were read in
  const both = await execs.probe(running, ['sh', '-c', 'echo out; echo err >&2; exit 4'], 10_000, 4096);
  assert.equal(both.code, 4);
  assert.deepEqual(both.output.split('\n').sort(), ['', 'err', 'out']);
  assert.deepEqual(await execs.probe(running, ['sh', '-c', 'yes | head -c 10000'], 10_000, 100), { code: 0, output: 'y\n'.repeat(50) });
  await assert.rejects(execs.probe(running, ['nope'], 10_000, 4096),
    /OCI runtime exec failed: exec failed: unable to start container process: exec: "nope": executable file not found in \$PATH: unknown/);
  const t0 = Date.now();
  const slow = await execs.probe(running, ['sleep', '30'], 300, 4096);
  assert.equal(slow.code, -1);
  assert.ok(Date.now() - t0 < 5000, 'the probe was killed at its timeout');
});
