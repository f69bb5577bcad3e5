/**
 * `berth run/create` resource and security flags against a real berthd (runc + conmon): the HostConfig the
 * flags produce (compared with what the real docker CLI sends for the same flags), the OCI spec berthd writes
 * for them (config.json in the bundle), and their effect in the container (inspect and exec through the docker CLI).
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { berthCli, dockerCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import { startBerthd, type Berthd } from '../helpers/daemon';
import { seedImages, startRegistry, type Registry } from '../helpers/registry';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? 'no docker CLI (used for inspect and exec)' : false;

const FLAGS = [
  '-m', '48m', '--memory-reservation', '20m', '--cpus', '1.5', '-c', '256', '--cpuset-cpus', '0', '--pids-limit', '40',
  '--ulimit', 'nofile=500:600', '--shm-size', '8m', '--cap-add', 'sys_time', '--cap-drop', 'CAP_CHOWN',
  '--security-opt', 'no-new-privileges', '--device', '/dev/cpu_dma_latency:/dev/k:r', '--group-add', '4000', '--init',
];

const KEYS = ['Memory', 'MemorySwap', 'MemoryReservation', 'NanoCpus', 'CpuShares', 'CpusetCpus', 'PidsLimit', 'Ulimits', 'ShmSize',
  'CapAdd', 'CapDrop', 'SecurityOpt', 'Devices', 'GroupAdd', 'Init'];

describe('berth run/create resource and security flags', { skip, timeout: 300_000 }, () => {
  let reg: Registry;
  let daemon: Berthd;
  let berth: BoundCli;
  let docker: BoundCli;
  let tmp: string;

  before(async () => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-limits-cli-'));
    reg = await startRegistry();
    await seedImages(reg, ['busybox']);
    daemon = await startBerthd({ registryMirror: reg.url, insecureRegistries: [reg.host] });
    berth = berthCli(daemon);
    docker = dockerCli(daemon);
    ok(await berth(['pull', 'busybox']), 'berth pull busybox');
  });

  after(async () => {
    if (berth) await berth(['rm', '-f', 'lc-berth', 'lc-docker', 'lc-run']).catch(() => undefined);
    await daemon?.stop();
    await reg?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const hostConfig = async (name: string) => JSON.parse(ok(await docker(['inspect', '-f', '{{json .HostConfig}}', name]))) as Record<string, unknown>;

  test('berth create sends the same HostConfig as docker create for the same flags', async () => {
    ok(await berth(['create', '--name', 'lc-berth', ...FLAGS, 'busybox', 'true']), 'berth create');
    ok(await docker(['create', '--name', 'lc-docker', ...FLAGS, 'busybox', 'true']), 'docker create');
    const a = await hostConfig('lc-berth');
    const b = await hostConfig('lc-docker');
    for (const k of KEYS) assert.deepEqual(a[k], b[k], k);
    assert.equal(a.Memory, 48 * 1024 * 1024);
    assert.equal(a.NanoCpus, 1_500_000_000);
    ok(await berth(['rm', 'lc-berth', 'lc-docker']));
  });

  test('the flags reach the OCI spec and the process', async () => {
    const id = ok(await berth(['run', '-d', '--name', 'lc-run', ...FLAGS, 'busybox', 'sleep', '60'])).trim();
    const spec = JSON.parse(fs.readFileSync(path.join(daemon.dataRoot, 'containers', id, 'bundle', 'config.json'), 'utf8'));
    const res = spec.linux.resources;
    assert.deepEqual(res.memory, { limit: 48 * 1024 * 1024, swap: 96 * 1024 * 1024, reservation: 20 * 1024 * 1024 });
    assert.deepEqual(res.cpu, { shares: 256, period: 100000, quota: 150000, cpus: '0' });
    assert.deepEqual(res.pids, { limit: 40 });
    assert.ok(res.devices.some((d: Record<string, unknown>) => d.allow && d.type === 'c' && d.major === 10 && d.minor === 259 && d.access === 'r'));
    assert.deepEqual(spec.process.rlimits.find((r: { type: string }) => r.type === 'RLIMIT_NOFILE'), { type: 'RLIMIT_NOFILE', soft: 500, hard: 600 });
    assert.equal(spec.process.noNewPrivileges, true);
    assert.ok(spec.process.capabilities.bounding.includes('CAP_SYS_TIME'));
    assert.ok(!spec.process.capabilities.bounding.includes('CAP_CHOWN'));
    assert.deepEqual(spec.process.args, ['/sbin/docker-init', '--', 'sleep', '60']);
    assert.equal(spec.linux.seccomp.defaultAction, 'SCMP_ACT_ERRNO');
    // CAP_SYS_TIME opens the clock-setting syscalls in the default profile
    assert.ok(spec.linux.seccomp.syscalls.some((s: { names: string[] }) => s.names.includes('settimeofday')));
    assert.ok(spec.mounts.some((m: { destination: string; options: string[] }) => m.destination === '/dev/shm' && m.options.includes('size=8388608')));

    const exec = (cmd: string) => docker(['exec', 'lc-run', 'sh', '-c', cmd]);
    assert.match(ok(await exec('grep NoNewPrivs /proc/self/status')), /NoNewPrivs:\s+1/);
    // pid 1 (runc 1.1's exec raises its own soft NOFILE to the hard limit, so check the container's init)
    assert.match(ok(await exec('grep "open files" /proc/1/limits')), /files\s+500\s+600/);
    assert.ok(ok(await exec('id -G')).split(' ').map((s) => s.trim()).includes('4000'));
    // /dev/cpu_dma_latency (10:259) is not in the default allow-list: the rule lets the container open it for reading only
    const z = await exec(': < /dev/k && echo readable; echo berth-test > /dev/k');
    assert.match(z.stdout, /readable/);
    assert.match(z.stderr, /Operation not permitted/);
    assert.notEqual(z.code, 0, 'the device was given read-only');
    ok(await berth(['rm', '-f', 'lc-run']));
  });

  test('OOM kill through berth run: exit 137 and OOMKilled', async () => {
    const r = await berth(['run', '--rm', '-m', '16m', '--memory-swap', '16m', 'busybox', 'sh', '-c', 'x=a; while true; do x=$x$x; done'], { timeoutMs: 120_000 });
    assert.equal(r.code, 137, r.stderr);
  });

  test('seccomp: default blocks unshare -U, unconfined allows it; a profile file is sent inline', async () => {
    const blocked = await berth(['run', '--rm', 'busybox', 'unshare', '-U', 'true']);
    assert.notEqual(blocked.code, 0);
    ok(await berth(['run', '--rm', '--security-opt', 'seccomp=unconfined', 'busybox', 'unshare', '-U', 'true']), 'unshare unconfined');
    const file = path.join(tmp, 'deny-uname.json');
    fs.writeFileSync(file, JSON.stringify({ defaultAction: 'SCMP_ACT_ALLOW', syscalls: [{ names: ['uname'], action: 'SCMP_ACT_ERRNO' }] }));
    // busybox uname prints an empty line when the syscall fails
    assert.equal(ok(await berth(['run', '--rm', 'busybox', 'uname'])).trim(), 'Linux');
    const denied = await berth(['run', '--rm', '--security-opt', `seccomp=${file}`, 'busybox', 'uname']);
    assert.equal(ok(denied).trim(), '');
    const bad = await berth(['run', '--rm', '--security-opt', `seccomp=${path.join(tmp, 'nope.json')}`, 'busybox', 'true']);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /opening seccomp profile/);
  });
});
