/**
 * HostConfig resource limits → the OCI spec: `linux.resources` (memory, cpu, pids, blockIO), `process.rlimits`
 * (ulimits) and the size of the /dev/shm tmpfs. The fields are the OCI ones, so runc writes them to cgroup v1 or v2
 * files alike. Validation follows dockerd's create-time checks and wording.
 */
import { access, stat } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { invalidArgument } from '../errors';

export interface ResourceHostConfig {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  MemorySwappiness?: number | null;
  OomKillDisable?: boolean | null;
  NanoCpus?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  CpuRealtimePeriod?: number;
  CpuRealtimeRuntime?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  Ulimits?: { Name: string; Soft: number; Hard: number }[] | null;
  ShmSize?: number;
  BlkioWeightDevice?: { Path: string; Weight: number }[] | null;
  BlkioDeviceReadBps?: ThrottleDevice[] | null;
  BlkioDeviceWriteBps?: ThrottleDevice[] | null;
  BlkioDeviceReadIOps?: ThrottleDevice[] | null;
  BlkioDeviceWriteIOps?: ThrottleDevice[] | null;
  OomScoreAdj?: number;
  StorageOpt?: Record<string, string> | null;
  DeviceRequests?: { Driver?: string; Capabilities?: string[][] | null }[] | null;
}

interface ThrottleDevice {
  Path: string;
  Rate: number;
}

/** HostConfig throttle field → OCI blockIO field. */
const THROTTLES = [
  ['BlkioDeviceReadBps', 'throttleReadBpsDevice'], ['BlkioDeviceWriteBps', 'throttleWriteBpsDevice'],
  ['BlkioDeviceReadIOps', 'throttleReadIOPSDevice'], ['BlkioDeviceWriteIOps', 'throttleWriteIOPSDevice'],
] as const;

export const DEFAULT_SHM_SIZE = 64 * 1024 * 1024;
const MIN_MEMORY = 6 * 1024 * 1024;
const DEFAULT_CPU_PERIOD = 100_000;

const ULIMIT_NAMES = ['as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio', 'rttime', 'sigpending', 'stack'];

const n = (v: number | null | undefined) => (typeof v === 'number' && Number.isFinite(v) ? v : 0);

/** dockerd's create-time checks of the resource fields (throws InvalidArgument). */
export function validateResources(h: ResourceHostConfig): void {
  const memory = n(h.Memory);
  const swap = n(h.MemorySwap);
  if (memory < 0) throw invalidArgument('invalid memory limit: must be non-negative');
  if (memory > 0 && memory < MIN_MEMORY) throw invalidArgument('Minimum memory limit allowed is 6MB');
  if (memory > 0 && swap > 0 && swap < memory) {
    throw invalidArgument('Minimum memoryswap limit should be larger than memory limit, see usage');
  }
  if (memory === 0 && swap > 0) throw invalidArgument('You should always set the Memory limit when using Memoryswap limit, see usage');
  if (n(h.MemoryReservation) > 0 && memory > 0 && n(h.MemoryReservation) > memory) {
    throw invalidArgument('Minimum memory limit can not be less than memory reservation limit, see usage');
  }
  if (n(h.MemoryReservation) > 0 && n(h.MemoryReservation) < MIN_MEMORY) throw invalidArgument('Minimum memory reservation allowed is 6MB');
  if (h.MemorySwappiness != null && h.MemorySwappiness !== -1 && (h.MemorySwappiness < 0 || h.MemorySwappiness > 100)) {
    throw invalidArgument(`Invalid value: ${h.MemorySwappiness}, valid memory swappiness range is 0-100`);
  }
  if (n(h.NanoCpus) > 0 && (n(h.CpuQuota) > 0 || n(h.CpuPeriod) > 0)) {
    throw invalidArgument('Conflicting options: Nano CPUs and CPU Period cannot both be set');
  }
  const cpus = availableParallelism();
  if (n(h.NanoCpus) < 0 || n(h.NanoCpus) > cpus * 1e9) {
    throw invalidArgument(`Range of CPUs is from 0.01 to ${cpus}.00, as there are only ${cpus} CPUs available`);
  }
  if (n(h.CpuPeriod) !== 0 && (n(h.CpuPeriod) < 1000 || n(h.CpuPeriod) > 1_000_000)) {
    throw invalidArgument('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  }
  if (n(h.CpuQuota) > 0 && n(h.CpuQuota) < 1000) throw invalidArgument('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (n(h.BlkioWeight) > 0 && (n(h.BlkioWeight) < 10 || n(h.BlkioWeight) > 1000)) {
    throw invalidArgument('Range of blkio weight is from 10 to 1000');
  }
  if (n(h.ShmSize) < 0) throw invalidArgument('SHM size can not be less than 0');
  if (n(h.OomScoreAdj) < -1000 || n(h.OomScoreAdj) > 1000) {
    throw invalidArgument(`Invalid value ${n(h.OomScoreAdj)}, range for oom score adj is [-1000, 1000]`);
  }
  // overlay on this file system has no per-container quota (dockerd: xfs with pquota only)
  if (h.StorageOpt && Object.keys(h.StorageOpt).length) throw invalidArgument("--storage-opt is supported only for overlay over xfs with 'pquota' mount option");
  // no device drivers (GPUs) are registered, as with a dockerd without the NVIDIA runtime
  for (const r of h.DeviceRequests ?? []) {
    throw invalidArgument(`could not select device driver "${r.Driver ?? ''}" with capabilities: [${(r.Capabilities ?? []).map((c) => `[${c.join(' ')}]`).join(' ')}]`);
  }
  for (const w of h.BlkioWeightDevice ?? []) {
    if (w.Weight < 10 || w.Weight > 1000) throw invalidArgument('Range of blkio weight is from 10 to 1000');
  }
  for (const u of h.Ulimits ?? []) {
    if (!ULIMIT_NAMES.includes(u.Name)) throw invalidArgument(`invalid ulimit type: ${u.Name}`);
    if (u.Soft > u.Hard) throw invalidArgument(`ulimit soft limit must be less than or equal to hard limit: ${u.Soft} > ${u.Hard}`);
  }
  for (const [field, v] of [['CpusetCpus', h.CpusetCpus], ['CpusetMems', h.CpusetMems]] as const) {
    if (v && !/^\d+(-\d+)?(,\d+(-\d+)?)*$/.test(v)) throw invalidArgument(`Invalid value ${v} for ${field === 'CpusetCpus' ? 'cpuset cpus' : 'cpuset mems'}`);
  }
  // as dockerd, at create: the runtime would fail the start with a less useful message
  if (h.CpusetCpus && maxListed(h.CpusetCpus) >= cpus) {
    throw invalidArgument(`Requested CPUs are not available - requested ${h.CpusetCpus}, available: ${cpus === 1 ? '0' : `0-${cpus - 1}`}`);
  }
}

/** The highest number of a cpuset list such as `0-2,5`. */
function maxListed(list: string): number {
  return Math.max(...list.split(/[,-]/).map(Number));
}

let blkioWeightSupport: Promise<boolean> | undefined;

/** Whether the kernel's io controller takes a weight (CFQ/BFQ on v1, io.weight on v2); Docker drops it otherwise. */
function blkioWeightSupported(): Promise<boolean> {
  const candidates = ['/sys/fs/cgroup/blkio/blkio.weight', '/sys/fs/cgroup/blkio/blkio.bfq.weight', '/sys/fs/cgroup/io.weight', '/sys/fs/cgroup/io.bfq.weight'];
  blkioWeightSupport ??= Promise.all(candidates.map((p) => access(p).then(() => true, () => false))).then((r) => r.some(Boolean));
  return blkioWeightSupport;
}

/** The OCI `linux.resources` fields for the limits in `h` (devices are left to the caller). */
export async function resourcesFor(h: ResourceHostConfig): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  const memory: Record<string, unknown> = {};
  const mem = n(h.Memory);
  if (mem > 0) {
    memory.limit = mem;
    const swap = n(h.MemorySwap);
    // OCI memory.swap is memory+swap, like Docker's MemorySwap; unset means twice the memory limit.
    memory.swap = swap === 0 ? mem * 2 : swap;
  }
  if (n(h.MemoryReservation) > 0) memory.reservation = n(h.MemoryReservation);
  if (h.MemorySwappiness != null && h.MemorySwappiness >= 0) memory.swappiness = h.MemorySwappiness;
  if (h.OomKillDisable) memory.disableOOMKiller = true;
  if (Object.keys(memory).length) out.memory = memory;

  const cpu: Record<string, unknown> = {};
  if (n(h.CpuShares) > 0) cpu.shares = n(h.CpuShares);
  if (n(h.NanoCpus) > 0) {
    cpu.period = DEFAULT_CPU_PERIOD;
    cpu.quota = Math.round((n(h.NanoCpus) * DEFAULT_CPU_PERIOD) / 1e9);
  } else {
    if (n(h.CpuQuota) !== 0) cpu.quota = n(h.CpuQuota);
    if (n(h.CpuPeriod) > 0) cpu.period = n(h.CpuPeriod);
  }
  if (n(h.CpuRealtimePeriod) > 0) cpu.realtimePeriod = n(h.CpuRealtimePeriod);
  if (n(h.CpuRealtimeRuntime) > 0) cpu.realtimeRuntime = n(h.CpuRealtimeRuntime);
  if (h.CpusetCpus) cpu.cpus = h.CpusetCpus;
  if (h.CpusetMems) cpu.mems = h.CpusetMems;
  if (Object.keys(cpu).length) out.cpu = cpu;

  if (n(h.PidsLimit) > 0) out.pids = { limit: n(h.PidsLimit) };
  const blockIO: Record<string, unknown> = {};
  if (n(h.BlkioWeight) > 0 && (await blkioWeightSupported())) blockIO.weight = n(h.BlkioWeight);
  for (const [field, oci] of THROTTLES) {
    const list = h[field] ?? [];
    if (list.length) blockIO[oci] = await Promise.all(list.map(async (d) => ({ ...(await blockDevice(d.Path)), rate: d.Rate })));
  }
  const weighted = h.BlkioWeightDevice ?? [];
  if (weighted.length && (await blkioWeightSupported())) {
    blockIO.weightDevice = await Promise.all(weighted.map(async (d) => ({ ...(await blockDevice(d.Path)), weight: d.Weight })));
  }
  if (Object.keys(blockIO).length) out.blockIO = blockIO;
  return out;
}

/** major:minor of a block device node (what the blkio files take). */
async function blockDevice(p: string): Promise<{ major: number; minor: number }> {
  let st;
  try {
    st = await stat(p);
  } catch {
    throw invalidArgument(`error gathering device information while adding custom device "${p}": no such file or directory`);
  }
  if (!st.isBlockDevice()) throw invalidArgument(`${p} is not a block device`);
  // dev_t as glibc splits it
  const rdev = st.rdev;
  return { major: ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff), minor: (rdev & 0xff) | ((rdev >> 12) & ~0xff & 0xfffff) };
}

/** Apply the resource limits, ulimits and /dev/shm size of `h` to a spec made by buildSpec. */
export async function applyResources(spec: Record<string, unknown>, h: ResourceHostConfig): Promise<void> {
  const linux = spec.linux as { resources?: Record<string, unknown> };
  linux.resources = { ...(linux.resources ?? {}), ...(await resourcesFor(h)) };

  const ulimits = h.Ulimits ?? [];
  if (ulimits.length) {
    const proc = spec.process as { rlimits?: { type: string; soft: number; hard: number }[] };
    const rlimits = (proc.rlimits ?? []).filter((r) => !ulimits.some((u) => `RLIMIT_${u.Name.toUpperCase()}` === r.type));
    for (const u of ulimits) rlimits.push({ type: `RLIMIT_${u.Name.toUpperCase()}`, soft: u.Soft, hard: u.Hard });
    proc.rlimits = rlimits;
  }

  if (n(h.OomScoreAdj) !== 0) (spec.process as { oomScoreAdj?: number }).oomScoreAdj = n(h.OomScoreAdj);

  const shm = n(h.ShmSize) > 0 ? n(h.ShmSize) : DEFAULT_SHM_SIZE;
  for (const m of spec.mounts as { destination: string; type?: string; options?: string[] }[]) {
    if (m.destination === '/dev/shm' && m.type === 'tmpfs') {
      m.options = [...(m.options ?? []).filter((o) => !o.startsWith('size=')), `size=${shm}`];
    }
  }
}

/** HostConfig resource/security fields as dockerd stores them when a client leaves them out (shown by inspect). */
export function withResourceDefaults<T extends Record<string, unknown>>(h: T): T {
  const defaults: Record<string, unknown> = {
    Memory: 0, MemorySwap: 0, MemoryReservation: 0, MemorySwappiness: null, OomKillDisable: null, NanoCpus: 0, CpuShares: 0,
    CpuQuota: 0, CpuPeriod: 0, CpuRealtimePeriod: 0, CpuRealtimeRuntime: 0, CpusetCpus: '', CpusetMems: '', PidsLimit: null,
    BlkioWeight: 0, Ulimits: [], CapAdd: null, CapDrop: null, SecurityOpt: null, Devices: [], DeviceCgroupRules: null,
    GroupAdd: null, BlkioWeightDevice: [], BlkioDeviceReadBps: [], BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [],
    BlkioDeviceWriteIOps: [], OomScoreAdj: 0,
  };
  const out: Record<string, unknown> = { ...defaults };
  for (const [k, v] of Object.entries(h)) if (v !== undefined && !(v === null && Array.isArray(defaults[k]))) out[k] = v;
  if (!n(out.ShmSize as number)) out.ShmSize = DEFAULT_SHM_SIZE;
  return out as T;
}
