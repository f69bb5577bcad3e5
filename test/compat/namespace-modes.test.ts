/**
 * `--pid`, `--ipc`, `--uts`, `--cgroupns` and `--sysctl` through the real docker CLI: sharing the host's namespaces,
 * joining another container's, a shareable /dev/shm seen from a second container, dockerd's refusals, and
 * nothing mounted once the containers are gone.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import { berthCli, DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startDockerBed, type DockerBed } from '../helpers/mirrored-daemon';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}` : false;
const hostNs = (kind: string) => fs.readlinkSync(`/proc/self/ns/${kind}`);
const mountsUnder = (dir: string) => fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(dir));

describe('docker CLI: namespace modes against berthd', { skip, timeout: 120_000 }, () => {
  let bed: DockerBed;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    bed = await startDockerBed();
    ({ daemon, docker } = bed);
  });

  after(async () => {
    await bed?.close(['ns-donor', 'ns-private']);
  });

  const run = (args: string[]) => docker(['run', '--rm', '--network', 'none', ...args]);

  test('the defaults: namespaces of its own; inspect reports the modes as dockerd does', async () => {
    const out = ok(await run(['busybox', 'sh', '-c', 'readlink /proc/self/ns/pid /proc/self/ns/ipc /proc/self/ns/uts; hostname']));
    const [pid, ipc, uts, hostname] = out.trim().split('\n');
    assert.notEqual(pid, hostNs('pid'));
    assert.notEqual(ipc, hostNs('ipc'));
    assert.notEqual(uts, hostNs('uts'));
    assert.notEqual(hostname, os.hostname());
    ok(await docker(['create', '--name', 'ns-private', 'busybox', 'sleep', '60']));
    assert.equal(ok(await docker(['inspect', '-f', '{{.HostConfig.PidMode}}|{{.HostConfig.IpcMode}}|{{.HostConfig.UTSMode}}|{{.HostConfig.CgroupnsMode}}', 'ns-private'])).trim(), '|private||host');
  });

  test('--pid, --ipc and --uts host share the host\'s; --cgroupns private hides the cgroup paths', async () => {
    assert.equal(ok(await run(['--pid', 'host', 'busybox', 'readlink', '/proc/self/ns/pid'])).trim(), hostNs('pid'));
    assert.equal(ok(await run(['--ipc', 'host', 'busybox', 'readlink', '/proc/self/ns/ipc'])).trim(), hostNs('ipc'));
    assert.equal(ok(await run(['--uts', 'host', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/uts; hostname'])), `${hostNs('uts')}\n${os.hostname()}\n`);
    const conflict = await run(['--uts', 'host', '-h', 'mine', 'busybox', 'true']);
    assert.equal(conflict.code, 125);
    assert.match(conflict.stderr, /conflicting options: hostname and the UTS mode/);
    assert.match(ok(await run(['--cgroupns', 'private', 'busybox', 'cat', '/proc/self/cgroup'])), /^\d+:memory:\/$/m);
    assert.doesNotMatch(ok(await run(['busybox', 'cat', '/proc/self/cgroup'])), /^\d+:memory:\/$/m);
  });

  test('container:<name> joins a running container\'s pid and ipc namespaces; /dev/shm of a shareable one is shared', async () => {
    ok(await docker(['run', '-d', '--name', 'ns-donor', '--network', 'none', '--ipc', 'shareable', '--shm-size', '4m', 'busybox', 'sh', '-c', 'echo from-donor > /dev/shm/note; sleep 600']));
    const donorPid = ok(await docker(['exec', 'ns-donor', 'readlink', '/proc/self/ns/pid'])).trim();
    const donorIpc = ok(await docker(['exec', 'ns-donor', 'readlink', '/proc/self/ns/ipc'])).trim();
    assert.equal(ok(await run(['--pid', 'container:ns-donor', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/pid; cat /proc/1/cmdline | tr "\\0" " "'])), `${donorPid}\nsleep 600 `);
    assert.equal(ok(await run(['--ipc', 'container:ns-donor', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/ipc; cat /dev/shm/note; df -k /dev/shm | tail -1'])).split('\n').slice(0, 2).join('\n'), `${donorIpc}\nfrom-donor`);
    // the donor's /dev/shm is a host tmpfs while it runs, and only then
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'ns-donor'])).trim();
    assert.equal(mountsUnder(`${id}/shm`).length, 1);
    ok(await docker(['stop', '-t', '0', 'ns-donor']));
    assert.deepEqual(mountsUnder(`${id}/shm`), []);
    const stopped = await run(['--pid', 'container:ns-donor', 'busybox', 'true']);
    assert.equal(stopped.code, 125);
    assert.match(stopped.stderr, /cannot join PID of a non running container/);
    ok(await docker(['start', 'ns-private']));
    const private_ = await run(['--ipc', 'container:ns-private', 'busybox', 'true']);
    assert.equal(private_.code, 125);
    assert.match(private_.stderr, /non-shareable IPC/);
  });

  test('the berth CLI sends the same flags', async () => {
    const berth = berthCli(daemon);
    assert.equal(ok(await berth(['run', '--rm', '--network', 'none', '--pid', 'host', '--uts', 'host', 'busybox', 'sh', '-c', 'readlink /proc/self/ns/pid; hostname'])), `${hostNs('pid')}\n${os.hostname()}\n`);
    const bad = await berth(['run', '--rm', '--ipc', 'sideways', 'busybox', 'true']);
    assert.equal(bad.code, 125);
    assert.match(bad.stderr, /invalid argument "sideways" for "--ipc" flag: invalid IPC mode/);
  });

  test('--sysctl sets the container\'s own network and IPC values; a host namespace or another sysctl is refused', async () => {
    assert.equal(ok(await run(['--sysctl', 'net.core.somaxconn=1024', '--sysctl', 'kernel.shmmax=123456', 'busybox', 'cat',
      '/proc/sys/net/core/somaxconn', '/proc/sys/kernel/shmmax'])), '1024\n123456\n');
    const hostNet = await docker(['run', '--rm', '--network', 'host', '--sysctl', 'net.core.somaxconn=1024', 'busybox', 'true']);
    assert.equal(hostNet.code, 125);
    assert.match(hostNet.stderr, /sysctl "net.core.somaxconn" is not allowed in host network namespace/);
    const hostIpc = await run(['--ipc', 'host', '--sysctl', 'kernel.shmmax=1', 'busybox', 'true']);
    assert.match(hostIpc.stderr, /sysctl "kernel.shmmax" is not allowed in host IPC namespace/);
    const other = await berthCli(daemon)(['run', '--rm', '--sysctl', 'vm.swappiness=1', 'busybox', 'true']);
    assert.equal(other.code, 125);
    assert.match(other.stderr, /sysctl 'vm.swappiness=1' is not whitelisted/);
  });

  test('--ipc none: no /dev/shm at all', async () => {
    assert.equal(ok(await run(['--ipc', 'none', 'busybox', 'sh', '-c', 'grep -c " /dev/shm " /proc/mounts || true'])).trim(), '0');
  });
});
