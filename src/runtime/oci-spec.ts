/**
 * OCI runtime spec (config.json) for a container, with Docker's defaults: the default capability set,
 * masked and read-only /proc and /sys paths, the device allow-list, and new pid/ipc/uts/mount/network
 * namespaces. The network namespace is empty (only `lo`): networking comes with the network service.
 */

export interface ProcessUser {
  uid: number;
  gid: number;
  additionalGids: number[];
}

export interface BindMount {
  source: string;
  destination: string;
  readonly?: boolean;
}

export interface SpecInput {
  rootfs: string;
  args: string[];
  env: string[];
  cwd: string;
  user: ProcessUser;
  terminal: boolean;
  hostname: string;
  /** e.g. /berth/<id>; relative to each cgroup hierarchy's root */
  cgroupsPath: string;
  binds: BindMount[];
  readonlyRootfs?: boolean;
  /** a path to an existing network namespace; absent = a new empty one */
  netnsPath?: string;
  privileged?: boolean;
}

export const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export const DEFAULT_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
  'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const MASKED_PATHS = [
  '/proc/asound', '/proc/acpi', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list',
  '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware', '/sys/devices/virtual/powercap',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

interface DeviceRule { allow: boolean; type?: string; major?: number; minor?: number; access: string }

const DEVICE_RULES: DeviceRule[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' }, // /dev/zero
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }, // /dev/null
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' }, // /dev/urandom
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' }, // /dev/random
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' }, // /dev/tty
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' }, // /dev/console
  { allow: true, type: 'c', major: 5, minor: 2, access: 'rwm' }, // /dev/ptmx
  { allow: true, type: 'c', major: 1, minor: 7, access: 'rwm' }, // /dev/full
  { allow: true, type: 'c', major: 136, access: 'rwm' }, // /dev/pts/*
  { allow: true, type: 'c', major: 10, minor: 200, access: 'rwm' }, // /dev/net/tun
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' }, // /dev/fuse
  { allow: true, type: 'c', access: 'm' }, // mknod of any char device
  { allow: true, type: 'b', access: 'm' }, // mknod of any block device
];

/** The process environment: image/user values, plus PATH, HOSTNAME and (with a TTY) TERM as Docker adds them. */
export function containerEnv(env: string[], hostname: string, terminal: boolean): string[] {
  // a bare `NAME` (docker run -e NAME with NAME unset in the client) stays in Config.Env but, as with
  // dockerd, is not passed to the process (runc refuses it)
  const out = env.filter((e) => e.includes('='));
  const keys = new Set(out.map((e) => e.split('=', 1)[0]));
  if (!keys.has('PATH')) out.unshift(`PATH=${DEFAULT_PATH}`);
  if (!keys.has('HOSTNAME')) out.push(`HOSTNAME=${hostname}`);
  if (terminal && !keys.has('TERM')) out.push('TERM=xterm');
  return out;
}

export function buildSpec(s: SpecInput): Record<string, unknown> {
  const caps = s.privileged ? undefined : DEFAULT_CAPABILITIES;
  const capabilities = caps ? { bounding: caps, effective: caps, permitted: caps } : undefined;
  const mounts: Record<string, unknown>[] = [
    { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
    { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=67108864'] },
    ...s.binds.map((b) => ({
      destination: b.destination, type: 'bind', source: b.source,
      options: ['rbind', 'rprivate', ...(b.readonly ? ['ro'] : [])],
    })),
  ];
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: s.terminal,
      user: { uid: s.user.uid, gid: s.user.gid, ...(s.user.additionalGids.length ? { additionalGids: s.user.additionalGids } : {}) },
      args: s.args,
      env: s.env,
      cwd: s.cwd || '/',
      ...(capabilities ? { capabilities } : {}),
      noNewPrivileges: false,
    },
    root: { path: s.rootfs, readonly: Boolean(s.readonlyRootfs) },
    hostname: s.hostname,
    mounts,
    linux: {
      cgroupsPath: s.cgroupsPath,
      resources: { devices: s.privileged ? [{ allow: true, access: 'rwm' }] : DEVICE_RULES },
      namespaces: [
        { type: 'pid' },
        { type: 'ipc' },
        { type: 'uts' },
        { type: 'mount' },
        s.netnsPath ? { type: 'network', path: s.netnsPath } : { type: 'network' },
      ],
      ...(s.privileged ? {} : { maskedPaths: MASKED_PATHS, readonlyPaths: READONLY_PATHS }),
    },
  };
}
