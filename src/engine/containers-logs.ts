import { invalidArgument } from '../errors';
import { dockerTimestamp, LogFileReader, payloadChunks, type LogRecord, type PayloadChunk } from '../runtime/k8s-log';

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
  const wanted = (r: LogRecord) =>
    ((r.stream === 'stdout' && o.stdout) || (r.stream === 'stderr' && o.stderr)) &&
    (o.sinceNs === 0n || r.timeNs >= o.sinceNs) && (o.untilNs === 0n || r.timeNs <= o.untilNs);

  // history first (the tail is taken over the whole file)
  let history: LogRecord[] = [];
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
export async function* readLogChunks(file: string, o: LogsOptions & { timestamps?: boolean }, running: () => boolean, signal?: AbortSignal): AsyncGenerator<PayloadChunk> {
  if (o.tail !== undefined || o.sinceNs !== 0n || o.untilNs !== 0n || o.timestamps) {
    for await (const r of readLogs(file, o, running, signal)) {
      const data = o.timestamps ? Buffer.concat([Buffer.from(dockerTimestamp(r.timeNs) + ' '), r.data]) : r.data;
      yield { stream: r.stream, data };
    }
    return;
  }
  const reader = new LogFileReader(file);
  const keep = { stdout: o.stdout, stderr: o.stderr };
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
