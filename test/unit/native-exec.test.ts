import { test } from 'node:test';
import assert from 'node:assert/strict';
import { nativeExecArgs } from '../../src/runtime/native-exec';
import { seccompAction, seccompFlags, seccompText } from '../../src/runtime/seccomp-bpf';

test('berth-exec arguments: user, groups, cwd, env, rlimits (-1 is unlimited), capability masks, seccomp, program', () => {
  const args = nativeExecArgs({
    args: ['sh', '-c', 'echo hi'], env: ['A=1', 'PATH=/bin'], cwd: '/work', user: { uid: 5, gid: 6, additionalGids: [6, 7] },
    rlimits: [{ type: 'RLIMIT_NOFILE', soft: 10, hard: 20 }, { type: 'RLIMIT_CORE', soft: -1, hard: -1 }],
    capabilities: { bounding: ['CAP_CHOWN', 'CAP_KILL'], effective: ['CAP_KILL'], permitted: ['CAP_KILL'] },
    noNewPrivileges: true, oomScoreAdj: -5,
  }, { initPid: 42, cgroupsPath: '/berth/abc', seccomp: { file: '/x.bpf', flags: 2 } });
  assert.deepEqual(args, [
    '--pid', '42', '--cgroup', '/berth/abc', '--uid', '5', '--gid', '6', '--groups', '6,7', '--cwd', '/work',
    '--env', 'A=1', '--env', 'PATH=/bin', '--rlimit', '7:10:20', '--rlimit', '4:18446744073709551615:18446744073709551615',
    '--oom-score-adj', '-5', '--no-new-privs', '--caps', '21:20:20:0:0', '--seccomp', '/x.bpf', '--seccomp-flags', '2',
    '--', 'sh', '-c', 'echo hi',
  ]);
  // no user, no capabilities: berth-exec leaves them as they are (root's)
  assert.deepEqual(nativeExecArgs({ args: ['true'] }, { initPid: 1, cgroupsPath: '/c' }), ['--pid', '1', '--cgroup', '/c', '--', 'true']);
});

test('seccomp: actions as libseccomp numbers; rules as runc adds them; the default action\'s rules dropped', () => {
  assert.equal(seccompAction('SCMP_ACT_ERRNO'), 0x50001, 'EPERM when no errnoRet');
  assert.equal(seccompAction('SCMP_ACT_ERRNO', 38), 0x50026);
  assert.equal(seccompAction('SCMP_ACT_ALLOW'), 0x7fff0000);
  assert.throws(() => seccompAction('SCMP_ACT_NOTIFY'), /not supported/);
  const text = seccompText({
    defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: 1, architectures: ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86'],
    syscalls: [
      { names: ['read', 'write'], action: 'SCMP_ACT_ALLOW' },
      { names: ['kexec_load'], action: 'SCMP_ACT_ERRNO', errnoRet: 1 },
      { names: ['clone'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 2114060288, op: 'SCMP_CMP_MASKED_EQ' }, { index: 1, value: 0, op: 'SCMP_CMP_EQ' }] },
      { names: ['personality'], action: 'SCMP_ACT_ALLOW', args: [{ index: 0, value: 0, op: 'SCMP_CMP_EQ' }, { index: 0, value: 8, op: 'SCMP_CMP_EQ' }] },
    ],
  });
  assert.equal(text, [
    'default 327681', 'arch x86_64', 'arch x86',
    'rule 2147418112 read', 'rule 2147418112 write',
    'rule 2147418112 clone 0 7 2114060288 0 1 4 0 0',
    'rule 2147418112 personality 0 4 0 0', 'rule 2147418112 personality 0 4 8 0',
  ].join('\n') + '\n');
  assert.equal(seccompFlags({ defaultAction: 'SCMP_ACT_ALLOW', flags: ['SECCOMP_FILTER_FLAG_LOG', 'SECCOMP_FILTER_FLAG_SPEC_ALLOW'] }), 6);
});
