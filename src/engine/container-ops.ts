/**
 * Operations on an existing container beyond its lifecycle core: pause/unpause (runc pause/resume, the
 * freezer), rename, restart, update (live resources through `runc update`, stored in HostConfig), stats and top.
 */
import { totalmem } from 'node:os';
import { conflict, errorMessage, internal, invalidArgument, isKind } from '../errors';
import { runTool } from '../runtime/exec-file';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import { CgroupStatsReader, emptyCpu, emptySample, type StatsSample } from './container-stats';
import { topProcesses, type TopResult } from './container-top';
import type { ContainerService } from './containers';
import { validateName } from './containers-config';
import type { ContainerRecord, HostConfigRecord } from './containers-store';
import type { EventLog } from './events';
import type { HealthMonitor } from './health';
import { checkNameFree } from './containers-create';

export interface ContainerOpsDeps {
  containers: ContainerService;
  db: Db;
  events: EventLog;
  log: Logger;
  health?: HealthMonitor;
}

/** POST /containers/{id}/update body: resources plus RestartPolicy. */
export interface UpdateRequest {
  Memory?: number;
  MemorySwap?: number;
  MemoryReservation?: number;
  CpuShares?: number;
  CpuQuota?: number;
  CpuPeriod?: number;
  NanoCpus?: number;
  CpusetCpus?: string;
  CpusetMems?: string;
  PidsLimit?: number | null;
  BlkioWeight?: number;
  RestartPolicy?: { Name: string; MaximumRetryCount?: number };
  [key: string]: unknown;
}

const RESOURCE_KEYS = ['Memory', 'MemorySwap', 'MemoryReservation', 'CpuShares', 'CpuQuota', 'CpuPeriod', 'NanoCpus', 'CpusetCpus', 'CpusetMems', 'PidsLimit', 'BlkioWeight'] as const;
const CPU_PERIOD = 100_000;

export class ContainerOps {
  private readonly stats = new CgroupStatsReader();
  private readonly q;

  constructor(private readonly d: ContainerOpsDeps) {
    this.q = {
      rename: d.db.prepare('UPDATE containers SET name = ? WHERE id = ?'),
      hostConfig: d.db.prepare('UPDATE containers SET host_config = ? WHERE id = ?'),
    };
  }

  private get svc(): ContainerService {
    return this.d.containers;
  }

  private attrs(c: ContainerRecord, extra: Record<string, string> = {}): Record<string, string> {
    return { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name, ...extra };
  }

  private runc(verb: string, id: string, args: string[] = []) {
    const r = this.svc.runtime.runc;
    return runTool(r.binary, ['--root', r.stateRoot, verb, ...args, id], { timeoutMs: 30_000 });
  }

  async pause(ref: string): Promise<void> {
    const { id } = this.svc.get(ref);
    await this.svc.exclusive(id, async () => {
      const c = this.svc.get(id);
      if (c.state.status === 'paused') throw conflict(`Container ${id} is already paused`);
      if (c.state.status !== 'running') throw conflict(`Container ${id} is not running`);
      const r = await this.runc('pause', id);
      if (r.code !== 0) throw internal(`Cannot pause container ${id}: ${r.stderr.trim()}`);
      this.svc.store.setState(id, { ...c.state, status: 'paused' });
      this.d.events.emit('container', 'pause', id, this.attrs(c));
    });
  }

  async unpause(ref: string): Promise<void> {
    const { id } = this.svc.get(ref);
    await this.svc.exclusive(id, async () => {
      const c = this.svc.get(id);
      if (c.state.status !== 'paused') throw conflict(`Container ${id} is not paused`);
      const r = await this.runc('resume', id);
      if (r.code !== 0) throw internal(`Cannot unpause container ${id}: ${r.stderr.trim()}`);
      this.svc.store.setState(id, { ...c.state, status: 'running' });
      this.d.events.emit('container', 'unpause', id, this.attrs(c));
    });
  }

  rename(ref: string, newName: string): void {
    if (!newName) throw invalidArgument('Neither old nor new names may be empty');
    const c = this.svc.get(ref);
    const name = validateName(newName);
    if (name === c.name) throw conflict(`Renaming a container with the same name as its current name`);
    checkNameFree(this.svc.store, name);
    try {
      this.q.rename.run(name, c.id);
    } catch (err) {
      throw conflict(`Error when allocating new name: ${errorMessage(err)}`);
    }
    this.d.events.emit('container', 'rename', c.id, { ...this.attrs(c), name, oldName: `/${c.name}` });
  }

  /** Stop (when up) and start again; StartedAt changes. */
  async restart(ref: string, timeoutSec?: number, signal?: string): Promise<void> {
    const c = this.svc.get(ref);
    await this.svc.stop(c.id, timeoutSec, signal).catch((e) => { if (!isKind(e, 'NotModified')) throw e; });
    await this.svc.start(c.id);
    this.d.events.emit('container', 'restart', c.id, this.attrs(this.svc.get(c.id)));
  }

  /** Change resources (live when running) and the restart policy; returns dockerd's { Warnings }. */
  async update(ref: string, req: UpdateRequest): Promise<{ Warnings: string[] }> {
    const { id } = this.svc.get(ref);
    return this.svc.exclusive(id, async () => {
      const c = this.svc.get(id);
      const hc: HostConfigRecord = { ...c.hostConfig };
      for (const k of RESOURCE_KEYS) {
        const v = req[k];
        if (v !== undefined && v !== null && v !== 0 && v !== '') (hc as Record<string, unknown>)[k] = v;
      }
      if (req.PidsLimit !== undefined && req.PidsLimit !== null && req.PidsLimit !== 0) hc.PidsLimit = req.PidsLimit;
      if (typeof req.Memory === 'number' && req.Memory > 0) {
        if (req.Memory < 6 * 1024 * 1024) throw invalidArgument('Minimum memory limit allowed is 6MB');
        const swap = (hc.MemorySwap as number | undefined) ?? 0;
        if (swap > 0 && swap < req.Memory && !req.MemorySwap) {
          throw invalidArgument('Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time');
        }
      }
      if (req.RestartPolicy && req.RestartPolicy.Name !== undefined) {
        const name = req.RestartPolicy.Name || 'no';
        if (!['no', 'always', 'unless-stopped', 'on-failure'].includes(name)) throw invalidArgument(`invalid restart policy '${name}'`);
        if (name !== 'no' && hc.AutoRemove) throw invalidArgument('Restart policy cannot be updated because AutoRemove is enabled for the container');
        hc.RestartPolicy = { Name: name, MaximumRetryCount: req.RestartPolicy.MaximumRetryCount ?? 0 };
      }
      if (c.state.status === 'running' || c.state.status === 'paused') {
        const args = runcUpdateArgs(req);
        if (args.length) {
          const r = await this.runc('update', id, args);
          if (r.code !== 0) throw internal(`Cannot update container ${id}: ${r.stderr.trim()}`);
        }
      }
      this.q.hostConfig.run(JSON.stringify(hc), id);
      this.d.events.emit('container', 'update', id, this.attrs(c));
      return { Warnings: [] };
    });
  }

  async top(ref: string, psArgs: string): Promise<TopResult> {
    const c = this.svc.get(ref);
    if (c.state.status !== 'running' && c.state.status !== 'paused') throw conflict(`Container ${c.id} is not running`);
    return topProcesses(this.svc.runtime.cgroupsPath(c.id, c.hostConfig.CgroupParent as string | undefined), psArgs);
  }

  /** One stats sample; `prev` fills precpu_stats and preread. */
  async sample(ref: string, prev?: StatsSample): Promise<StatsSample> {
    const c = this.svc.get(ref);
    const base = emptySample(c.id, c.name);
    if (c.state.status !== 'running' && c.state.status !== 'paused') return base;
    const s = await this.stats.sample(this.svc.runtime.cgroupsPath(c.id, c.hostConfig.CgroupParent as string | undefined));
    return {
      ...base, ...s,
      read: new Date().toISOString(),
      preread: prev?.read ?? base.preread,
      precpu_stats: prev?.cpu_stats ?? emptyCpu(),
      num_procs: 0,
    };
  }

  /**
   * GET /containers/{id}/stats. stream: a sample every second until `signal` aborts or the container stops;
   * otherwise one sample — with precpu from a sample taken a second earlier unless `oneShot`.
   */
  async *statsStream(ref: string, o: { stream: boolean; oneShot: boolean }, signal: AbortSignal): AsyncGenerator<StatsSample> {
    const c = this.svc.get(ref);
    if (!o.stream) {
      if (o.oneShot) {
        yield await this.sample(c.id);
        return;
      }
      const first = await this.sample(c.id);
      if (first.read.startsWith('0001-')) { yield first; return; }
      await sleep(1000, signal);
      yield await this.sample(c.id, first);
      return;
    }
    let prev: StatsSample | undefined;
    while (!signal.aborted) {
      const cur = this.svc.store.get(c.id);
      if (!cur) return;
      const s = await this.sample(c.id, prev);
      yield s;
      prev = s;
      if (!(await sleep(1000, signal))) return;
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve(true); }, ms);
    const onAbort = () => { clearTimeout(t); resolve(false); };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** `runc update` flags for the fields the request sets. */
export function runcUpdateArgs(req: UpdateRequest): string[] {
  const a: string[] = [];
  const pos = (v: unknown): v is number => typeof v === 'number' && v > 0;
  if (pos(req.Memory)) a.push('--memory', String(req.Memory));
  if (pos(req.MemorySwap) || req.MemorySwap === -1) a.push('--memory-swap', String(req.MemorySwap));
  else if (pos(req.Memory)) a.push('--memory-swap', String(Math.min(req.Memory * 2, totalmem() * 4)));
  if (pos(req.MemoryReservation)) a.push('--memory-reservation', String(req.MemoryReservation));
  if (pos(req.CpuShares)) a.push('--cpu-share', String(req.CpuShares));
  if (pos(req.NanoCpus)) {
    a.push('--cpu-period', String(CPU_PERIOD), '--cpu-quota', String(Math.round((req.NanoCpus * CPU_PERIOD) / 1e9)));
  } else {
    if (pos(req.CpuPeriod)) a.push('--cpu-period', String(req.CpuPeriod));
    if (pos(req.CpuQuota) || req.CpuQuota === -1) a.push('--cpu-quota', String(req.CpuQuota));
  }
  if (req.CpusetCpus) a.push('--cpuset-cpus', req.CpusetCpus);
  if (req.CpusetMems) a.push('--cpuset-mems', req.CpusetMems);
  if (typeof req.PidsLimit === 'number' && req.PidsLimit !== 0) a.push('--pids-limit', String(req.PidsLimit));
  if (pos(req.BlkioWeight)) a.push('--blkio-weight', String(req.BlkioWeight));
  return a;
}
