/**
 * The real docker CLI (v28) against berthd for resource limits and security defaults: OOM kill (exit 137,
 * State.OOMKilled, `oom` event), a pids limit against a fork loop, limits in the host's cgroup files,
 * capabilities (--cap-drop NET_RAW vs ping), --read-only, no-new-privileges, the default seccomp profile
 * (and seccomp=unconfined / a profile file), --privileged devices, --init, --group-add, --ulimit, --shm-size, --device.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;

/** The host directory of a running container's cgroup for one v1 controller (or the v2 group). */
function cgroupDir(pid: number, controller: string): string {
  const lines = fs.readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n').filter(Boolean).map((l) => l.split(':'));
  const v1 = lines.find((f) => f[1].split(',').includes(controller));
  if (v1) return path.join('/sys/fs/cgroup', controller, v1[2]);
  const v2 = lines.find((f) => f[0] === '0');
  return path.join('/sys/fs/cgroup', v2 ? v2[2] : '');
}

const NAMES = ['ls-oom', 'ls-pids', 'ls-cg', 'ls-events'];

describe('resource limits and security options against berthd', { skip, timeout: 600_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let docker: BoundCli;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-compat-limits-'));
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
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  test('a memory-limited container that allocates past its limit is OOM-killed: exit 137, OOMKilled, oom event', async () => {
    const since = Math.floor(Date.now() / 1000) - 1;
    const r = await docker(['run', '--name', 'ls-oom', '-m', '32m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done'], { timeoutMs: 120_000 });
    assert.equal(r.code, 137, r.stderr);
    const state = JSON.parse(ok(await docker(['inspect', '-f', '{{json .State}}', 'ls-oom'])));
    assert.equal(state.OOMKilled, true);
    assert.equal(state.ExitCode, 137);
    const hc = JSON.parse(ok(await docker(['inspect', '-f', '{{json .HostConfig}}', 'ls-oom'])));
    assert.equal(hc.Memory, 32 * 1024 * 1024);
    const ev = ok(await docker(['events', '--since', String(since), '--until', String(Math.ceil(Date.now() / 1000) + 1), '--filter', 'container=ls-oom', '--format', '{{.Action}}']));
    assert.ok(ev.split('\n').includes('oom'), ev);
    ok(await docker(['rm', 'ls-oom']));
    // without a limit the same container is not OOM-killed
    const fine = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'x=aaaa; x=$x$x; echo fine']);
    assert.equal(ok(fine).trim(), 'fine');
  });

  test('--pids-limit stops a fork loop and the container is still removable', async () => {
    const r = await docker(['run', '--name', 'ls-pids', '--pids-limit', '20', 'busybox', 'sh', '-c', 'for i in $(seq 50); do sleep 30 & done; echo done'], { timeoutMs: 60_000 });
    assert.match(r.stderr + r.stdout, /can't fork/);
    ok(await docker(['rm', '-f', 'ls-pids']), 'rm -f');
    const left = ok(await docker(['ps', '-a', '-q', '--filter', 'name=ls-pids']));
    assert.equal(left.trim(), '');
  });

  test('limits show in the host cgroup files', async () => {
    ok(await docker(['run', '-d', '--name', 'ls-cg', '-m', '64m', '--pids-limit', '33', '--cpus', '0.5', '--cpu-shares', '512', '--memory-reservation', '16m', 'busybox', 'sleep', '60']));
    const pid = Number(ok(await docker(['inspect', '-f', '{{.State.Pid}}', 'ls-cg'])).trim());
    assert.ok(pid > 0);
    const v2 = fs.existsSync('/sys/fs/cgroup/cgroup.controllers');
    const read = (ctl: string, file: string) => fs.readFileSync(path.join(cgroupDir(pid, ctl), file), 'utf8').trim();
    if (v2) {
      assert.equal(read('', 'memory.max'), String(64 * 1024 * 1024));
      assert.equal(read('', 'pids.max'), '33');
      assert.equal(read('', 'cpu.max'), '50000 100000');
    } else {
      assert.equal(read('memory', 'memory.limit_in_bytes'), String(64 * 1024 * 1024));
      assert.equal(read('memory', 'memory.memsw.limit_in_bytes'), String(128 * 1024 * 1024));
      assert.equal(read('memory', 'memory.soft_limit_in_bytes'), String(16 * 1024 * 1024));
      assert.equal(read('pids', 'pids.max'), '33');
      assert.equal(read('cpu', 'cpu.cfs_quota_us'), '50000');
      assert.equal(read('cpu', 'cpu.cfs_period_us'), '100000');
      assert.equal(read('cpu', 'cpu.shares'), '512');
    }
    const hc = JSON.parse(ok(await docker(['inspect', '-f', '{{json .HostConfig}}', 'ls-cg'])));
    assert.equal(hc.NanoCpus, 500_000_000);
    assert.equal(hc.PidsLimit, 33);
    assert.equal(hc.CpuShares, 512);
    ok(await docker(['rm', '-f', 'ls-cg']));
  });

  test('invalid limits are refused at create with dockerd wording', async () => {
    const small = await docker(['create', '-m', '1m', 'busybox']);
    assert.notEqual(small.code, 0);
    assert.match(small.stderr, /Minimum memory limit allowed is 6MB/);
    const swap = await docker(['create', '-m', '64m', '--memory-swap', '32m', 'busybox']);
    assert.notEqual(swap.code, 0);
    assert.match(swap.stderr, /Minimum memoryswap limit should be larger than memory limit/);
    const cap = await docker(['create', '--cap-add', 'NOT_A_CAP', 'busybox']);
    assert.notEqual(cap.code, 0);
    assert.match(cap.stderr, /unknown capability/);
  });

  test('--cap-drop NET_RAW makes ping fail; it works with the default set; lowercase and CAP_ forms', async () => {
    assert.match(ok(await docker(['run', '--rm', 'busybox', 'ping', '-c1', '-W2', '127.0.0.1'])), /1 packets received/);
    const dropped = await docker(['run', '--rm', '--cap-drop', 'NET_RAW', 'busybox', 'ping', '-c1', '-W2', '127.0.0.1']);
    assert.notEqual(dropped.code, 0);
    assert.match(dropped.stderr + dropped.stdout, /permission denied|Operation not permitted/i);
    const lower = await docker(['run', '--rm', '--cap-drop', 'cap_net_raw', 'busybox', 'ping', '-c1', '-W2', '127.0.0.1']);
    assert.notEqual(lower.code, 0);
    const capEff = (out: string) => BigInt('0x' + /CapEff:\s+([0-9a-f]+)/.exec(out)![1]);
    const none = capEff(ok(await docker(['run', '--rm', '--cap-drop', 'ALL', 'busybox', 'cat', '/proc/self/status'])));
    assert.equal(none, 0n);
    const admin = capEff(ok(await docker(['run', '--rm', '--cap-add', 'SYS_ADMIN', 'busybox', 'cat', '/proc/self/status'])));
    assert.ok(admin & (1n << 21n), 'CAP_SYS_ADMIN (21) in CapEff');
  });

  test('--read-only refuses writes to / and /tmp; a --tmpfs /tmp is writable', async () => {
    const r = await docker(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x']);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /Read-only file system/);
    const t = await docker(['run', '--rm', '--read-only', 'busybox', 'touch', '/tmp/x']);
    assert.notEqual(t.code, 0);
    ok(await docker(['run', '--rm', '--read-only', '--tmpfs', '/tmp', 'busybox', 'touch', '/tmp/x']), 'tmpfs /tmp');
  });

  test('no-new-privileges sets NoNewPrivs in the process', async () => {
    const off = ok(await docker(['run', '--rm', 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']));
    assert.match(off, /NoNewPrivs:\s+0/);
    for (const opt of ['no-new-privileges', 'no-new-privileges:true', 'no-new-privileges=true']) {
      const on = ok(await docker(['run', '--rm', '--security-opt', opt, 'busybox', 'grep', 'NoNewPrivs', '/proc/self/status']), opt);
      assert.match(on, /NoNewPrivs:\s+1/, opt);
    }
    const bad = await docker(['create', '--security-opt', 'bogus=1', 'busybox']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /invalid --security-opt/);
  });

  test('the default seccomp profile blocks unshare; unconfined and a profile file change that; normal commands work', async () => {
    const status = ok(await docker(['run', '--rm', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']));
    assert.match(status, /Seccomp:\s+2/);
    ok(await docker(['run', '--rm', 'busybox', 'sh', '-c', 'ls / >/dev/null && date >/dev/null && wget --help >/dev/null 2>&1; echo ok']));
    const blocked = await docker(['run', '--rm', 'busybox', 'unshare', '-U', 'true']);
    assert.notEqual(blocked.code, 0);
    assert.match(blocked.stderr, /Operation not permitted/);
    const free = await docker(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']);
    assert.match(ok(free), /Seccomp:\s+0/);
    // a profile that allows everything but mkdir: the CLI sends the file's content inline
    const profile = path.join(tmp, 'no-mkdir.json');
    fs.writeFileSync(profile, JSON.stringify({
      defaultAction: 'SCMP_ACT_ALLOW',
      archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86', 'SCMP_ARCH_X32'] }, { architecture: 'SCMP_ARCH_AARCH64', subArchitectures: ['SCMP_ARCH_ARM'] }],
      syscalls: [{ names: ['mkdir', 'mkdirat'], action: 'SCMP_ACT_ERRNO' }],
    }));
    const custom = await docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'mkdir', '/tmp/d']);
    assert.notEqual(custom.code, 0);
    assert.match(custom.stderr, /Operation not permitted/);
    ok(await docker(['run', '--rm', '--security-opt', `seccomp=${profile}`, 'busybox', 'touch', '/tmp/f']));
  });

  test('--privileged sees the host devices, all capabilities, writable /sys', async () => {
    const plain = ok(await docker(['run', '--rm', 'busybox', 'ls', '/dev'])).split('\n').filter(Boolean);
    const priv = ok(await docker(['run', '--rm', '--privileged', 'busybox', 'ls', '/dev'])).split('\n').filter(Boolean);
    assert.ok(priv.length > plain.length, `${priv.length} > ${plain.length}`);
    const hostDevs = fs.readdirSync('/dev').filter((n) => { try { return fs.statSync(`/dev/${n}`).isCharacterDevice(); } catch { return false; } });
    for (const d of hostDevs.filter((n) => !['console', 'ptmx', 'tty'].includes(n)).slice(0, 5)) assert.ok(priv.includes(d), `${d} in ${priv.join(' ')}`);
    const caps = ok(await docker(['run', '--rm', '--privileged', 'busybox', 'grep', 'CapEff', '/proc/self/status']));
    const hostBnd = /CapBnd:\s+([0-9a-f]+)/.exec(fs.readFileSync('/proc/self/status', 'utf8'))![1];
    assert.match(caps, new RegExp(`CapEff:\\s+${hostBnd}`));
    ok(await docker(['run', '--rm', '--privileged', 'busybox', 'sh', '-c', 'grep -q " /sys sysfs rw" /proc/mounts']), 'rw /sys');
    const seccomp = ok(await docker(['run', '--rm', '--privileged', 'busybox', 'grep', 'Seccomp:', '/proc/self/status']));
    assert.match(seccomp, /Seccomp:\s+0/);
  });

  test('--device maps a host device (with a new path), --group-add, --ulimit, --shm-size, --init', async () => {
    const dev = ok(await docker(['run', '--rm', '--device', '/dev/null:/dev/mynull', 'busybox', 'sh', '-c', 'ls -l /dev/mynull && echo hi > /dev/mynull']));
    assert.match(dev, /^c.* 1,\s+3 /m);
    const missing = await docker(['run', '--rm', '--device', '/dev/does-not-exist', 'busybox', 'true']);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /error gathering device information/);
    // dockerd 20.10 prints exactly these: the primary group is a supplementary group too
    const groups = ok(await docker(['run', '--rm', '--group-add', 'daemon', '--group-add', '4242', 'busybox', 'id', '-G'])).trim();
    assert.equal(groups, '0 1 4242');
    const numeric = ok(await docker(['run', '--rm', '-u', '1234:55', 'busybox', 'grep', '^Groups:', '/proc/self/status'])).trim();
    assert.match(numeric, /^Groups:\s+55$/);
    const ul = ok(await docker(['run', '--rm', '--ulimit', 'nofile=1024:2048', 'busybox', 'sh', '-c', 'ulimit -n; ulimit -Hn'])).trim().split('\n');
    assert.deepEqual(ul, ['1024', '2048']);
    const shm = ok(await docker(['run', '--rm', '--shm-size', '128m', 'busybox', 'df', '-k', '/dev/shm']));
    assert.match(shm, /131072/);
    const defShm = ok(await docker(['run', '--rm', 'busybox', 'df', '-k', '/dev/shm']));
    assert.match(defShm, /65536/);
    const init = ok(await docker(['run', '--rm', '--init', 'busybox', 'sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "']));
    assert.match(init, /^\/sbin\/docker-init -- sh/);
  });

  test('block IO throttles and --oom-score-adj reach the container; --storage-opt and --gpus are refused as dockerd does here', async () => {
    const disk = ['/dev/vda', '/dev/sda', '/dev/nvme0n1', '/dev/xvda'].find((d) => { try { return fs.statSync(d).isBlockDevice(); } catch { return false; } });
    if (disk) {
      const st = fs.statSync(disk);
      const dev = `${Math.floor(st.rdev / 256) & 0xfff}:${st.rdev & 0xff}`;
      assert.equal(ok(await docker(['run', '--rm', '--device-read-bps', `${disk}:1mb`, '--device-write-iops', `${disk}:100`, 'busybox', 'cat',
        '/sys/fs/cgroup/blkio/blkio.throttle.read_bps_device', '/sys/fs/cgroup/blkio/blkio.throttle.write_iops_device'])), `${dev} 1048576\n${dev} 100\n`);
    }
    const notBlock = await docker(['run', '--rm', '--device-read-bps', '/dev/null:1mb', 'busybox', 'true']);
    assert.equal(notBlock.code, 125);
    assert.match(notBlock.stderr, /\/dev\/null is not a block device/);
    assert.equal(ok(await docker(['run', '--rm', '--oom-score-adj', '500', 'busybox', 'cat', '/proc/self/oom_score_adj'])), '500\n');
    const oom = await docker(['run', '--rm', '--oom-score-adj', '5000', 'busybox', 'true']);
    assert.match(oom.stderr, /Invalid value 5000, range for oom score adj is \[-1000, 1000\]/);
    const quota = await docker(['run', '--rm', '--storage-opt', 'size=1G', 'busybox', 'true']);
    assert.equal(quota.code, 125);
    assert.match(quota.stderr, /--storage-opt is supported only for overlay over xfs with 'pquota' mount option/);
    const gpus = await docker(['run', '--rm', '--gpus', 'all', 'busybox', 'true']);
    assert.equal(gpus.code, 125);
    assert.match(gpus.stderr, /could not select device driver "" with capabilities: \[\[gpu\]\]/);
  });

  test('--cgroup-parent places the container\'s cgroup; stats and top find it; rm removes it', async () => {
    const parent = `berth-test-parent-${process.pid}`;
    const parentDirs = () => fs.readdirSync('/sys/fs/cgroup').map((h) => `/sys/fs/cgroup/${h}/${parent}`).filter((d) => fs.existsSync(d));
    try {
      const id = ok(await docker(['run', '-d', '--cgroup-parent', `/${parent}`, '--memory', '32m', 'busybox', 'sleep', '600'])).trim();
      assert.equal(ok(await docker(['exec', id, 'grep', ':memory:', '/proc/self/cgroup'])).trim().split(':')[2], `/${parent}/${id}`);
      assert.equal(fs.readFileSync(`/sys/fs/cgroup/memory/${parent}/${id}/memory.limit_in_bytes`, 'utf8').trim(), String(32 * 1024 * 1024));
      assert.match(ok(await docker(['stats', '--no-stream', '--format', '{{.MemUsage}}', id])), /\/ 32MiB/);
      assert.match(ok(await docker(['top', id])), /sleep 600/);
      ok(await docker(['rm', '-f', id]));
      for (const d of parentDirs()) assert.deepEqual(fs.readdirSync(d, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name), [], `${d} still holds the container's group`);
    } finally {
      for (const d of parentDirs()) fs.rmdirSync(d);
    }
  });
});
