import { invalidArgument, notImplemented } from '../errors';
import type { OutputStream } from '../runtime/attach-socket';
import type { ContainerRecord } from './containers-store';
import { dockerTimestamp, LogFileReader, payloadChunks, rotatedLogs, type LogRecord, type PayloadChunk } from '../runtime/k8s-log';

export interface LogsOptions {
  follow: boolean;
  stdout: boolean;
  stderr: boolean;
  /** last N records; undefined = all */
  tail?: number;
  /** ns since the epoch; 0 = no bound */
  sinceNs: bigint;
  untilNs: bigint;
}

/** `since`/`until` as dockerd takes them: unix seconds with an optional fraction (or RFC3339). */
export function parseLogTime(v: string | null): bigint {
  if (!v) return 0n;
  if (/^\d+(\.\d+)?$/.test(v)) {
    const [s, frac = ''] = v.split('.');
    return BigInt(s) * 1_000_000_000n + BigInt(frac.padEnd(9, '0').slice(0, 9) || '0');
  }
  const ms = Date.parse(v);
  if (Number.isNaN(ms)) throw invalidArgument(`invalid value for since/until: ${v}`);
  return BigInt(ms) * 1_000_000n;
}

export function parseTail(v: string | null): number | undefined {
  if (v === null || v === '' || v === 'all') return undefined;
  const n = Number(v);
  if (!Number.isInteger(n)) throw invalidArgument(`invalid value for "tail": ${v}`);
  return n < 0 ? undefined : n;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Records of a container's log file, filtered. In follow mode it keeps reading until `running()` is false
 * and the file is drained, or `signal` aborts.
 */
export async function* readLogs(file: string, o: LogsOptions, running: () => boolean, signal?: AbortSignal): AsyncGenerator<LogRecord> {
  const reader = new LogFileReader(file);
  try {
    yield* readRecords(reader, o, running, signal);
  } finally {
    await reader.close();
  }
}

async function* readRecords(reader: LogFileReader, o: LogsOptions, running: () => boolean, signal?: AbortSignal): AsyncGenerator<LogRecord> {
  const wanted = (r: LogRecord) =>
    ((r.stream === 'stdout' && o.stdout) || (r.stream === 'stderr' && o.stderr)) &&
    (o.sinceNs === 0n || r.timeNs >= o.sinceNs) && (o.untilNs === 0n || r.timeNs <= o.untilNs);

  // history first (the tail is taken over the whole log: rotated files, then the current one)
  let history: LogRecord[] = [];
  for (const old of await rotatedLogs(reader.file)) {
    const r = new LogFileReader(old);
    try {
      for (let batch = await r.next(); batch.length > 0; batch = await r.next()) {
        for (const rec of batch) if (wanted(rec)) history.push(rec);
        if (o.tail !== undefined && history.length > o.tail * 2 + 1024) history = history.slice(-o.tail);
      }
    } finally {
      await r.close();
    }
  }
  for (;;) {
    const batch = await reader.next();
    if (batch.length === 0) break;
    for (const r of batch) if (wanted(r)) history.push(r);
    if (o.tail !== undefined && history.length > o.tail * 2 + 1024) history = history.slice(-o.tail);
  }
  if (o.tail !== undefined) history = o.tail === 0 ? [] : history.slice(-o.tail);
  for (const r of history) {
    if (signal?.aborted) return;
    yield r;
  }
  if (!o.follow) return;
  while (!signal?.aborted) {
    if (o.untilNs !== 0n && BigInt(Date.now()) * 1_000_000n > o.untilNs) return;
    const stillRunning = running();
    const batch = await reader.next();
    for (const r of batch) if (wanted(r)) yield r;
    if (batch.length === 0) {
      if (!stillRunning) return;
      await sleep(100);
    }
  }
}

/**
 * What `docker logs` sends: the container's bytes per stream. Without tail, since/until or timestamps the
 * log is streamed in large chunks straight from the file (no record objects per line); otherwise it goes
 * record by record through `readLogs`.
 */
export async function* readLogChunks(file: string, o: LogsOptions & { timestamps?: boolean; details?: string }, running: () => boolean, signal?: AbortSignal): AsyncGenerator<PayloadChunk> {
  if (o.tail !== undefined || o.sinceNs !== 0n || o.untilNs !== 0n || o.timestamps || o.details !== undefined) {
    for await (const r of readLogs(file, o, running, signal)) {
      const prefix = (o.timestamps ? `${dockerTimestamp(r.timeNs)} ` : '') + (o.details ?? '');
      yield { stream: r.stream, data: prefix ? Buffer.concat([Buffer.from(prefix), r.data]) : r.data };
    }
    return;
  }
  const keep = { stdout: o.stdout, stderr: o.stderr };
  for (const old of await rotatedLogs(file)) {
    const r = new LogFileReader(old);
    try {
      for (let lines = await r.nextLines(); lines !== undefined && !signal?.aborted; lines = await r.nextLines()) {
        for (const c of payloadChunks(lines, keep)) yield c;
      }
    } finally {
      await r.close();
    }
  }
  const reader = new LogFileReader(file);
  try {
    yield* chunksOf(reader, o, keep, running, signal);
  } finally {
    await reader.close();
  }
}

async function* chunksOf(reader: LogFileReader, o: LogsOptions, keep: { stdout: boolean; stderr: boolean }, running: () => boolean, signal?: AbortSignal): AsyncGenerator<PayloadChunk> {
  while (!signal?.aborted) {
    const stillRunning = o.follow && running();
    const lines = await reader.nextLines();
    if (lines === undefined) {
      if (!stillRunning) return;
      await sleep(100);
      continue;
    }
    for (const c of payloadChunks(lines, keep)) {
      if (signal?.aborted) return;
      yield c;
    }
  }
}

/**
 * `docker logs --details`: the attributes the log options name (`labels`, `env`, `labels-regex`,
 * `env-regex`: the container's labels and environment variables they select), as `k=v,k2=v2 ` sorted by
 * key; just the space when there are none, as with dockerd.
 */
export function logDetails(options: Record<string, string>, labels: Record<string, string>, env: string[]): string {
  const attrs = new Map<string, string>();
  const names = (v: string | undefined) => (v ? v.split(',').map((x) => x.trim()).filter(Boolean) : []);
  const regex = (v: string | undefined) => { try { return v ? new RegExp(v) : undefined; } catch { return undefined; } };
  const envMap = new Map(env.filter((e) => e.includes('=')).map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
  for (const k of names(options.labels)) if (k in labels) attrs.set(k, labels[k]);
  const lre = regex(options['labels-regex']);
  if (lre) for (const [k, v] of Object.entries(labels)) if (lre.test(k)) attrs.set(k, v);
  for (const k of names(options.env)) if (envMap.has(k)) attrs.set(k, envMap.get(k)!);
  const ere = regex(options['env-regex']);
  if (ere) for (const [k, v] of envMap) if (ere.test(k)) attrs.set(k, v);
  return `${[...attrs].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${v}`).join(',')} `;
}

export type ContainerLogsOptions = LogsOptions & { timestamps?: boolean; details?: boolean };

/** `GET /containers/{id}/logs` of one container: its streams (a TTY's output is all stdout), options applied. */
export async function* containerLogs(c: ContainerRecord, file: string, running: () => boolean, o: ContainerLogsOptions, signal?: AbortSignal): AsyncGenerator<{ stream: OutputStream; data: Buffer }> {
  if (!o.stdout && !o.stderr) throw invalidArgument('You must choose at least one stream');
  if (c.hostConfig.LogConfig.Type === 'none') throw notImplemented('configured logging driver does not support reading');
  const details = o.details ? logDetails(c.hostConfig.LogConfig.Config, c.config.Labels ?? {}, c.config.Env ?? []) : undefined;
  for await (const r of readLogChunks(file, { ...o, details }, running, signal)) {
    yield { stream: c.config.Tty ? 'stdout' : r.stream, data: r.data };
  }
}
