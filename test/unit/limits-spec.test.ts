import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseDevice, ramInBytes } from '../../src/cli/commands/run-flags-resources';
import { applyResources, resourcesFor, validateResources } from '../../src/runtime/resources';
import { capabilitiesFor, dockerProfileToOci, normalizeCapability, parseSecurityOpt, validateSecurity } from '../../src/runtime/security';
import { defaultSeccompProfile } from '../../src/runtime/seccomp-default';
import { buildSpec, DEFAULT_CAPABILITIES } from '../../src/runtime/oci-spec';

const MiB = 1024 * 1024;

test('memory: swap defaults to twice the limit, -1 stays unlimited, reservation and OOM killer', async () => {
  assert.deepEqual(await resourcesFor({ Memory: 32 * MiB }), { memory: { limit: 32 * MiB, swap: 64 * MiB } });
  assert.deepEqual((await resourcesFor({ Memory: 32 * MiB, MemorySwap: -1 })).memory, { limit: 32 * MiB, swap: -1 });
  assert.deepEqual((await resourcesFor({ Memory: 32 * MiB, MemorySwap: 48 * MiB })).memory, { limit: 32 * MiB, swap: 48 * MiB });
  assert.deepEqual((await resourcesFor({ MemoryReservation: 8 * MiB, OomKillDisable: true })).memory, { reservation: 8 * MiB, disableOOMKiller: true });
  assert.deepEqual(await resourcesFor({}), {});
});

test('cpu: --cpus becomes quota/period 100000; explicit quota/period, shares and cpusets pass through', async () => {
  assert.deepEqual((await resourcesFor({ NanoCpus: 1_500_000_000 })).cpu, { period: 100000, quota: 150000 });
  assert.deepEqual((await resourcesFor({ CpuQuota: 20000, CpuPeriod: 50000, CpuShares: 512, CpusetCpus: '0-1', CpusetMems: '0' })).cpu,
    { quota: 20000, period: 50000, shares: 512, cpus: '0-1', mems: '0' });
  assert.deepEqual((await resourcesFor({ PidsLimit: 20 })).pids, { limit: 20 });
  assert.equal((await resourcesFor({ PidsLimit: -1 })).pids, undefined);
});

test('dockerd create-time checks', () => {
  assert.throws(() => validateResources({ Memory: MiB }), /Minimum memory limit allowed is 6MB/);
  assert.throws(() => validateResources({ Memory: 64 * MiB, MemorySwap: 32 * MiB }), /memoryswap limit should be larger/);
  assert.throws(() => validateResources({ NanoCpus: 1e9, CpuQuota: 50000 }), /Nano CPUs and CPU Period cannot both be set/);
  assert.throws(() => validateResources({ BlkioWeight: 5 }), /Range of blkio weight/);
  assert.throws(() => validateResources({ Ulimits: [{ Name: 'nofile', Soft: 10, Hard: 5 }] }), /soft limit/);
  assert.throws(() => validateResources({ CpusetCpus: 'a-b' }), /cpuset cpus/);
  validateResources({ Memory: 64 * MiB, MemorySwap: -1, NanoCpus: 5e8, PidsLimit: 10 });
});

test('ulimits and /dev/shm size land in the spec', async () => {
  const spec = buildSpec({
    rootfs: '/r', args: ['sh'], env: [], cwd: '/', user: { uid: 0, gid: 0, additionalGids: [] }, terminal: false, hostname: 'h',
    cgroupsPath: '/berth/x', binds: [],
  });
  await applyResources(spec, { Ulimits: [{ Name: 'nofile', Soft: 100, Hard: 200 }], ShmSize: 8 * MiB, Memory: 16 * MiB });
  assert.deepEqual((spec.process as { rlimits: unknown }).rlimits, [{ type: 'RLIMIT_NOFILE', soft: 100, hard: 200 }]);
  const shm = (spec.mounts as { destination: string; options: string[] }[]).find((m) => m.destination === '/dev/shm')!;
  assert.ok(shm.options.includes(`size=${8 * MiB}`) && shm.options.filter((o) => o.startsWith('size=')).length === 1);
  const res = (spec.linux as { resources: Record<string, unknown> }).resources;
  assert.ok(Array.isArray(res.devices), 'device rules kept');
  assert.deepEqual(res.memory, { limit: 16 * MiB, swap: 32 * MiB });
});

test('capabilities: add/drop with and without CAP_, ALL on both sides, privileged', () => {
  assert.equal(normalizeCapability('net_raw'), 'CAP_NET_RAW');
  assert.throws(() => normalizeCapability('FLY'), /unknown capability: "CAP_FLY"/);
  const dropped = capabilitiesFor({ CapDrop: ['NET_RAW'], CapAdd: ['CAP_SYS_ADMIN'] });
  assert.ok(!dropped.includes('CAP_NET_RAW') && dropped.includes('CAP_SYS_ADMIN'));
  assert.deepEqual(capabilitiesFor({ CapDrop: ['ALL'], CapAdd: ['chown'] }), ['CAP_CHOWN']);
  assert.deepEqual(capabilitiesFor({}), DEFAULT_CAPABILITIES);
  assert.deepEqual(capabilitiesFor({ Privileged: true }, ['CAP_CHOWN', 'CAP_KILL']), ['CAP_CHOWN', 'CAP_KILL']);
  assert.deepEqual(capabilitiesFor({ CapAdd: ['ALL'] }, ['CAP_KILL']), ['CAP_KILL']);
});

test('security options: no-new-privileges forms, seccomp unconfined/inline JSON, bad options', () => {
  assert.equal(parseSecurityOpt(['no-new-privileges']).noNewPrivileges, true);
  assert.equal(parseSecurityOpt(['no-new-privileges:true']).noNewPrivileges, true);
  assert.equal(parseSecurityOpt(['no-new-privileges=false']).noNewPrivileges, false);
  assert.equal(parseSecurityOpt(['seccomp=unconfined']).seccomp, 'unconfined');
  assert.deepEqual(parseSecurityOpt(['seccomp={"defaultAction":"SCMP_ACT_ALLOW"}']).seccomp, { defaultAction: 'SCMP_ACT_ALLOW' });
  assert.throws(() => parseSecurityOpt(['seccomp={nope']), /Decoding seccomp profile failed/);
  assert.throws(() => parseSecurityOpt(['bogus=1']), /invalid --security-opt 2/);
  assert.equal(parseSecurityOpt(['apparmor=unconfined', 'label=disable']).seccomp, 'default');
  assert.throws(() => validateSecurity({ DeviceCgroupRules: ['x 1:2 rwm'] }), /invalid device cgroup format/);
});

test('default seccomp profile: deny by default, capability-gated families, clone filter', () => {
  const p = defaultSeccompProfile(DEFAULT_CAPABILITIES, 'x64') as { defaultAction: string; architectures: string[]; syscalls: { names: string[]; action: string; args?: unknown[] }[] };
  assert.equal(p.defaultAction, 'SCMP_ACT_ERRNO');
  assert.deepEqual(p.architectures, ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86']); // no x32: docs/divergence.md
  const allowed = new Set(p.syscalls.filter((s) => s.action === 'SCMP_ACT_ALLOW' && !s.args).flatMap((s) => s.names));
  for (const s of ['read', 'execve', 'openat', 'socket', 'chroot', 'futex']) assert.ok(allowed.has(s), s);
  for (const s of ['mount', 'unshare', 'setns', 'keyctl', 'add_key', 'kexec_load', 'reboot', 'bpf', 'init_module', 'clone', 'acct', 'settimeofday', 'userfaultfd', 'open_by_handle_at', 'swapon']) {
    assert.ok(!allowed.has(s), s);
  }
  assert.ok(p.syscalls.some((s) => s.names[0] === 'clone' && s.args?.length), 'clone allowed only without namespace flags');
  const admin = defaultSeccompProfile([...DEFAULT_CAPABILITIES, 'CAP_SYS_ADMIN'], 'arm64') as typeof p;
  assert.deepEqual(admin.architectures, ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM']);
  assert.ok(admin.syscalls[0].names.includes('mount') && admin.syscalls[0].names.includes('unshare'));
});

test('Docker-format profile → OCI: archMap, includes/excludes by capability', () => {
  const oci = dockerProfileToOci({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1,
    archMap: [{ architecture: 'SCMP_ARCH_X86_64', subArchitectures: ['SCMP_ARCH_X86'] }],
    syscalls: [
      { names: ['read'], action: 'SCMP_ACT_ALLOW' },
      { names: ['mount'], action: 'SCMP_ACT_ALLOW', includes: { caps: ['CAP_SYS_ADMIN'] } },
      { names: ['chown'], action: 'SCMP_ACT_ALLOW', excludes: { caps: ['CAP_CHOWN'] } },
    ],
  }, ['CAP_CHOWN'], 'x64');
  assert.deepEqual(oci, {
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [{ names: ['read'], action: 'SCMP_ACT_ALLOW' }],
  });
});

test('CLI parsing: sizes in binary units, --device forms', () => {
  assert.equal(ramInBytes('32m', 'memory'), 32 * MiB);
  assert.equal(ramInBytes('1.5g', 'memory'), 1.5 * 1024 * MiB);
  assert.equal(ramInBytes('64KiB', 'memory'), 64 * 1024);
  assert.equal(ramInBytes('100', 'memory'), 100);
  assert.throws(() => ramInBytes('lots', 'memory'), /invalid size/);
  assert.deepEqual(parseDevice('/dev/fuse'), { PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
  assert.deepEqual(parseDevice('/dev/sda:/dev/xvda:r'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvda', CgroupPermissions: 'r' });
  assert.deepEqual(parseDevice('/dev/sda:rw'), { PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'rw' });
});
