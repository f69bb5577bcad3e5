/**
 * `--pid`, `--ipc`, `--uts` and `--cgroupns`: which namespaces a container gets of its own, shares with the
 * host, or joins from another running container; and `--sysctl`, which may only set what the container's
 * own namespaces hold. Checked at create (wording as docker's), applied to the OCI spec at start, when the
 * other container's namespaces can be found through its init's /proc entry.
 */
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, invalidArgument } from '../errors';
import { mountTmpfs } from '../runtime/rootfs';
import type { ContainerConfigRecord, ContainerRecord, HostConfigRecord } from './containers-store';

interface NamespaceModes {
  PidMode?: string;
  IpcMode?: string;
  UTSMode?: string;
  CgroupnsMode?: string;
}

type Namespace = { type: string; path?: string };
type Mount = { destination: string; type?: string; source?: string; options?: string[] };

const IPC_MODES = ['', 'private', 'shareable', 'host', 'none'];

function joins(mode: string): string | undefined {
  return mode.startsWith('container:') ? mode.slice('container:'.length) : undefined;
}

/** Create: defaults as dockerd reports them, and dockerd's refusals. `userHostname`: the client's -h. */
export function normalizeNamespaceModes(hc: HostConfigRecord, config: ContainerConfigRecord, userHostname: string | undefined): void {
  const h = hc as HostConfigRecord & NamespaceModes;
  const pid = h.PidMode ?? '';
  if (pid !== '' && pid !== 'host' && !joins(pid)) throw invalidArgument(`invalid PID mode: ${pid}`);
  const ipc = h.IpcMode ?? '';
  if (!IPC_MODES.includes(ipc) && !joins(ipc)) throw invalidArgument(`invalid IPC mode: ${ipc}`);
  const uts = h.UTSMode ?? '';
  if (uts !== '' && uts !== 'host') throw invalidArgument(`invalid UTS mode: ${uts}`);
  const cgroupns = h.CgroupnsMode ?? '';
  if (!['', 'host', 'private'].includes(cgroupns)) throw invalidArgument(`invalid cgroup namespace mode: ${cgroupns}`);
  checkSysctls(h, ipc);
  if (uts === 'host') {
    if (userHostname) throw invalidArgument('conflicting options: hostname and the UTS mode');
    config.Hostname = os.hostname();
  }
  h.PidMode = pid;
  h.IpcMode = ipc || 'private';
  h.UTSMode = uts;
  h.CgroupnsMode = cgroupns || 'host';
}

/**
 * Where a shareable container's /dev/shm lives: a tmpfs mounted on the host (as dockerd does), since a
 * mount inside one container's mount namespace cannot be bound into another's.
 */
export function shareableShmDir(containerDir: string): string {
  return path.join(containerDir, 'shm');
}

/** Start: the spec's namespaces and /dev/shm as the modes say; `get` finds the containers joined. */
export async function applyNamespaceModes(c: ContainerRecord, spec: Record<string, unknown>, get: (ref: string) => ContainerRecord, dir: (id: string) => string): Promise<void> {
  const h = c.hostConfig as HostConfigRecord & NamespaceModes;
  const linux = spec.linux as { namespaces: Namespace[] };
  const set = (type: string, ns: Namespace | undefined) => {
    linux.namespaces = linux.namespaces.filter((n) => n.type !== type);
    if (ns) linux.namespaces.push(ns);
  };
  const mounts = spec.mounts as Mount[];
  const setShm = (m: Mount | undefined) => {
    const i = mounts.findIndex((x) => x.destination === '/dev/shm');
    if (i >= 0) mounts.splice(i, 1);
    if (m) mounts.splice(Math.max(i, 0), 0, m);
  };

  const pid = h.PidMode ?? '';
  const pidFrom = joins(pid);
  if (pid === 'host') set('pid', undefined);
  else if (pidFrom) set('pid', { type: 'pid', path: `/proc/${runningInit(get(pidFrom), 'PID')}/ns/pid` });

  const ipc = h.IpcMode ?? '';
  const ipcFrom = joins(ipc);
  if (ipc === 'host') {
    set('ipc', undefined);
    setShm({ destination: '/dev/shm', type: 'bind', source: '/dev/shm', options: ['rbind', 'rprivate'] });
  } else if (ipc === 'none') {
    setShm(undefined);
  } else if (ipc === 'shareable') {
    const own = mounts.find((m) => m.destination === '/dev/shm');
    const options = ['nosuid', 'nodev', 'noexec', 'mode=1777', ...(own?.options ?? []).filter((o) => o.startsWith('size='))];
    await mountTmpfs(shareableShmDir(dir(c.id)), options);
    setShm({ destination: '/dev/shm', type: 'bind', source: shareableShmDir(dir(c.id)), options: ['rbind', 'rprivate'] });
  } else if (ipcFrom) {
    const donor = get(ipcFrom);
    const mode = (donor.hostConfig as NamespaceModes).IpcMode ?? '';
    if (mode !== 'shareable' && mode !== 'host') {
      throw conflict(`non-shareable IPC (hint: use IpcMode:shareable for the donor container)`);
    }
    const initPid = runningInit(donor, 'IPC');
    set('ipc', mode === 'host' ? undefined : { type: 'ipc', path: `/proc/${initPid}/ns/ipc` });
    setShm({ destination: '/dev/shm', type: 'bind', source: mode === 'host' ? '/dev/shm' : shareableShmDir(dir(donor.id)), options: ['rbind', 'rprivate'] });
  }

  if ((h.UTSMode ?? '') === 'host') {
    set('uts', undefined);
    delete spec.hostname;
  }
  if ((h.CgroupnsMode ?? '') === 'private') set('cgroup', { type: 'cgroup' });
  const sysctls = (h as { Sysctls?: Record<string, string> | null }).Sysctls;
  if (sysctls && Object.keys(sysctls).length) (spec.linux as { sysctl?: Record<string, string> }).sysctl = { ...sysctls };
}

/** The IPC namespace's sysctls besides fs.mqueue.* (the docker CLI's list). */
const IPC_SYSCTLS = ['kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni', 'kernel.shm_rmid_forced'];

/** Only sysctls of a namespace the container has of its own: the IPC ones and net.*. */
function checkSysctls(h: HostConfigRecord & NamespaceModes, ipc: string): void {
  const sysctls = (h as { Sysctls?: Record<string, string> | null }).Sysctls ?? {};
  const network = String(h.NetworkMode ?? '');
  for (const [key, value] of Object.entries(sysctls)) {
    const ipcKey = IPC_SYSCTLS.includes(key) || key.startsWith('fs.mqueue.');
    if (!ipcKey && !key.startsWith('net.')) throw invalidArgument(`sysctl '${key}=${value}' is not whitelisted`);
    if (ipcKey && (ipc === 'host' || joins(ipc))) throw invalidArgument(`sysctl "${key}" is not allowed in host IPC namespace`);
    if (!ipcKey && (network === 'host' || network.startsWith('container:'))) throw invalidArgument(`sysctl "${key}" is not allowed in host network namespace`);
  }
}

function runningInit(target: ContainerRecord, what: 'PID' | 'IPC'): number {
  if (target.state.status !== 'running' || !(target.state.pid > 0)) {
    throw conflict(`cannot join ${what} of a non running container: ${target.id}`);
  }
  return target.state.pid;
}
