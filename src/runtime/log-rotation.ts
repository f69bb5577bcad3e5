import { invalidArgument } from '../errors';

/** `--log-opt max-size/max-file` as berth-logger takes them: bytes (0 = never rotate) and files kept. */
export interface LogRotation {
  logMaxSize: number;
  logMaxFiles: number;
}

const UNITS: Record<string, number> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** A size as dockerd's json-file driver reads it ("10m", "512k", "100"; binary units). */
export function parseLogSize(v: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?b?)\s*$/i.exec(v);
  if (!m) throw invalidArgument(`failed to initialize logging driver: invalid size: '${v}'`);
  return Math.floor(Number(m[1]) * UNITS[m[2].toLowerCase()]);
}

/** The drivers berth's own log stands in for; it reads and rotates like dockerd's json-file. */
const LOG_DRIVERS = ['json-file', 'local', 'none'];

/**
 * The LogConfig kept with a container. berth always writes its own log (k8s-file records, read back by
 * `docker logs`) and reports the driver as `json-file`, the default clients expect: the Docker SDK for
 * Python reads a `run`'s output only from the drivers it knows. Of the options max-size and max-file
 * rotate the log, and labels/env (and their -regex forms) name what `logs --details` shows; others are
 * accepted and dropped. `none` keeps no log at all (attached clients still get the output). Another driver
 * (syslog, journald, a plugin) is refused.
 */
export function normalizeLogConfig(lc: { Type?: string; Config?: Record<string, string> | null } | undefined): { Type: string; Config: Record<string, string> } {
  const type = lc?.Type || 'json-file';
  if (!LOG_DRIVERS.includes(type)) throw invalidArgument(`error looking up logging plugin ${type}: plugin "${type}" not found`);
  const cfg = lc?.Config ?? {};
  const out: Record<string, string> = {};
  if (type === 'none') return { Type: type, Config: out };
  if (cfg['max-size'] !== undefined && cfg['max-size'] !== '' && cfg['max-size'] !== '-1') {
    if (parseLogSize(cfg['max-size']) <= 0) throw invalidArgument(`invalid value for max-size: ${cfg['max-size']}`);
    out['max-size'] = cfg['max-size'];
  }
  if (cfg['max-file'] !== undefined && cfg['max-file'] !== '') {
    const n = Number(cfg['max-file']);
    if (!Number.isInteger(n) || n < 1) throw invalidArgument('max-file cannot be less than 1');
    if (!out['max-size'] && n > 1) throw invalidArgument("max-file can only be set if max-size is set");
    out['max-file'] = cfg['max-file'];
  }
  // what `docker logs --details` shows (engine/containers-logs.ts logDetails)
  for (const k of ['labels', 'labels-regex', 'env', 'env-regex']) if (cfg[k]) out[k] = cfg[k];
  return { Type: type, Config: out };
}

export function logRotation(lc: { Config?: Record<string, string> } | undefined): LogRotation {
  const size = lc?.Config?.['max-size'];
  return { logMaxSize: size ? parseLogSize(size) : 0, logMaxFiles: Number(lc?.Config?.['max-file'] ?? 1) || 1 };
}

/** Where the runtime writes a container's log: nowhere for the `none` driver. */
export function logTarget(lc: { Type?: string } | undefined, logPath: string): string {
  return lc?.Type === 'none' ? '/dev/null' : logPath;
}
