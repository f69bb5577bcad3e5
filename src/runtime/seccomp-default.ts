/**
 * berth's default seccomp profile: deny by default (EPERM), allow the syscalls ordinary programs use, and
 * open the privileged families only when the container holds the capability that guards them — the same
 * behaviour Docker documents for its default profile. Syscalls unknown to an architecture are skipped by runc.
 */

const SCMP_ALLOW = 'SCMP_ACT_ALLOW';
const EPERM = 1;
const ENOSYS = 38;

/** Allowed for every container. */
const BASE: string[] = [
  // files and descriptors
  'access', 'faccessat', 'faccessat2', 'open', 'openat', 'openat2', 'creat', 'close', 'close_range', 'read', 'readv', 'pread64',
  'preadv', 'preadv2', 'write', 'writev', 'pwrite64', 'pwritev', 'pwritev2', 'lseek', '_llseek', 'dup', 'dup2', 'dup3', 'fcntl',
  'fcntl64', 'ioctl', 'flock', 'fsync', 'fdatasync', 'sync', 'syncfs', 'sync_file_range', 'truncate', 'truncate64', 'ftruncate',
  'ftruncate64', 'fallocate', 'fadvise64', 'fadvise64_64', 'arm_fadvise64_64', 'readahead', 'sendfile', 'sendfile64',
  'copy_file_range', 'splice', 'tee', 'vmsplice', 'pipe', 'pipe2', 'stat', 'stat64', 'lstat', 'lstat64', 'fstat', 'fstat64',
  'fstatat64', 'newfstatat', 'statx', 'statfs', 'statfs64', 'fstatfs', 'fstatfs64', 'ustat', 'getdents', 'getdents64', 'readdir',
  'readlink', 'readlinkat', 'link', 'linkat', 'symlink', 'symlinkat', 'unlink', 'unlinkat', 'rename', 'renameat', 'renameat2',
  'mkdir', 'mkdirat', 'rmdir', 'mknod', 'mknodat', 'chdir', 'fchdir', 'getcwd', 'chmod', 'fchmod', 'fchmodat', 'fchmodat2',
  'chown', 'chown32', 'fchown', 'fchown32', 'fchownat', 'lchown', 'lchown32', 'umask', 'utime', 'utimes', 'utimensat',
  'utimensat_time64', 'futimesat', 'getxattr', 'lgetxattr', 'fgetxattr', 'setxattr', 'lsetxattr', 'fsetxattr', 'listxattr',
  'llistxattr', 'flistxattr', 'removexattr', 'lremovexattr', 'fremovexattr', 'name_to_handle_at', 'memfd_create',
  'inotify_init', 'inotify_init1', 'inotify_add_watch', 'inotify_rm_watch', 'fanotify_mark', 'io_setup', 'io_destroy',
  'io_submit', 'io_cancel', 'io_getevents', 'io_pgetevents', 'io_pgetevents_time64', 'io_uring_setup', 'io_uring_enter',
  'io_uring_register',
  // polling, events, timers
  'select', '_newselect', 'pselect6', 'pselect6_time64', 'poll', 'ppoll', 'ppoll_time64', 'epoll_create', 'epoll_create1',
  'epoll_ctl', 'epoll_ctl_old', 'epoll_wait', 'epoll_wait_old', 'epoll_pwait', 'epoll_pwait2', 'eventfd', 'eventfd2',
  'signalfd', 'signalfd4', 'timerfd_create', 'timerfd_settime', 'timerfd_settime64', 'timerfd_gettime', 'timerfd_gettime64',
  'timer_create', 'timer_settime', 'timer_settime64', 'timer_gettime', 'timer_gettime64', 'timer_getoverrun', 'timer_delete',
  'alarm', 'getitimer', 'setitimer', 'nanosleep', 'clock_nanosleep', 'clock_nanosleep_time64', 'clock_gettime',
  'clock_gettime64', 'clock_getres', 'clock_getres_time64', 'gettimeofday', 'time', 'times',
  // memory
  'brk', 'mmap', 'mmap2', 'munmap', 'mremap', 'mprotect', 'pkey_mprotect', 'pkey_alloc', 'pkey_free', 'madvise', 'mincore',
  'mlock', 'mlock2', 'munlock', 'mlockall', 'munlockall', 'msync', 'remap_file_pages', 'membarrier', 'get_mempolicy',
  'set_mempolicy', 'mbind', 'set_thread_area', 'get_thread_area', 'arch_prctl', 'set_tid_address', 'set_robust_list',
  'get_robust_list', 'rseq', 'futex', 'futex_time64', 'futex_waitv', 'cacheflush', 'breakpoint', 'set_tls', 'riscv_flush_icache',
  'process_mrelease',
  // processes, signals, identity
  'fork', 'vfork', 'execve', 'execveat', 'exit', 'exit_group', 'wait4', 'waitid', 'waitpid', 'kill', 'tkill', 'tgkill',
  'rt_sigaction', 'rt_sigprocmask', 'rt_sigreturn', 'rt_sigpending', 'rt_sigsuspend', 'rt_sigtimedwait',
  'rt_sigtimedwait_time64', 'rt_sigqueueinfo', 'rt_tgsigqueueinfo', 'sigaction', 'sigaltstack', 'signal', 'sigpending',
  'sigprocmask', 'sigreturn', 'sigsuspend', 'pause', 'getpid', 'getppid', 'gettid', 'getpgid', 'setpgid', 'getpgrp', 'getsid',
  'setsid', 'getuid', 'getuid32', 'geteuid', 'geteuid32', 'getgid', 'getgid32', 'getegid', 'getegid32', 'getresuid',
  'getresuid32', 'getresgid', 'getresgid32', 'getgroups', 'getgroups32', 'setuid', 'setuid32', 'setgid', 'setgid32',
  'setreuid', 'setreuid32', 'setregid', 'setregid32', 'setresuid', 'setresuid32', 'setresgid', 'setresgid32', 'setgroups',
  'setgroups32', 'setfsuid', 'setfsuid32', 'setfsgid', 'setfsgid32', 'capget', 'capset', 'prctl', 'getpriority',
  'setpriority', 'sched_yield', 'sched_getaffinity', 'sched_setaffinity', 'sched_getparam', 'sched_setparam',
  'sched_getscheduler', 'sched_setscheduler', 'sched_get_priority_max', 'sched_get_priority_min', 'sched_rr_get_interval',
  'sched_rr_get_interval_time64', 'sched_getattr', 'sched_setattr', 'getrlimit', 'ugetrlimit', 'setrlimit', 'prlimit64',
  'getrusage', 'getcpu', 'uname', 'sysinfo', 'restart_syscall', 'ioprio_get', 'ioprio_set', 'pidfd_open',
  'pidfd_send_signal', 'pidfd_getfd', 'process_vm_readv', 'process_vm_writev', 'ptrace', 'landlock_create_ruleset',
  'landlock_add_rule', 'landlock_restrict_self', 'mq_open', 'mq_unlink', 'mq_timedsend', 'mq_timedsend_time64',
  'mq_timedreceive', 'mq_timedreceive_time64', 'mq_notify', 'mq_getsetattr', 'msgget', 'msgsnd', 'msgrcv', 'msgctl',
  'semget', 'semop', 'semtimedop', 'semtimedop_time64', 'semctl', 'shmget', 'shmat', 'shmdt', 'shmctl', 'ipc',
  // sockets
  'socket', 'socketpair', 'socketcall', 'bind', 'listen', 'accept', 'accept4', 'connect', 'getsockname', 'getpeername',
  'getsockopt', 'setsockopt', 'send', 'sendto', 'sendmsg', 'sendmmsg', 'recv', 'recvfrom', 'recvmsg', 'recvmmsg',
  'recvmmsg_time64', 'shutdown',
];

/** Opened by a capability the container holds (Docker's default profile keys the same families on these). */
const BY_CAPABILITY: Record<string, string[]> = {
  CAP_SYS_ADMIN: [
    'mount', 'umount', 'umount2', 'pivot_root', 'unshare', 'setns', 'clone', 'clone3', 'sethostname', 'setdomainname',
    'bpf', 'fanotify_init', 'lookup_dcookie', 'perf_event_open', 'quotactl', 'quotactl_fd', 'fsopen', 'fsconfig', 'fsmount',
    'fspick', 'open_tree', 'move_mount', 'mount_setattr', 'open_by_handle_at', 'syscall', 'vm86', 'vm86old', 'userfaultfd',
  ],
  CAP_SYS_BOOT: ['reboot', 'kexec_load', 'kexec_file_load'],
  CAP_SYS_MODULE: ['init_module', 'finit_module', 'delete_module'],
  CAP_SYS_PACCT: ['acct'],
  CAP_SYS_RAWIO: ['iopl', 'ioperm'],
  CAP_SYS_TIME: ['settimeofday', 'stime', 'clock_settime', 'clock_settime64', 'adjtimex', 'clock_adjtime', 'clock_adjtime64'],
  CAP_SYS_TTY_CONFIG: ['vhangup'],
  CAP_SYS_NICE: ['move_pages', 'migrate_pages'],
  CAP_SYS_RESOURCE: ['swapon', 'swapoff'],
  CAP_SYS_PTRACE: ['kcmp', 'process_madvise'],
  CAP_SYSLOG: ['syslog'],
  CAP_SYS_CHROOT: ['chroot'],
  CAP_BPF: ['bpf'],
  CAP_PERFMON: ['perf_event_open'],
  CAP_DAC_READ_SEARCH: ['open_by_handle_at'],
};

// clone flags that create namespaces: CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET|NEWTIME
const CLONE_NAMESPACE_FLAGS = 0x00020000 | 0x02000000 | 0x04000000 | 0x08000000 | 0x10000000 | 0x20000000 | 0x40000000 | 0x00000080;
// personality values programs switch between (Linux default, 32-bit address space, UNAME26, their combination, query)
const PERSONALITIES = [0x0, 0x8, 0x20000, 0x20008, 0xffffffff];

export function seccompArchitectures(arch: string = process.arch): string[] {
  if (arch === 'x64') return ['SCMP_ARCH_X86_64', 'SCMP_ARCH_X86', 'SCMP_ARCH_X32'];
  if (arch === 'arm64') return ['SCMP_ARCH_AARCH64', 'SCMP_ARCH_ARM'];
  if (arch === 'arm') return ['SCMP_ARCH_ARM'];
  if (arch === 'ia32') return ['SCMP_ARCH_X86'];
  return [];
}

/**
 * Architectures of berth's own default profile: Docker's list without x32. x32 programs practically do not
 * exist, and each architecture costs runc's init ~4-5 ms to compile (measured: `runc run` of `true` 42 → 37 ms);
 * an x32 syscall now kills the process with SIGSYS (libseccomp's action for an architecture outside the filter):
 * stricter than Docker, not looser (docs/divergence.md).
 */
function defaultProfileArchitectures(arch: string): string[] {
  return seccompArchitectures(arch).filter((a) => a !== 'SCMP_ARCH_X32');
}

/** The OCI `linux.seccomp` object of the default profile for a container holding `capabilities` (CAP_ names). */
export function defaultSeccompProfile(capabilities: string[], arch: string = process.arch): Record<string, unknown> {
  const caps = new Set(capabilities);
  const allowed = new Set(BASE);
  for (const [cap, names] of Object.entries(BY_CAPABILITY)) if (caps.has(cap)) for (const s of names) allowed.add(s);
  const syscalls: Record<string, unknown>[] = [{ names: [...allowed].sort(), action: SCMP_ALLOW }];
  if (!caps.has('CAP_SYS_ADMIN')) {
    // clone without namespace flags (the flags word is arg 1 on s390 only; arg 0 elsewhere)
    syscalls.push({ names: ['clone'], action: SCMP_ALLOW, args: [{ index: 0, value: CLONE_NAMESPACE_FLAGS, valueTwo: 0, op: 'SCMP_CMP_MASKED_EQ' }] });
    // clone3 hides its flags in memory: answer ENOSYS so libc falls back to clone, which is checked above
    syscalls.push({ names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS });
  }
  for (const p of PERSONALITIES) {
    syscalls.push({ names: ['personality'], action: SCMP_ALLOW, args: [{ index: 0, value: p, valueTwo: 0, op: 'SCMP_CMP_EQ' }] });
  }
  if (arch === 'arm' || arch === 'arm64') syscalls.push({ names: ['arm_sync_file_range', 'sync_file_range2'], action: SCMP_ALLOW });
  return { defaultAction: 'SCMP_ACT_ERRNO', defaultErrnoRet: EPERM, architectures: defaultProfileArchitectures(arch), syscalls };
}
