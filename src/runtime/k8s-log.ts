import { open, stat } from 'node:fs/promises';
import type { OutputStream } from './attach-socket';

/**
 * conmon's k8s-file log: one record per line, `<RFC3339Nano> <stdout|stderr> <F|P> <text>`; `P` marks a
 * partial line (the text had no newline yet), `F` a full one.
 */
export interface LogRecord {
  time: string;
  /** nanoseconds since the epoch, for since/until filters */
  timeNs: bigint;
  stream: OutputStream;
  /** the bytes as the container wrote them (a newline is added back for `F` records) */
  data: Buffer;
}

export function parseLogLine(line: string): LogRecord | undefined {
  const a = line.indexOf(' ');
  const b = line.indexOf(' ', a + 1);
  const c = line.indexOf(' ', b + 1);
  if (a < 0 || b < 0) return undefined;
  const time = line.slice(0, a);
  const stream = line.slice(a + 1, b);
  if (stream !== 'stdout' && stream !== 'stderr') return undefined;
  const tag = c < 0 ? line.slice(b + 1) : line.slice(b + 1, c);
  const text = c < 0 ? '' : line.slice(c + 1);
  return { time, timeNs: parseTimeNs(time), stream, data: Buffer.from(tag.startsWith('F') ? text + '\n' : text, 'utf8') };
}

/** RFC3339 with up to nanosecond precision → ns since the epoch (0n when unparsable). */
export function parseTimeNs(t: string): bigint {
  const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/.exec(t);
  if (!m) return 0n;
  const ms = Date.parse(`${m[1]}${m[3]}`);
  if (Number.isNaN(ms)) return 0n;
  const frac = (m[2] ?? '').padEnd(9, '0').slice(0, 9);
  return BigInt(ms) * 1_000_000n + BigInt(frac);
}

/** Docker's timestamp form for `logs -t`: RFC3339Nano in UTC with trailing zeros trimmed. */
export function dockerTimestamp(timeNs: bigint): string {
  const ms = Number(timeNs / 1_000_000n);
  const base = new Date(ms).toISOString().slice(0, 19);
  const frac = (timeNs % 1_000_000_000n).toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${frac ? '.' + frac : ''}Z`;
}

/**
 * Reads records from a log file from a byte offset; keeps the position, so follow mode calls `next` again
 * when the file grows. Incomplete trailing lines wait for the next call.
 */
export class LogFileReader {
  private offset = 0;
  private rest: Buffer = Buffer.alloc(0);
  private static readonly CHUNK = 4 * 1024 * 1024;

  constructor(readonly file: string) {}

  /** Records appended since the last call, at most one chunk's worth; call until it returns none. */
  async next(): Promise<LogRecord[]> {
    let size: number;
    try {
      size = (await stat(this.file)).size;
    } catch {
      return [];
    }
    if (size < this.offset) {
      // rotated or truncated: start over
      this.offset = 0;
      this.rest = Buffer.alloc(0);
    }
    if (size === this.offset) return [];
    const fh = await open(this.file, 'r');
    try {
      const buf = Buffer.alloc(Math.min(size - this.offset, LogFileReader.CHUNK));
      const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
      this.offset += bytesRead;
      let data = Buffer.concat([this.rest, buf.subarray(0, bytesRead)]);
      const out: LogRecord[] = [];
      let nl: number;
      while ((nl = data.indexOf(0x0a)) >= 0) {
        const r = parseLogLine(data.subarray(0, nl).toString('utf8'));
        if (r) out.push(r);
        data = data.subarray(nl + 1);
      }
      this.rest = Buffer.from(data);
      return out;
    } finally {
      await fh.close();
    }
  }
}
