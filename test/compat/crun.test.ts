/**
 * berthd with `--default-runtime crun`, driven by the real docker CLI. On this kind of host (cgroup v1 plus
 * a cgroup2 mount holding a controller) crun refuses to run on its own; berthd then runs it through
 * native/bin/berth-crun. Covered: run, exec (the direct path: process.json, crun's failure lines), logs,
 * pause, limits, stop, a berthd SIGKILL and restart, and no runtime state or cgroup left after rm.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DOCKER_CLI, ok, type BoundCli } from '../helpers/cli';
import type { Berthd } from '../helpers/daemon';
import { startDockerBed, type DockerBed } from '../helpers/mirrored-daemon';
import { existingCgroupDirs } from '../../src/runtime/cgroups';
import { hybridWithV2Controllers, runtimeBinary } from '../../src/runtime/runtime-binary';

const skip = process.getuid?.() !== 0 ? 'needs root' : !fs.existsSync(DOCKER_CLI) ? `no docker CLI at ${DOCKER_CLI}`
  : !fs.existsSync('/usr/bin/crun') ? 'no crun (scripts/setup installs it)'
  : hybridWithV2Controllers() && !runtimeBinary('crun').endsWith('berth-crun') ? 'native/bin/berth-crun not built' : false;

describe('docker CLI against berthd on crun', { skip, timeout: 180_000 }, () => {
  let bed: DockerBed;
  let daemon: Berthd;
  let docker: BoundCli;

  before(async () => {
    bed = await startDockerBed(['--default-runtime', 'crun']);
    ({ daemon, docker } = bed);
  });

  after(async () => {
    await bed?.close(['cr-a', 'cr-b']);
  });

  test('info names crun; run --rm prints and returns the exit code; limits reach the cgroup', async () => {
    assert.equal(ok(await docker(['info', '-f', '{{.DefaultRuntime}}'])).trim(), 'crun');
    const r = await docker(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'echo out; echo err >&2; exit 5']);
    assert.equal(r.code, 5);
    assert.equal(r.stdout, 'out\n');
    assert.equal(r.stderr, 'err\n');
    const limit = ok(await docker(['run', '--rm', '--network', 'none', '--memory', '24m', '--pids-limit', '33', 'busybox', 'sh', '-c',
      'cat /sys/fs/cgroup/memory/memory.limit_in_bytes /sys/fs/cgroup/pids/pids.max']));
    assert.equal(limit, `${24 * 1024 * 1024}\n33\n`);
    // the default capability set, as with runc
    assert.match(ok(await docker(['run', '--rm', '--network', 'none', 'busybox', 'grep', 'CapEff', '/proc/self/status'])), /CapEff:\s+00000000a80425fb/);
  });

  test('exec: environment, user, workdir, stdin, exit codes; a process that cannot start is exit 126 with crun\'s words', async () => {
    ok(await docker(['run', '-d', '--name', 'cr-a', '--network', 'none', '-e', 'FROM_RUN=1', 'busybox', 'sleep', '600']));
    assert.equal(ok(await docker(['exec', 'cr-a', 'sh', '-c', 'echo $FROM_RUN $PATH'])), '1 /usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\n');
    assert.equal(ok(await docker(['exec', '-e', 'X=2', '-w', '/proc', '-u', '1000:1001', 'cr-a', 'sh', '-c', 'echo $FROM_RUN $X; pwd; id -u; id -g'])), '1 2\n/proc\n1000\n1001\n');
    assert.equal(ok(await docker(['exec', '-i', 'cr-a', 'cat'], { input: 'through stdin\n' })), 'through stdin\n');
    const mixed = await docker(['exec', 'cr-a', 'sh', '-c', 'echo o; echo e >&2; exit 3']);
    assert.deepEqual([mixed.code, mixed.stdout, mixed.stderr], [3, 'o\n', 'e\n']);
    assert.equal((await docker(['exec', 'cr-a', 'sh', '-c', 'kill -9 $$'])).code, 137);
    const missing = await docker(['exec', 'cr-a', '/no/such/program']);
    assert.equal(missing.code, 126);
    // in the stream, as dockerd writes a start failure after the 101; in runc's words
    assert.match(missing.stdout + missing.stderr, /OCI runtime exec failed: exec failed: unable to start container process: exec: "\/no\/such\/program": executable file not found in \$PATH: unknown/);
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.Running}} {{.HostConfig.Runtime}}', 'cr-a'])).trim(), 'true crun');
    // one runtime per daemon: asking for another is refused before anything is made
    const other = await docker(['run', '--rm', '--runtime', 'runc', '--name', 'cr-other', 'busybox', 'true']);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /runtime runc is not this daemon's/);
    assert.equal((await docker(['inspect', 'cr-other'])).code, 1);
  });

  test('pause and unpause; logs; stop of a container ignoring SIGTERM', async () => {
    ok(await docker(['run', '-d', '--name', 'cr-b', '--network', 'none', 'busybox', 'sh', '-c', 'trap "" TERM; echo started; while true; do sleep 0.1; done']));
    ok(await docker(['pause', 'cr-b']));
    assert.match(ok(await docker(['ps', '--filter', 'name=cr-b', '--format', '{{.Status}}'])), /\(Paused\)/);
    ok(await docker(['unpause', 'cr-b']));
    assert.equal(ok(await docker(['logs', 'cr-b'])), 'started\n');
    ok(await docker(['stop', '-t', '1', 'cr-b']));
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.ExitCode}}', 'cr-b'])).trim(), '137');
  });

  test('berthd SIGKILLed and restarted: the container still runs, exec and stop work; rm leaves nothing', async () => {
    const id = ok(await docker(['inspect', '-f', '{{.Id}}', 'cr-a'])).trim();
    await daemon.kill9();
    await daemon.restart();
    assert.equal(ok(await docker(['inspect', '-f', '{{.State.Status}}', 'cr-a'])).trim(), 'running');
    assert.equal(ok(await docker(['exec', 'cr-a', 'echo', 'after restart'])), 'after restart\n');
    ok(await docker(['stop', '-t', '1', 'cr-a']));
    ok(await docker(['rm', 'cr-a', 'cr-b']));
    assert.equal(fs.existsSync(path.join(daemon.execRoot, 'runc', id)), false, 'crun state dir left');
    assert.deepEqual(await existingCgroupDirs(`/berth/${id}`), []);
  });
});
