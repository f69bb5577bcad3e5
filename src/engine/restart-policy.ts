/**
 * Restart policies (no, on-failure[:N], always, unless-stopped) and the container lifecycle hooks that
 * drive them and the health checks. Follows dockerd's restart manager: the delay starts at 100 ms and
 * doubles per restart (at most 1 minute), and is reset after a run of 10 s or more; a manual stop/kill
 * never restarts; on daemon start `always` and `unless-stopped` (not manually stopped) containers are
 * started again. A manual stop is remembered in `<container dir>/manually-stopped` so it survives berthd.
 */
import { access, rm, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import { errorMessage } from '../errors';
import { runTool } from '../runtime/exec-file';
import type { Db } from '../store/db';
import type { Logger } from '../util/logger';
import type { ContainerService } from './containers';
import type { ContainerRecord } from './containers-store';
import type { EventLog } from './events';
import type { HealthMonitor } from './health';

const FIRST_DELAY_MS = 100;
const MAX_DELAY_MS = 60_000;
const RESET_AFTER_MS = 10_000;
const MARKER = 'manually-stopped';

export interface RestartPolicyDeps {
  containers: ContainerService;
  db: Db;
  events: EventLog;
  log: Logger;
  health?: HealthMonitor;
}

/** dockerd's restart decision, pure. `count` is the restarts done so far. */
export function shouldRestart(policy: { Name: string; MaximumRetryCount: number }, exitCode: number, manuallyStopped: boolean, count: number): boolean {
  switch (policy.Name) {
    case 'always': return !manuallyStopped;
    case 'unless-stopped': return !manuallyStopped;
    case 'on-failure': return !manuallyStopped && exitCode !== 0 && (policy.MaximumRetryCount <= 0 || count < policy.MaximumRetryCount);
    default: return false;
  }
}

/** The next delay: 100 ms, doubling, capped; back to 100 ms after a long enough run. */
export function nextDelay(previous: number, ranMs: number): number {
  if (ranMs >= RESET_AFTER_MS || previous <= 0) return FIRST_DELAY_MS;
  return Math.min(previous * 2, MAX_DELAY_MS);
}

export class RestartManager {
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly delays = new Map<string, number>();
  private readonly manual = new Set<string>();
  private readonly autoStarts = new Set<string>();
  private readonly setCount;

  constructor(private readonly d: RestartPolicyDeps) {
    this.setCount = d.db.prepare('UPDATE containers SET restart_count = ? WHERE id = ?');
  }

  /** Install the hooks on the container service (before its init, so reconciled exits are seen). */
  attach(): void {
    this.d.containers.lifecycle = {
      started: (id) => this.started(id),
      stopping: (id) => this.stopping(id),
      exited: (id, code) => void this.exited(id, code).catch((e) => this.d.log.warn('restart policy failed', { id, error: errorMessage(e) })),
      health: (id) => this.d.health?.state(id),
    };
  }

  private marker(id: string): string {
    return path.join(this.d.containers.paths.dir(id), MARKER);
  }

  private async manuallyStopped(id: string): Promise<boolean> {
    if (this.manual.has(id)) return true;
    try {
      await access(this.marker(id));
      return true;
    } catch {
      return false;
    }
  }

  private started(id: string): void {
    if (this.autoStarts.delete(id)) {
      this.d.health?.start(id);
      return;
    }
    // a start by the user resets the policy's state, as `docker start` does
    this.manual.delete(id);
    this.delays.delete(id);
    this.setCount.run(0, id);
    void rm(this.marker(id), { force: true });
    this.d.health?.start(id);
  }

  private async stopping(id: string): Promise<void> {
    this.manual.add(id);
    await writeFile(this.marker(id), '').catch(() => undefined);
    const timer = this.timers.get(id);
    if (timer) {
      clearTimeout(timer);
      this.timers.delete(id);
    }
    const c = this.d.containers.store.get(id);
    if (!c) return;
    if (c.state.status === 'restarting') {
      // no task to signal: finish the exit the restart was waiting on
      setImmediate(() => void this.d.containers.handleExit(id, c.state.exitCode));
    } else if (c.state.status === 'paused') {
      // a frozen container cannot act on a signal; dockerd thaws it first too
      const runc = this.d.containers.runtime.runc;
      const r = await runTool(runc.binary, ['--root', runc.stateRoot, 'resume', id], { timeoutMs: 30_000 });
      if (r.code === 0) this.d.containers.store.setState(id, { ...c.state, status: 'running' });
    }
  }

  private async exited(id: string, exitCode: number): Promise<void> {
    this.d.health?.stop(id);
    this.autoStarts.delete(id);
    const manual = await this.manuallyStopped(id);
    // read after the await: a start may have happened meanwhile
    const c = this.d.containers.store.get(id);
    if (!c || c.state.status !== 'exited') return;
    if (!shouldRestart(c.hostConfig.RestartPolicy, exitCode, manual, c.restartCount)) return;
    const ran = Date.parse(c.state.finishedAt) - Date.parse(c.state.startedAt);
    const delay = nextDelay(this.delays.get(id) ?? 0, Number.isFinite(ran) ? ran : 0);
    this.delays.set(id, delay);
    this.d.containers.store.setState(id, { ...c.state, status: 'restarting' });
    this.timers.set(id, setTimeout(() => {
      this.timers.delete(id);
      void this.restartNow(id);
    }, delay));
  }

  private async restartNow(id: string): Promise<void> {
    const c = this.d.containers.store.get(id);
    if (!c || c.state.status !== 'restarting') return;
    this.setCount.run(c.restartCount + 1, id);
    this.autoStarts.add(id);
    try {
      await this.d.containers.start(id);
      this.d.events.emit('container', 'restart', id, { ...(c.config.Labels ?? {}), image: c.config.Image, name: c.name });
    } catch (err) {
      this.autoStarts.delete(id);
      this.d.log.warn('restart by policy failed', { id, error: errorMessage(err) });
      // start left the status as it was (restarting): the container is down
      const cur = this.d.containers.store.get(id);
      if (cur?.state.status === 'restarting') this.d.containers.store.setState(id, { ...cur.state, status: 'exited', error: errorMessage(err) });
    }
  }

  /** After the daemon's reconciliation: start `always` and `unless-stopped` containers that are down, resume health checks. */
  async onDaemonStart(): Promise<void> {
    for (const c of this.d.containers.store.list()) {
      if (c.state.status === 'running') {
        this.d.health?.start(c.id);
        continue;
      }
      if (c.state.status !== 'exited' || !wasStarted(c)) continue;
      const policy = c.hostConfig.RestartPolicy?.Name;
      const restart = policy === 'always' || (policy === 'unless-stopped' && !(await this.manuallyStopped(c.id)));
      if (!restart) continue;
      this.autoStarts.add(c.id);
      await this.d.containers.start(c.id).catch((err) => {
        this.autoStarts.delete(c.id);
        this.d.log.warn('could not restart container on daemon start', { id: c.id, error: errorMessage(err) });
      });
    }
  }

  /** Stop timers (daemon shutdown). */
  close(): void {
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    this.d.health?.stopAll();
  }
}

function wasStarted(c: ContainerRecord): boolean {
  return !c.state.startedAt.startsWith('0001-');
}
