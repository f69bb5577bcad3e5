/**
 * Non-TTY execs run as berth-exec children of the daemon: the process gets what `runc exec` would give it
 * (cgroups, namespaces, seccomp, capabilities, rlimits, user, HOME), what is and is not a start failure, the
 * end of an exec when its container stops, and the files of a session.
 */
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import type { Readable } from 'node:stream';
import { ExecService } from '../../src/engine/exec';
import { nativeExecBinary } from '../../src/runtime/native-exec';
import { silentLogger } from '../../src/util/logger';
import { IMAGE, makeBed, sleep, type Bed } from './containers-fixture';

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

/** The exec server's children: one per exec under way. */
function serverChildren(): string[] {
  const pid = bed.svc.runtime.execServer.pid;
  assert.ok(pid, 'the exec server runs');
  return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(' ').filter(Boolean);
}

test('the exec\'d process is in the container\'s cgroups; inspect has its pid; no temp files stay', { skip }, async () => {
  const r = await runExec(running, ['cat', '/proc/self/cgroup']);
  assert.equal(r.info.ExitCode, 0);
  const lines = r.out.stdout.trim().split('\n').filter((l) => /:(pids|memory):/.test(l));
  assert.ok(lines.length > 0, r.out.stdout);
  for (const l of lines) assert.ok(l.endsWith(`/${running}`), l);
  assert.ok(r.info.Pid > 0);
  await sleep(100);
  // the compiled seccomp filter stays with the container; its text form does not
  assert.deepEqual(fs.readdirSync(bed.svc.paths.dir(running)).filter((n) => n.startsWith('exec-')), ['exec-seccomp.bpf']);
});

test('a process exiting 255 with a runtime-like stderr line is an exit, not a start failure', { skip }, async () => {
  const line = 'time="2026-01-01T00:00:00Z" level=error msg="exec failed: made up"';
  const r = await runExec(running, ['sh', '-c', `echo out; echo '${line}' >&2; exit 255`]);
  assert.equal(r.info.ExitCode, 255);
  assert.equal(r.out.stdout, 'out\n');
  assert.equal(r.out.stderr, `${line}\n`);
});

test('-u applies the image\'s user; HOME comes from its passwd entry unless the environment has one', { skip }, async () => {
  const { Id } = execs.create(running, { Cmd: ['id', '-u'], AttachStdout: true, User: 'nobody' });
  let out = '';
  await new Promise<void>((resolve, reject) => {
    execs.start(Id, { detach: false }, { output: (_s, b) => (out += b.toString()), end: () => resolve() }).catch(reject);
  });
  assert.equal(out, '65534\n');
  assert.equal((await runExec(running, ['sh', '-c', 'echo $HOME'])).out.stdout, '/root\n');
  const { Id: custom } = execs.create(running, { Cmd: ['sh', '-c', 'echo $HOME'], AttachStdout: true, Env: ['HOME=/elsewhere'] });
  out = '';
  await new Promise<void>((resolve, reject) => {
    execs.start(custom, { detach: false }, { output: (_s, b) => (out += b.toString()), end: () => resolve() }).catch(reject);
  });
  assert.equal(out, '/elsewhere\n');
});

test('the exec\'d process shares the init\'s namespaces and gets its seccomp filter, rlimits, oom score and no_new_privs', { skip }, async () => {
  const strict = (await bed.svc.create({
    Image: IMAGE, Cmd: ['sleep', '600'],
    HostConfig: {
      Ulimits: [{ Name: 'nofile', Soft: 123, Hard: 456 }], OomScoreAdj: 321, SecurityOpt: ['no-new-privileges'],
      CapDrop: ['ALL'], CapAdd: ['CHOWN'],
    },
  })).Id;
  await bed.svc.start(strict);
  try {
    const ns = (await runExec(strict, ['sh', '-c', 'for n in ipc mnt net pid uts cgroup; do echo $(readlink /proc/1/ns/$n) $(readlink /proc/self/ns/$n); done'])).out.stdout;
    const pairs = ns.trim().split('\n').map((l) => l.split(' '));
    assert.equal(pairs.length, 6);
    for (const [init, own] of pairs) assert.equal(own, init, ns);
    const status = (await runExec(strict, ['cat', '/proc/self/status'])).out.stdout;
    const initStatus = (await runExec(strict, ['cat', '/proc/1/status'])).out.stdout;
    for (const field of ['Seccomp', 'Seccomp_filters', 'NoNewPrivs', 'CapEff', 'CapPrm', 'CapBnd']) {
      const re = new RegExp(`^${field}:\\s*(\\S+)$`, 'm');
      assert.equal(re.exec(status)?.[1], re.exec(initStatus)?.[1], field);
    }
    assert.match(status, /^Seccomp:\s*2$/m);
    assert.match(status, /^NoNewPrivs:\s*1$/m);
    assert.match(status, /^CapEff:\s*0000000000000001$/m);
    assert.equal((await runExec(strict, ['sh', '-c', 'ulimit -Sn; ulimit -Hn; cat /proc/self/oom_score_adj'])).out.stdout, '123\n456\n321\n');
    // the default profile refuses what the capabilities do not allow (unshare needs CAP_SYS_ADMIN)
    const denied = await runExec(strict, ['busybox', 'unshare', '-n', 'true']);
    assert.notEqual(denied.info.ExitCode, 0);
    assert.match(denied.out.stderr, /Operation not permitted/);
  } finally {
    await bed.svc.remove(strict, { force: true });
  }
});

test('a custom seccomp profile applies to execs as to the init', { skip }, async () => {
  const profile = { defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO', errnoRet: 13 }] };
  const custom = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'], HostConfig: { SecurityOpt: [`seccomp=${JSON.stringify(profile)}`] } })).Id;
  await bed.svc.start(custom);
  try {
    const r = await runExec(custom, ['busybox', 'mkdir', '/made-by-exec']);
    assert.equal(r.info.ExitCode, 1);
    assert.match(r.out.stderr, /Permission denied/);
    assert.equal((await runExec(custom, ['busybox', 'touch', '/touched-by-exec'])).info.ExitCode, 0);
  } finally {
    await bed.svc.remove(custom, { force: true });
  }
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

test('an exec ends with 137 when its container is killed, and its berth-exec is gone', { skip }, async () => {
  const victim = (await bed.svc.create({ Image: IMAGE, Cmd: ['sleep', '600'] })).Id;
  await bed.svc.start(victim);
  const { Id } = execs.create(victim, { Cmd: ['sleep', '300'] });
  await execs.start(Id, { detach: true });
  const info = () => execs.inspect(Id) as { Running: boolean; ExitCode: number | null; Pid: number };
  assert.equal(info().Running, true);
  for (let i = 0; i < 50 && !info().Pid; i++) await sleep(20);
  assert.equal(serverChildren().length, 1, 'one handler while the exec runs');
  assert.ok(info().Pid > 0, 'pid of a running exec');
  await bed.svc.kill(victim, 'SIGKILL');
  for (let i = 0; i < 100 && info().Running; i++) await sleep(50);
  assert.equal(info().Running, false);
  assert.equal(info().ExitCode, 137);
  for (let i = 0; i < 50 && serverChildren().length; i++) await sleep(20);
  assert.deepEqual(serverChildren(), []);
  await bed.svc.remove(victim, { force: true });
});

test('berth-exec refuses a pid that is not the container\'s init (a reused pid joins nothing)', { skip }, async () => {
  const child = spawn(nativeExecBinary(), ['--pid', String(process.pid), '--cgroup', `/berth/${running}`, '--', 'true'], {
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  let status = '';
  (child.stdio[3] as Readable).on('data', (b: Buffer) => (status += b.toString()));
  const code = await new Promise((resolve) => child.on('close', resolve));
  assert.equal(code, 255);
  assert.equal(status, 'error cannot exec in a stopped container\n');
});
