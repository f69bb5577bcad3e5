/**
 * `run`/`create` flags for resource limits and security (memory, cpus, pids, ulimits, shm, capabilities,
 * privileged, security options, devices, groups, init, namespace modes), turned into HostConfig fields as the docker CLI does:
 * sizes in binary units, `--memory-swap -1` unlimited, `--cpus` as NanoCpus, a seccomp profile file sent inline.
 */
import { readFile } from 'node:fs/promises';
import { StatusError } from '../errors';
import type { FlagSpec, FlagValues } from '../flags';

export const RESOURCE_SECURITY_FLAGS: FlagSpec[] = [
  { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', description: 'Memory limit' },
  { name: 'memory-swap', kind: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: '-1' to enable unlimited swap" },
  { name: 'memory-reservation', kind: 'string', valueName: 'bytes', description: 'Memory soft limit' },
  { name: 'memory-swappiness', kind: 'int', default: -1, description: 'Tune container memory swappiness (0 to 100)' },
  { name: 'oom-kill-disable', kind: 'bool', description: 'Disable OOM Killer' },
  { name: 'cpus', kind: 'string', valueName: 'decimal', description: 'Number of CPUs' },
  { name: 'cpu-shares', short: 'c', kind: 'int', description: 'CPU shares (relative weight)' },
  { name: 'cpu-quota', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
  { name: 'cpu-period', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
  { name: 'cpuset-cpus', kind: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
  { name: 'cpuset-mems', kind: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
  { name: 'pids-limit', kind: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
  { name: 'blkio-weight', kind: 'int', valueName: 'uint16', description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)' },
  { name: 'ulimit', kind: 'list', valueName: 'ulimit', description: 'Ulimit options' },
  { name: 'shm-size', kind: 'string', valueName: 'bytes', description: 'Size of /dev/shm' },
  { name: 'cap-add', kind: 'list', description: 'Add Linux capabilities' },
  { name: 'cap-drop', kind: 'list', description: 'Drop Linux capabilities' },
  { name: 'privileged', kind: 'bool', description: 'Give extended privileges to this container' },
  { name: 'security-opt', kind: 'list', description: 'Security Options' },
  { name: 'device', kind: 'list', description: 'Add a host device to the container' },
  { name: 'device-cgroup-rule', kind: 'list', description: 'Add a rule to the cgroup allowed devices list' },
  { name: 'group-add', kind: 'list', description: 'Add additional groups to join' },
  { name: 'init', kind: 'bool', description: 'Run an init inside the container that forwards signals and reaps processes' },
  { name: 'device-read-bps', kind: 'list', description: 'Limit read rate (bytes per second) from a device' },
  { name: 'device-write-bps', kind: 'list', description: 'Limit write rate (bytes per second) to a device' },
  { name: 'device-read-iops', kind: 'list', description: 'Limit read rate (IO per second) from a device' },
  { name: 'device-write-iops', kind: 'list', description: 'Limit write rate (IO per second) to a device' },
  { name: 'blkio-weight-device', kind: 'list', description: 'Block IO weight (relative device weight)' },
  { name: 'oom-score-adj', kind: 'int', description: "Tune host's OOM preferences (-1000 to 1000)" },
  { name: 'sysctl', kind: 'list', description: 'Sysctl options' },
  { name: 'cgroup-parent', kind: 'string', description: 'Optional parent cgroup for the container' },
  { name: 'runtime', kind: 'string', description: 'Runtime to use for this container' },
  { name: 'pid', kind: 'string', description: 'PID namespace to use' },
  { name: 'ipc', kind: 'string', description: 'IPC mode to use' },
  { name: 'uts', kind: 'string', description: 'UTS namespace to use' },
  { name: 'cgroupns', kind: 'string', description: 'Cgroup namespace to use (host|private)' },
];

/** `/dev/sda:1mb` → { Path, Rate|Weight }, as the docker CLI parses the blkio device flags. */
function devicePair(v: string, flag: string, value: (text: string) => number, key: 'Rate' | 'Weight'): Record<string, unknown> {
  const i = v.lastIndexOf(':');
  const n = i > 0 && v.startsWith('/dev/') ? value(v.slice(i + 1)) : NaN;
  if (!Number.isFinite(n) || n < 0) throw usage(`"${v}" for "--${flag}" flag: bad format`);
  return { Path: v.slice(0, i), [key]: n };
}

/** The docker CLI's own checks of the namespace flags (the daemon checks again). */
function namespaceMode(f: FlagValues, flag: string, key: string, valid: (v: string) => boolean, what: string, hc: Record<string, unknown>): void {
  const v = f.string(flag);
  if (!v) return;
  if (!valid(v)) throw usage(`"${v}" for "--${flag}" flag: invalid ${what}`);
  hc[key] = v;
}

function usage(msg: string): StatusError {
  return new StatusError(125, `invalid argument ${msg}\nSee 'berth run --help'.`);
}

const UNITS: Record<string, number> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** Docker's RAMInBytes: `512`, `64k`, `32m`, `1.5g`, `2GiB` (binary multipliers). */
export function ramInBytes(text: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?$/i.exec(text.trim());
  if (!m) throw usage(`"${text}" for "--${flag}" flag: invalid size: '${text}'`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

function parseUlimit(text: string): { Name: string; Soft: number; Hard: number } {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(text);
  if (!m) throw usage(`"${text}" for "--ulimit" flag: invalid ulimit argument: ${text}`);
  const soft = Number(m[2]);
  return { Name: m[1], Soft: soft, Hard: m[3] === undefined ? soft : Number(m[3]) };
}

/** As the docker CLI sends them: upper case with the CAP_ prefix; ALL as is. */
function capabilityName(name: string): string {
  const up = name.trim().toUpperCase();
  return up === 'ALL' || up.startsWith('CAP_') ? up : `CAP_${up}`;
}

/** `/dev/x[:/dev/y][:rwm]` → a HostConfig.Devices entry. */
export function parseDevice(text: string): { PathOnHost: string; PathInContainer: string; CgroupPermissions: string } {
  const parts = text.split(':');
  let perms = 'rwm';
  if (parts.length > 1 && /^[rwm]{1,3}$/.test(parts[parts.length - 1])) perms = parts.pop()!;
  if (parts.length > 2 || !parts[0]) throw usage(`"${text}" for "--device" flag: bad format for path: ${text}`);
  return { PathOnHost: parts[0], PathInContainer: parts[1] || parts[0], CgroupPermissions: perms };
}

/** `seccomp=<file>` is sent as the file's JSON content; other options as given. */
async function securityOpts(list: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const opt of list) {
    const m = /^seccomp[=:](.+)$/.exec(opt);
    if (m && m[1] !== 'unconfined' && m[1] !== 'builtin') {
      let text: string;
      try {
        text = await readFile(m[1], 'utf8');
      } catch (err) {
        throw usage(`"${opt}" for "--security-opt" flag: opening seccomp profile (${m[1]}) failed: ${(err as Error).message}`);
      }
      out.push(`seccomp=${JSON.stringify(JSON.parse(text))}`);
    } else {
      out.push(opt);
    }
  }
  return out;
}

/** Fill body.HostConfig from the resource and security flags. */
export async function applyResourceSecurityFlags(f: FlagValues, body: Record<string, unknown>): Promise<void> {
  const hc = (body.HostConfig ??= {}) as Record<string, unknown>;
  if (f.string('memory')) hc.Memory = ramInBytes(f.string('memory'), 'memory');
  if (f.string('memory-swap')) hc.MemorySwap = f.string('memory-swap') === '-1' ? -1 : ramInBytes(f.string('memory-swap'), 'memory-swap');
  if (f.string('memory-reservation')) hc.MemoryReservation = ramInBytes(f.string('memory-reservation'), 'memory-reservation');
  if (f.isSet('memory-swappiness')) hc.MemorySwappiness = f.int('memory-swappiness');
  if (f.bool('oom-kill-disable')) hc.OomKillDisable = true;
  if (f.string('cpus')) {
    const cpus = Number(f.string('cpus'));
    if (!Number.isFinite(cpus) || cpus < 0) throw usage(`"${f.string('cpus')}" for "--cpus" flag: failed to parse ${f.string('cpus')} as a rational number`);
    hc.NanoCpus = Math.round(cpus * 1e9);
  }
  const ints: [string, string][] = [['cpu-shares', 'CpuShares'], ['cpu-quota', 'CpuQuota'], ['cpu-period', 'CpuPeriod'], ['pids-limit', 'PidsLimit'], ['blkio-weight', 'BlkioWeight']];
  for (const [flag, key] of ints) if (f.isSet(flag)) hc[key] = f.int(flag);
  if (f.string('cpuset-cpus')) hc.CpusetCpus = f.string('cpuset-cpus');
  if (f.string('cpuset-mems')) hc.CpusetMems = f.string('cpuset-mems');
  if (f.list('ulimit').length) hc.Ulimits = f.list('ulimit').map(parseUlimit);
  if (f.string('shm-size')) hc.ShmSize = ramInBytes(f.string('shm-size'), 'shm-size');
  if (f.list('cap-add').length) hc.CapAdd = f.list('cap-add').map(capabilityName);
  if (f.list('cap-drop').length) hc.CapDrop = f.list('cap-drop').map(capabilityName);
  if (f.bool('privileged')) hc.Privileged = true;
  if (f.list('security-opt').length) hc.SecurityOpt = await securityOpts(f.list('security-opt'));
  if (f.list('device').length) hc.Devices = f.list('device').map(parseDevice);
  if (f.list('device-cgroup-rule').length) hc.DeviceCgroupRules = f.list('device-cgroup-rule');
  if (f.list('group-add').length) hc.GroupAdd = f.list('group-add');
  if (f.bool('init')) hc.Init = true;
  const throttles: [string, string, boolean][] = [
    ['device-read-bps', 'BlkioDeviceReadBps', true], ['device-write-bps', 'BlkioDeviceWriteBps', true],
    ['device-read-iops', 'BlkioDeviceReadIOps', false], ['device-write-iops', 'BlkioDeviceWriteIOps', false],
  ];
  for (const [flag, key, bytes] of throttles) {
    if (f.list(flag).length) hc[key] = f.list(flag).map((v) => devicePair(v, flag, (r) => (bytes ? ramInBytes(r, flag) : Number(r)), 'Rate'));
  }
  if (f.list('blkio-weight-device').length) hc.BlkioWeightDevice = f.list('blkio-weight-device').map((v) => devicePair(v, 'blkio-weight-device', Number, 'Weight'));
  if (f.isSet('oom-score-adj')) hc.OomScoreAdj = f.int('oom-score-adj');
  if (f.string('cgroup-parent')) hc.CgroupParent = f.string('cgroup-parent');
  if (f.string('runtime')) hc.Runtime = f.string('runtime');
  if (f.list('sysctl').length) {
    hc.Sysctls = Object.fromEntries(f.list('sysctl').map((kv) => {
      const i = kv.indexOf('=');
      if (i <= 0) throw usage(`"${kv}" for "--sysctl" flag: sysctl '${kv}' is not whitelisted`);
      return [kv.slice(0, i), kv.slice(i + 1)];
    }));
  }
  const joinable = (v: string) => /^container:.+/.test(v);
  namespaceMode(f, 'pid', 'PidMode', (v) => v === 'host' || joinable(v), 'PID mode', hc);
  namespaceMode(f, 'ipc', 'IpcMode', (v) => ['private', 'shareable', 'host', 'none'].includes(v) || joinable(v), 'IPC mode', hc);
  namespaceMode(f, 'uts', 'UTSMode', (v) => v === 'host', 'UTS mode', hc);
  namespaceMode(f, 'cgroupns', 'CgroupnsMode', (v) => v === 'host' || v === 'private', 'cgroup namespace mode', hc);
}
