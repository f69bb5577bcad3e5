/**
 * HostConfig security settings → the OCI spec: capabilities (CapAdd/CapDrop/Privileged), no-new-privileges,
 * seccomp (berth's default profile, unconfined, or a Docker-format profile the CLI sent inline), host devices
 * (--device, --device-cgroup-rule, all of them for --privileged), supplementary groups (--group-add) and
 * --init (tini bind-mounted as /sbin/docker-init).
 */
import { access, lstat, readdir, readFile, stat } from 'node:fs/promises';
import { release } from 'node:os';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import { DEFAULT_CAPABILITIES } from './oci-spec';
import { defaultSeccompProfile, seccompArchitectures } from './seccomp-default';

export interface SecurityHostConfig {
  Privileged?: boolean;
  CapAdd?: string[] | null;
  CapDrop?: string[] | null;
  SecurityOpt?: string[] | null;
  Devices?: { PathOnHost: string; PathInContainer?: string; CgroupPermissions?: string }[] | null;
  DeviceCgroupRules?: string[] | null;
  GroupAdd?: string[] | null;
  Init?: boolean | null;
}

export const ALL_CAPABILITIES = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_DAC_READ_SEARCH', 'CAP_FOWNER', 'CAP_FSETID', 'CAP_KILL', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETPCAP', 'CAP_LINUX_IMMUTABLE', 'CAP_NET_BIND_SERVICE', 'CAP_NET_BROADCAST', 'CAP_NET_ADMIN', 'CAP_NET_RAW',
  'CAP_IPC_LOCK', 'CAP_IPC_OWNER', 'CAP_SYS_MODULE', 'CAP_SYS_RAWIO', 'CAP_SYS_CHROOT', 'CAP_SYS_PTRACE', 'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN', 'CAP_SYS_BOOT', 'CAP_SYS_NICE', 'CAP_SYS_RESOURCE', 'CAP_SYS_TIME', 'CAP_SYS_TTY_CONFIG', 'CAP_MKNOD',
  'CAP_LEASE', 'CAP_AUDIT_WRITE', 'CAP_AUDIT_CONTROL', 'CAP_SETFCAP', 'CAP_MAC_OVERRIDE', 'CAP_MAC_ADMIN', 'CAP_SYSLOG',
  'CAP_WAKE_ALARM', 'CAP_BLOCK_SUSPEND', 'CAP_AUDIT_READ', 'CAP_PERFMON', 'CAP_BPF', 'CAP_CHECKPOINT_RESTORE',
];

/** A user-given capability name (`net_raw`, `CAP_NET_RAW`, `ALL`) in canonical form; throws for unknown names. */
export function normalizeCapability(name: string): string {
  const up = name.trim().toUpperCase();
  if (up === 'ALL') return 'ALL';
  const full = up.startsWith('CAP_') ? up : `CAP_${up}`;
  if (!ALL_CAPABILITIES.includes(full)) throw invalidArgument(`invalid CapAdd: unknown capability: "${full}"`);
  return full;
}

/** The container's capability set: Docker's defaults, minus CapDrop, plus CapAdd (ALL works on both sides). */
export function capabilitiesFor(h: SecurityHostConfig, all: string[] = ALL_CAPABILITIES): string[] {
  if (h.Privileged) return [...all];
  const add = (h.CapAdd ?? []).map(normalizeCapability);
  const drop = (h.CapDrop ?? []).map(normalizeCapability);
  let caps = drop.includes('ALL') ? [] : DEFAULT_CAPABILITIES.filter((c) => !drop.includes(c));
  if (add.includes('ALL')) caps = [...all];
  else for (const c of add) if (!caps.includes(c)) caps.push(c);
  return caps;
}

let hostCaps: Promise<string[]> | undefined;

/** The capabilities in berthd's own bounding set: "all" for --privileged and --cap-add ALL, as dockerd does. */
export function hostCapabilities(): Promise<string[]> {
  hostCaps ??= readFile('/proc/self/status', 'utf8').then((text) => {
    const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(text);
    if (!m) return ALL_CAPABILITIES;
    const mask = BigInt(`0x${m[1]}`);
    return ALL_CAPABILITIES.filter((_, bit) => (mask >> BigInt(bit)) & 1n);
  }, () => ALL_CAPABILITIES);
  return hostCaps;
}

interface SecurityOptions { noNewPrivileges: boolean; seccomp: 'default' | 'unconfined' | Record<string, unknown>; unmaskSystemPaths: boolean }

/** Parse SecurityOpt (`key=value`; the old `key:value` form too) as dockerd does. */
export function parseSecurityOpt(opts: string[] | null | undefined): SecurityOptions {
  const out: SecurityOptions = { noNewPrivileges: false, seccomp: 'default', unmaskSystemPaths: false };
  for (const opt of opts ?? []) {
    if (opt === 'no-new-privileges') { out.noNewPrivileges = true; continue; }
    const m = /^([a-z-]+)[=:]([\s\S]*)$/.exec(opt);
    if (!m) throw invalidArgument(`invalid --security-opt 1: "${opt}"`);
    const [, key, value] = m;
    if (key === 'no-new-privileges') {
      if (value !== 'true' && value !== 'false') throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
      out.noNewPrivileges = value === 'true';
    } else if (key === 'seccomp') {
      if (value === 'unconfined') out.seccomp = 'unconfined';
      else if (value === 'builtin' || value === '') out.seccomp = 'default';
      else {
        try {
          out.seccomp = JSON.parse(value) as Record<string, unknown>;
        } catch (err) {
          throw invalidArgument(`Decoding seccomp profile failed: ${(err as Error).message}`);
        }
      }
    } else if (key === 'systempaths') {
      if (value !== 'unconfined') throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
      out.unmaskSystemPaths = true;
    } else if (key !== 'apparmor' && key !== 'label') {
      throw invalidArgument(`invalid --security-opt 2: "${opt}"`);
    }
  }
  return out;
}

/** Create-time checks (capability names, security options, device rule syntax). */
export function validateSecurity(h: SecurityHostConfig): void {
  for (const c of [...(h.CapAdd ?? []), ...(h.CapDrop ?? [])]) normalizeCapability(c);
  parseSecurityOpt(h.SecurityOpt);
  for (const r of h.DeviceCgroupRules ?? []) parseCgroupRule(r);
  for (const d of h.Devices ?? []) {
    if (d.CgroupPermissions && !/^[rwm]{1,3}$/.test(d.CgroupPermissions)) throw invalidArgument(`invalid device mode: ${d.CgroupPermissions}`);
  }
}

interface DeviceRule { allow: boolean; type?: string; major?: number; minor?: number; access: string }

function parseCgroupRule(rule: string): DeviceRule {
  const m = /^([acb]) (\d+|\*):(\d+|\*) ([rwm]{1,3})$/.exec(rule.trim());
  if (!m) throw invalidArgument(`invalid device cgroup format '${rule}'`);
  const num = (s: string) => (s === '*' ? undefined : Number(s));
  return { allow: true, type: m[1], major: num(m[2]), minor: num(m[3]), access: m[4] };
}

const major = (rdev: number) => Number((BigInt(rdev) >> 8n) & 0xfffn) | Number((BigInt(rdev) >> 32n) & ~0xfffn & 0xffffffffn);
const minor = (rdev: number) => Number(BigInt(rdev) & 0xffn) | Number((BigInt(rdev) >> 12n) & ~0xffn & 0xffffffffn);

interface OciDevice { path: string; type: string; major: number; minor: number; fileMode: number; uid: number; gid: number }

async function deviceAt(hostPath: string, containerPath: string): Promise<OciDevice | undefined> {
  const st = await stat(hostPath);
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : st.isFIFO() ? 'p' : undefined;
  if (!type) return undefined;
  return { path: containerPath, type, major: major(st.rdev), minor: minor(st.rdev), fileMode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

const SKIPPED_DEV_DIRS = new Set(['pts', 'shm', 'fd', 'mqueue', '.lxc', '.udev', 'console']);

/** Every device node under the host's /dev (for --privileged). */
async function hostDevices(dir = '/dev', depth = 0): Promise<OciDevice[]> {
  const out: OciDevice[] = [];
  let names: string[];
  try { names = await readdir(dir); } catch { return out; }
  for (const name of names) {
    if (depth === 0 && SKIPPED_DEV_DIRS.has(name)) continue;
    const p = path.join(dir, name);
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.isDirectory() && depth < 3) out.push(...(await hostDevices(p, depth + 1)));
    else if (st.isCharacterDevice() || st.isBlockDevice()) {
      const d = await deviceAt(p, p).catch(() => undefined);
      if (d) out.push(d);
    }
  }
  return out;
}

/** --device entries: a node, or a directory of nodes, mapped into the container with the given cgroup access. */
async function requestedDevices(h: SecurityHostConfig): Promise<{ devices: OciDevice[]; rules: DeviceRule[] }> {
  const devices: OciDevice[] = [];
  const rules: DeviceRule[] = [];
  for (const req of h.Devices ?? []) {
    const target = req.PathInContainer || req.PathOnHost;
    const access = req.CgroupPermissions || 'rwm';
    const st = await stat(req.PathOnHost).catch((err: NodeJS.ErrnoException) => {
      throw invalidArgument(`error gathering device information while adding custom device "${req.PathOnHost}": ${err.code === 'ENOENT' ? 'no such file or directory' : err.message}`);
    });
    const found: OciDevice[] = [];
    if (st.isDirectory()) {
      for (const d of await hostDevices(req.PathOnHost, 1)) found.push({ ...d, path: path.join(target, path.relative(req.PathOnHost, d.path)) });
    } else {
      const d = await deviceAt(req.PathOnHost, target);
      if (!d) throw invalidArgument(`error gathering device information while adding custom device "${req.PathOnHost}": not a device node`);
      found.push(d);
    }
    for (const d of found) {
      devices.push(d);
      rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access });
    }
  }
  return { devices, rules };
}

async function readImageFile(rootfs: string, rel: string): Promise<string> {
  let p = rootfs;
  for (const part of rel.split('/')) {
    p = path.join(p, part);
    const st = await lstat(p).catch(() => undefined);
    if (!st || st.isSymbolicLink()) return '';
  }
  return readFile(p, 'utf8').catch(() => '');
}

/** --group-add: numeric gids as given, names looked up in the image's /etc/group. */
export async function extraGroups(groups: string[], rootfs: string): Promise<number[]> {
  if (!groups.length) return [];
  const table = (await readImageFile(rootfs, 'etc/group')).split('\n').map((l) => l.split(':')).filter((f) => f.length >= 3);
  return groups.map((g) => {
    if (/^\d+$/.test(g)) return Number(g);
    const hit = table.find((f) => f[0] === g);
    if (!hit) throw invalidArgument(`Unable to find group ${g}: no matching entries in group file`);
    return Number(hit[2]);
  });
}

const INIT_CANDIDATES = ['/usr/bin/tini-static', '/usr/bin/docker-init', '/usr/bin/tini'];

async function initBinary(): Promise<string> {
  for (const p of INIT_CANDIDATES) if (await access(p).then(() => true, () => false)) return p;
  throw invalidArgument('docker-init binary not found (install the tini package)');
}

const KERNEL = release().split('.').map((x) => parseInt(x, 10) || 0);

/** A Docker-format profile (archMap, includes/excludes) → the OCI linux.seccomp object for this container. */
export function dockerProfileToOci(p: Record<string, unknown>, caps: string[], arch = process.arch): Record<string, unknown> {
  const native = seccompArchitectures(arch)[0];
  let architectures = (p.architectures as string[] | undefined) ?? [];
  for (const m of (p.archMap as { architecture: string; subArchitectures?: string[] }[] | undefined) ?? []) {
    if (m.architecture === native) architectures = [m.architecture, ...(m.subArchitectures ?? [])];
  }
  type Filter = { caps?: string[]; arches?: string[]; minKernel?: string };
  const archNames = new Set(architectures.length ? architectures : seccompArchitectures(arch));
  const matches = (f: Filter | undefined, include: boolean) => {
    if (!f) return include;
    const checks: boolean[] = [];
    if (f.caps?.length) checks.push(f.caps.every((c) => caps.includes(c)));
    if (f.arches?.length) checks.push(f.arches.some((a) => archNames.has(a) || archNames.has(`SCMP_ARCH_${a.toUpperCase()}`)));
    if (f.minKernel) {
      const [ma, mi] = f.minKernel.split('.').map((x) => parseInt(x, 10));
      checks.push(KERNEL[0] > ma || (KERNEL[0] === ma && KERNEL[1] >= (mi || 0)));
    }
    return include ? checks.every(Boolean) : checks.length > 0 && checks.some(Boolean);
  };
  const syscalls = ((p.syscalls as Record<string, unknown>[] | undefined) ?? [])
    .filter((s) => matches(s.includes as Filter | undefined, true) && !matches(s.excludes as Filter | undefined, false))
    .map((s) => {
      const names = (s.names as string[] | undefined) ?? (s.name ? [s.name as string] : []);
      const out: Record<string, unknown> = { names, action: s.action };
      if (s.errnoRet !== undefined) out.errnoRet = s.errnoRet;
      if (Array.isArray(s.args) && s.args.length) out.args = s.args;
      return out;
    });
  const out: Record<string, unknown> = { defaultAction: p.defaultAction ?? 'SCMP_ACT_ALLOW', architectures, syscalls };
  if (p.defaultErrnoRet !== undefined) out.defaultErrnoRet = p.defaultErrnoRet;
  if (p.flags) out.flags = p.flags;
  return out;
}

type Spec = {
  process: { args: string[]; noNewPrivileges?: boolean; capabilities?: Record<string, string[]>; user: { additionalGids?: number[] } };
  mounts: { destination: string; type?: string; source?: string; options?: string[] }[];
  linux: { resources: { devices?: DeviceRule[] }; devices?: OciDevice[]; seccomp?: unknown; maskedPaths?: string[]; readonlyPaths?: string[] };
};

/** Apply the security settings of `h` to a spec made by buildSpec; `rootfs` is the mounted image root (for groups). */
export async function applySecurity(specIn: Record<string, unknown>, h: SecurityHostConfig, rootfs: string): Promise<void> {
  const spec = specIn as unknown as Spec;
  const opts = parseSecurityOpt(h.SecurityOpt);
  const caps = capabilitiesFor(h, await hostCapabilities());
  spec.process.capabilities = { bounding: caps, effective: caps, permitted: caps };
  spec.process.noNewPrivileges = opts.noNewPrivileges;

  if (h.Privileged) {
    for (const m of spec.mounts) {
      if (m.destination === '/sys' || m.destination === '/sys/fs/cgroup') m.options = (m.options ?? []).filter((o) => o !== 'ro').concat('rw');
    }
    const fromHost = await hostDevices();
    spec.linux.devices = fromHost;
  } else {
    if (opts.unmaskSystemPaths) { delete spec.linux.maskedPaths; delete spec.linux.readonlyPaths; }
    if (opts.seccomp === 'default') spec.linux.seccomp = defaultSeccompProfile(caps);
    else if (opts.seccomp !== 'unconfined') spec.linux.seccomp = dockerProfileToOci(opts.seccomp, caps);
  }

  const { devices, rules } = await requestedDevices(h);
  const cgroupRules = (h.DeviceCgroupRules ?? []).map(parseCgroupRule);
  if (devices.length) spec.linux.devices = [...(spec.linux.devices ?? []).filter((d) => !devices.some((x) => x.path === d.path)), ...devices];
  if (!h.Privileged && (rules.length || cgroupRules.length)) spec.linux.resources.devices = [...(spec.linux.resources.devices ?? []), ...rules, ...cgroupRules];

  const gids = await extraGroups(h.GroupAdd ?? [], rootfs);
  if (gids.length) spec.process.user.additionalGids = [...new Set([...(spec.process.user.additionalGids ?? []), ...gids])];

  if (h.Init) {
    spec.mounts.push({ destination: '/sbin/docker-init', type: 'bind', source: await initBinary(), options: ['rbind', 'ro', 'rprivate'] });
    spec.process.args = ['/sbin/docker-init', '--', ...spec.process.args];
  }
}
