import { open, stat, type FileHandle } from 'node:fs/promises';
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

const NL = 0x0a;
const SP = 0x20;

/** A parsed line; the time is parsed only when a filter or `-t` asks for it. */
class FileRecord implements LogRecord {
  private ns?: bigint;
  constructor(readonly time: string, readonly stream: OutputStream, readonly data: Buffer) {}
  get timeNs(): bigint {
    return (this.ns ??= parseTimeNs(this.time));
  }
}

/** `stdout`/`stderr` between `from` and `to` (exclusive), byte-compared so no string is made per line. */
function streamAt(buf: Buffer, from: number, to: number): OutputStream | undefined {
  if (to - from !== 6 || buf[from] !== 0x73 || buf[from + 1] !== 0x74 || buf[from + 2] !== 0x64) return undefined;
  if (buf[from + 3] === 0x6f && buf[from + 4] === 0x75 && buf[from + 5] === 0x74) return 'stdout';
  if (buf[from + 3] === 0x65 && buf[from + 4] === 0x72 && buf[from + 5] === 0x72) return 'stderr';
  return undefined;
}

/**
 * Walks the complete lines of `buf` (each ends in a newline); `fn` gets the record's fields as offsets:
 * the time ends at `timeEnd`, the text is `[textStart, textEnd)` (for `F` records textEnd includes the
 * newline, which is the one the container wrote).
 */
function forEachLine(buf: Buffer, fn: (lineStart: number, timeEnd: number, stream: OutputStream, textStart: number, textEnd: number) => void): void {
  let pos = 0;
  while (pos < buf.length) {
    let nl = buf.indexOf(NL, pos);
    if (nl < 0) nl = buf.length;
    const a = buf.indexOf(SP, pos);
    // the stream is 6 bytes, so the next space is almost always at a + 7; search only when it is not
    const b = a < 0 || a >= nl ? -1 : buf[a + 7] === SP ? a + 7 : buf.indexOf(SP, a + 1);
    if (b >= 0 && b < nl) {
      const stream = streamAt(buf, a + 1, b);
      if (stream) {
        let c = b + 2 < nl && buf[b + 2] === SP ? b + 2 : buf.indexOf(SP, b + 1);
        if (c < 0 || c > nl) c = nl;
        const full = buf[b + 1] === 0x46; // 'F'
        const textStart = c < nl ? c + 1 : nl;
        fn(pos, a, stream, textStart, full ? Math.min(nl + 1, buf.length) : nl);
      }
    }
    pos = nl + 1;
  }
}

/** Records of a buffer of complete lines; each record's data is a view into `buf`, not a copy. */
export function parseLogBuffer(buf: Buffer): LogRecord[] {
  const out: LogRecord[] = [];
  forEachLine(buf, (start, timeEnd, stream, ts, te) => {
    let data = buf.subarray(ts, te);
    // an `F` line without its newline (only when `buf` does not end in one): add it back
    if (te === buf.length && buf[buf.length - 1] !== NL && buf[timeEnd + 8] === 0x46) data = Buffer.concat([data, Buffer.from('\n')]);
    out.push(new FileRecord(buf.toString('latin1', start, timeEnd), stream, data));
  });
  return out;
}

export interface PayloadChunk {
  stream: OutputStream;
  data: Buffer;
}

/**
 * The container's bytes in a buffer of complete lines, without the k8s-file framing: consecutive records
 * of one stream become one chunk, so a reader of a big log sends a few large frames, not one per line.
 * `buf` is consumed: the text is moved to its front in place (copyWithin allocates nothing per line, where
 * Buffer#copy makes a view per call) and the chunks are views of it.
 */
export function payloadChunks(buf: Buffer, keep: { stdout: boolean; stderr: boolean }): PayloadChunk[] {
  const out = buf;
  const chunks: PayloadChunk[] = [];
  let len = 0;
  let chunkStart = 0;
  let cur: OutputStream | undefined;
  forEachLine(buf, (_start, _timeEnd, stream, ts, te) => {
    if (!keep[stream]) return;
    if (cur !== stream && len > chunkStart) {
      chunks.push({ stream: cur!, data: out.subarray(chunkStart, len) });
      chunkStart = len;
    }
    cur = stream;
    // len <= ts: the bytes written were all scanned already
    out.copyWithin(len, ts, te);
    len += te - ts;
  });
  if (len > chunkStart) chunks.push({ stream: cur!, data: out.subarray(chunkStart, len) });
  return chunks;
}

/**
 * Reads records from a log file from a byte offset; keeps the position, so follow mode calls `next` again
 * when the file grows. Incomplete trailing lines wait for the next call. The file stays open between
 * calls, so after a rotation (berth-logger renames the file and starts a new one) the rest of the old file
 * is read before the reader moves on to the new one; a file truncated in place is read from its start.
 */
export class LogFileReader {
  private offset = 0;
  private rest: Buffer = Buffer.alloc(0);
  private fh?: FileHandle;
  private static readonly CHUNK = 4 * 1024 * 1024;

  constructor(readonly file: string) {}

  /** Records appended since the last call, at most one chunk's worth; call until it returns none. */
  async next(): Promise<LogRecord[]> {
    const lines = await this.nextLines();
    return lines ? parseLogBuffer(lines) : [];
  }

  /**
   * The complete lines appended since the last call (at most one chunk's worth), or undefined when the
   * file has not grown. May be empty when only part of a line has arrived.
   */
  async nextLines(): Promise<Buffer | undefined> {
    if (!this.fh) {
      try {
        this.fh = await open(this.file, 'r');
      } catch {
        return undefined;
      }
    }
    let size = (await this.fh.stat()).size;
    if (size < this.offset) {
      // truncated: start over
      this.offset = 0;
      this.rest = Buffer.alloc(0);
    }
    if (size === this.offset) {
      // at the end of this file: if the name now belongs to a new file (rotated), go on there
      if (!(await this.reopenIfRotated())) return undefined;
      size = (await this.fh.stat()).size;
      if (size === 0) return undefined;
    }
    // read in behind the partial line kept from last time, so nothing is concatenated afterwards
    const want = Math.min(size - this.offset, LogFileReader.CHUNK);
    const buf = Buffer.allocUnsafe(this.rest.length + want);
    this.rest.copy(buf, 0);
    const { bytesRead } = await this.fh.read(buf, this.rest.length, want, this.offset);
    if (bytesRead === 0) return undefined;
    this.offset += bytesRead;
    const data = buf.subarray(0, this.rest.length + bytesRead);
    const end = data.lastIndexOf(NL) + 1;
    this.rest = Buffer.from(data.subarray(end));
    return data.subarray(0, end);
  }

  private async reopenIfRotated(): Promise<boolean> {
    let cur: { ino: number; dev: number };
    try {
      cur = await stat(this.file);
    } catch {
      return false;
    }
    const mine = await this.fh!.stat();
    if (cur.ino === mine.ino && cur.dev === mine.dev) return false;
    await this.fh!.close();
    try {
      this.fh = await open(this.file, 'r');
    } catch {
      this.fh = undefined;
      return false;
    }
    this.offset = 0;
    this.rest = Buffer.alloc(0);
    return true;
  }

  async close(): Promise<void> {
    const fh = this.fh;
    this.fh = undefined;
    await fh?.close().catch(() => undefined);
  }
}

/** The rotated files of a log that still exist, oldest first (`<file>.N` … `<file>.1`). */
export async function rotatedLogs(file: string): Promise<string[]> {
  const found: string[] = [];
  for (let n = 1; ; n++) {
    try {
      await stat(`${file}.${n}`);
    } catch {
      break;
    }
    found.unshift(`${file}.${n}`);
  }
  return found;
}
