/**
 * Health checks (HEALTHCHECK / --health-*): while a container runs, its probe runs every Interval as a
 * process in the container (`runc exec` through the exec service, with env, user and cwd from the container's
 * config.json).
 * State follows dockerd: `starting` until the first success, `healthy` after one, `unhealthy` after Retries
 * failures in a row (failures inside StartPeriod don't count before the first success). Kept in memory:
 * after a berthd restart a running container's check starts again from `starting`.
 */
import { errorMessage } from '../errors';
import type { ImageStore } from '../image/types';
import type { Logger } from '../util/logger';
import type { ContainerService } from './containers';
import type { EventLog } from './events';
import type { ExecService } from './exec';

export interface HealthcheckConfig {
  Test?: string[];
  Interval?: number;
  Timeout?: number;
  StartPeriod?: number;
  StartInterval?: number;
  Retries?: number;
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthLogEntry { Start: string; End: string; ExitCode: number; Output: string }

export interface HealthState { Status: HealthStatus; FailingStreak: number; Log: HealthLogEntry[] }

const SECOND_NS = 1e9;
const DEFAULT_INTERVAL_NS = 30 * SECOND_NS;
const DEFAULT_TIMEOUT_NS = 30 * SECOND_NS;
const DEFAULT_RETRIES = 3;
const MAX_LOG_ENTRIES = 5;
const MAX_OUTPUT = 4096;

interface Monitor {
  state: HealthState;
  timer?: NodeJS.Timeout;
  stopped: boolean;
}

export interface HealthMonitorDeps {
  containers: ContainerService;
  /** runs a probe in a running container (the exec service) */
  probes: Pick<ExecService, 'probe'>;
  images: ImageStore;
  events: EventLog;
  log: Logger;
}

/** The probe's argv, or undefined when there is no check (none configured, or NONE). */
export function probeArgs(hc: HealthcheckConfig | undefined): string[] | undefined {
  const test = hc?.Test;
  if (!test || test.length === 0 || test[0] === 'NONE') return undefined;
  if (test[0] === 'CMD-SHELL') return ['/bin/sh', '-c', test.slice(1).join(' ')];
  if (test[0] === 'CMD') return test.length > 1 ? test.slice(1) : undefined;
  return test;
}

const ns = (v: number | undefined, dflt: number) => (v && v > 0 ? v : dflt);

function fmtSeconds(nsValue: number): string {
  const s = nsValue / SECOND_NS;
  return Number.isInteger(s) ? `${s}s` : `${s.toFixed(3).replace(/0+$/, '')}s`;
}

export class HealthMonitor {
  private readonly monitors = new Map<string, Monitor>();

  constructor(private readonly d: HealthMonitorDeps) {}

  /** The container's check: its own config, else its image's (an empty Test inherits the image's). */
  config(id: string): HealthcheckConfig | undefined {
    const c = this.d.containers.store.get(id);
    if (!c) return undefined;
    const own = c.config.Healthcheck as HealthcheckConfig | undefined;
    const image = this.d.images.get(c.imageId)?.config.config as { Healthcheck?: HealthcheckConfig } | undefined;
    const fromImage = image?.Healthcheck;
    if (!own) return fromImage;
    if (!own.Test || own.Test.length === 0) return { ...fromImage, ...own, Test: fromImage?.Test };
    return own;
  }

  /** State for inspect; undefined when the container never had a check. */
  state(id: string): HealthState | undefined {
    return this.monitors.get(id)?.state;
  }

  start(id: string): void {
    this.stop(id);
    const hc = this.config(id);
    const argv = probeArgs(hc);
    if (!hc || !argv) {
      this.monitors.delete(id);
      return;
    }
    const m: Monitor = { state: { Status: 'starting', FailingStreak: 0, Log: [] }, stopped: false };
    this.monitors.set(id, m);
    const schedule = () => {
      if (m.stopped) return;
      const starting = m.state.Status === 'starting' && hc.StartInterval && this.inStartPeriod(id, hc, Date.now());
      const delay = ns(starting ? hc.StartInterval : hc.Interval, DEFAULT_INTERVAL_NS) / 1e6;
      m.timer = setTimeout(() => {
        void this.probe(id, m, hc, argv).finally(schedule);
      }, delay);
      m.timer.unref();
    };
    schedule();
  }

  /** Stop probing (exit, stop); the last state stays visible in inspect. */
  stop(id: string): void {
    const m = this.monitors.get(id);
    if (!m) return;
    m.stopped = true;
    if (m.timer) clearTimeout(m.timer);
  }

  forget(id: string): void {
    this.stop(id);
    this.monitors.delete(id);
  }

  stopAll(): void {
    for (const id of this.monitors.keys()) this.stop(id);
  }

  private inStartPeriod(id: string, hc: HealthcheckConfig, at: number): boolean {
    const c = this.d.containers.store.get(id);
    if (!c) return false;
    return at - Date.parse(c.state.startedAt) < ns(hc.StartPeriod, 0) / 1e6;
  }

  private async probe(id: string, m: Monitor, hc: HealthcheckConfig, argv: string[]): Promise<void> {
    const c = this.d.containers.store.get(id);
    if (!c || c.state.status !== 'running' || m.stopped) return;
    const startMs = Date.now();
    const start = new Date(startMs).toISOString();
    const timeoutNs = ns(hc.Timeout, DEFAULT_TIMEOUT_NS);
    let result: { code: number; output: string };
    try {
      result = await this.exec(id, argv, timeoutNs / 1e6);
      if (result.code === -1) result.output = `Health check exceeded timeout (${fmtSeconds(timeoutNs)})`;
    } catch (err) {
      result = { code: -1, output: errorMessage(err) };
    }
    if (m.stopped) return;
    const entry: HealthLogEntry = { Start: start, End: new Date().toISOString(), ExitCode: result.code, Output: result.output };
    const s = m.state;
    s.Log = [...s.Log, entry].slice(-MAX_LOG_ENTRIES);
    const before = s.Status;
    if (result.code === 0) {
      s.FailingStreak = 0;
      s.Status = 'healthy';
    } else if (!(s.Status === 'starting' && this.inStartPeriod(id, hc, startMs))) {
      s.FailingStreak++;
      if (s.FailingStreak >= (hc.Retries && hc.Retries > 0 ? hc.Retries : DEFAULT_RETRIES)) s.Status = 'unhealthy';
    }
    if (s.Status !== before) {
      const cur = this.d.containers.store.get(id);
      if (cur) {
        this.d.events.emit('container', `health_status: ${s.Status}`, id, { ...(cur.config.Labels ?? {}), image: cur.config.Image, name: cur.name });
      }
    }
  }

  /** The probe as a process in the container; exit code -1 on timeout. Output: stdout + stderr, at most 4 KiB. */
  private exec(id: string, argv: string[], timeoutMs: number): Promise<{ code: number; output: string }> {
    return this.d.probes.probe(id, argv, timeoutMs, MAX_OUTPUT);
  }
}

/** The `(healthy)` part of `docker ps`'s status, as dockerd's State.String() adds it. */
export function healthSuffix(h: HealthState | undefined): string {
  if (!h) return '';
  return h.Status === 'starting' ? ' (health: starting)' : ` (${h.Status})`;
}
