/**
 * Container resource usage read from the container's cgroup (v1 controller dirs, or one v2 dir), shaped as
 * dockerd's stats JSON (GET /containers/{id}/stats) so the docker CLI computes CPU %, MEM USAGE / LIMIT,
 * BLOCK I/O and PIDS from it. Networks are left out (the CLI then shows 0B / 0B).
 */
import { readFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import * as path from 'node:path';
import { cgroupMode } from '../runtime/cgroups';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** USER_HZ: /proc/stat counts in these ticks on every Linux dockerd supports */
const CLOCK_TICKS = 100;

export interface CpuStats {
  cpu_usage: { total_usage: number; percpu_usage?: number[]; usage_in_kernelmode: number; usage_in_usermode: number };
  system_cpu_usage: number;
  online_cpus: number;
  throttling_data: { periods: number; throttled_periods: number; throttled_time: number };
}

export interface BlkioEntry { major: number; minor: number; op: string; value: number }

export interface StatsSample {
  read: string;
  preread: string;
  pids_stats: { current?: number; limit?: number };
  blkio_stats: {
    io_service_bytes_recursive: BlkioEntry[] | null; io_serviced_recursive: null; io_queue_recursive: null;
    io_service_time_recursive: null; io_wait_time_recursive: null; io_merged_recursive: null; io_time_recursive: null; sectors_recursive: null;
  };
  num_procs: number;
  storage_stats: Record<string, never>;
  cpu_stats: CpuStats;
  precpu_stats: CpuStats;
  memory_stats: { usage?: number; max_usage?: number; limit?: number; failcnt?: number; stats?: Record<string, number> };
  name: string;
  id: string;
}

const ZERO_TIME = '0001-01-01T00:00:00Z';

export function emptyCpu(): CpuStats {
  return {
    cpu_usage: { total_usage: 0, usage_in_kernelmode: 0, usage_in_usermode: 0 },
    system_cpu_usage: 0, online_cpus: 0, throttling_data: { periods: 0, throttled_periods: 0, throttled_time: 0 },
  };
}

/** A sample with nothing measured: what dockerd sends for a container that is not running. */
export function emptySample(id: string, name: string): StatsSample {
  return {
    read: ZERO_TIME, preread: ZERO_TIME, pids_stats: {}, num_procs: 0, storage_stats: {},
    blkio_stats: {
      io_service_bytes_recursive: null, io_serviced_recursive: null, io_queue_recursive: null, io_service_time_recursive: null,
      io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
    },
    cpu_stats: emptyCpu(), precpu_stats: emptyCpu(), memory_stats: {}, name: `/${name}`, id,
  };
}

async function text(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

async function num(file: string): Promise<number | undefined> {
  const t = (await text(file))?.trim();
  if (t === undefined || t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) ? n : undefined;
}

/** "key value" lines (memory.stat, cpu.stat) */
function keyValues(t: string | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const line of (t ?? '').split('\n')) {
    const [k, v] = line.trim().split(/\s+/);
    if (k && v !== undefined && Number.isFinite(Number(v))) out[k] = Number(v);
  }
  return out;
}

/** The host's total CPU time in nanoseconds (the first line of /proc/stat), as dockerd's system_cpu_usage. */
export async function systemCpuUsage(): Promise<number> {
  const t = await text('/proc/stat');
  const line = t?.split('\n').find((l) => l.startsWith('cpu '));
  if (!line) return 0;
  const fields = line.trim().split(/\s+/).slice(1, 8).map(Number);
  return (fields.reduce((a, b) => a + b, 0) * 1e9) / CLOCK_TICKS;
}

/** Reads one container's cgroup; `rel` is its cgroup path relative to each hierarchy root (/berth/<id>). */
export class CgroupStatsReader {
  constructor(private readonly root = CGROUP_ROOT) {}

  async sample(rel: string): Promise<Omit<StatsSample, 'read' | 'preread' | 'precpu_stats' | 'name' | 'id' | 'storage_stats' | 'num_procs'>> {
    const mode = await cgroupMode(this.root);
    return mode === 'v2' ? this.v2(path.join(this.root, rel)) : this.v1(rel);
  }

  private async v1(rel: string) {
    const dir = (ctl: string) => path.join(this.root, ctl, rel);
    const [usage, percpu, cpuacctStat, cpuStat, memUsage, memMax, memLimit, failcnt, memStat, blkio, pidsCur, pidsMax, sys] = await Promise.all([
      num(path.join(dir('cpuacct'), 'cpuacct.usage')),
      text(path.join(dir('cpuacct'), 'cpuacct.usage_percpu')),
      text(path.join(dir('cpuacct'), 'cpuacct.stat')),
      text(path.join(dir('cpu'), 'cpu.stat')),
      num(path.join(dir('memory'), 'memory.usage_in_bytes')),
      num(path.join(dir('memory'), 'memory.max_usage_in_bytes')),
      num(path.join(dir('memory'), 'memory.limit_in_bytes')),
      num(path.join(dir('memory'), 'memory.failcnt')),
      text(path.join(dir('memory'), 'memory.stat')),
      text(path.join(dir('blkio'), 'blkio.throttle.io_service_bytes_recursive')),
      num(path.join(dir('pids'), 'pids.current')),
      num(path.join(dir('pids'), 'pids.max')),
      systemCpuUsage(),
    ]);
    const ticks = keyValues(cpuacctStat);
    const thr = keyValues(cpuStat);
    const percpuList = (percpu ?? '').trim().split(/\s+/).filter(Boolean).map(Number);
    const blkioEntries: BlkioEntry[] = [];
    for (const line of (blkio ?? '').split('\n')) {
      const m = /^(\d+):(\d+)\s+(\w+)\s+(\d+)$/.exec(line.trim());
      if (m) blkioEntries.push({ major: Number(m[1]), minor: Number(m[2]), op: m[3], value: Number(m[4]) });
    }
    const cpu: CpuStats = {
      cpu_usage: {
        total_usage: usage ?? 0,
        ...(percpuList.length ? { percpu_usage: percpuList } : {}),
        usage_in_kernelmode: ((ticks.system ?? 0) * 1e9) / CLOCK_TICKS,
        usage_in_usermode: ((ticks.user ?? 0) * 1e9) / CLOCK_TICKS,
      },
      system_cpu_usage: sys,
      online_cpus: cpus().length,
      throttling_data: { periods: thr.nr_periods ?? 0, throttled_periods: thr.nr_throttled ?? 0, throttled_time: thr.throttled_time ?? 0 },
    };
    return {
      cpu_stats: cpu,
      memory_stats: {
        usage: memUsage ?? 0, max_usage: memMax ?? 0, failcnt: failcnt ?? 0,
        // dockerd reports the machine's memory when the cgroup has no (smaller) limit
        limit: Math.min(memLimit ?? totalmem(), totalmem()),
        stats: keyValues(memStat),
      },
      blkio_stats: blkioStats(blkioEntries),
      pids_stats: { current: pidsCur ?? 0, ...(pidsMax !== undefined ? { limit: pidsMax } : {}) },
    };
  }

  private async v2(dir: string) {
    const [cpuStat, memCur, memMax, memStat, io, pidsCur, pidsMax, sys] = await Promise.all([
      text(path.join(dir, 'cpu.stat')), num(path.join(dir, 'memory.current')), num(path.join(dir, 'memory.max')),
      text(path.join(dir, 'memory.stat')), text(path.join(dir, 'io.stat')),
      num(path.join(dir, 'pids.current')), num(path.join(dir, 'pids.max')), systemCpuUsage(),
    ]);
    const c = keyValues(cpuStat);
    const entries: BlkioEntry[] = [];
    for (const line of (io ?? '').split('\n')) {
      const m = /^(\d+):(\d+)\s+(.*)$/.exec(line.trim());
      if (!m) continue;
      const kv = Object.fromEntries(m[3].split(/\s+/).map((p) => p.split('=')));
      entries.push({ major: Number(m[1]), minor: Number(m[2]), op: 'read', value: Number(kv.rbytes ?? 0) });
      entries.push({ major: Number(m[1]), minor: Number(m[2]), op: 'write', value: Number(kv.wbytes ?? 0) });
    }
    return {
      cpu_stats: {
        cpu_usage: { total_usage: (c.usage_usec ?? 0) * 1000, usage_in_kernelmode: (c.system_usec ?? 0) * 1000, usage_in_usermode: (c.user_usec ?? 0) * 1000 },
        system_cpu_usage: sys,
        online_cpus: cpus().length,
        throttling_data: { periods: c.nr_periods ?? 0, throttled_periods: c.nr_throttled ?? 0, throttled_time: (c.throttled_usec ?? 0) * 1000 },
      },
      memory_stats: { usage: memCur ?? 0, limit: Math.min(memMax ?? totalmem(), totalmem()), stats: keyValues(memStat) },
      blkio_stats: blkioStats(entries),
      pids_stats: { current: pidsCur ?? 0, ...(pidsMax !== undefined ? { limit: pidsMax } : {}) },
    };
  }
}

function blkioStats(entries: BlkioEntry[]): StatsSample['blkio_stats'] {
  return {
    io_service_bytes_recursive: entries.length ? entries : null, io_serviced_recursive: null, io_queue_recursive: null,
    io_service_time_recursive: null, io_wait_time_recursive: null, io_merged_recursive: null, io_time_recursive: null, sectors_recursive: null,
  };
}
