/**
 * A streaming tar reader over any async byte source. `next()` returns the next entry's header (pax and
 * GNU long-name records applied); the entry's bytes are read with `body()` / `readBody()` or skipped by the
 * next `next()`. Every byte pulled from the source — including what follows the end-of-archive marker —
 * passes through `onBytes`, so a caller can hash the whole stream as read (the diff ID).
 */
import { invalidArgument } from '../errors';
import { BLOCK, decodeHeader, entryType, isZeroBlock, paddingOf, parsePax, type TarHeader } from './tar-format';

const MAX_META = 1024 * 1024;

export class TarReader {
  private readonly chunks: Buffer[] = [];
  private buffered = 0;
  private eof = false;
  private remaining = 0;
  private padding = 0;
  private globalPax = new Map<string, Buffer>();
  private readonly source: AsyncIterator<Buffer>;

  constructor(source: AsyncIterable<Buffer>, private readonly onBytes: (chunk: Buffer) => void = () => {}) {
    this.source = source[Symbol.asyncIterator]();
  }

  private async pull(): Promise<boolean> {
    if (this.eof) return false;
    const r = await this.source.next();
    if (r.done) {
      this.eof = true;
      return false;
    }
    const chunk = Buffer.isBuffer(r.value) ? r.value : Buffer.from(r.value);
    this.onBytes(chunk);
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    return true;
  }

  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n) if (!(await this.pull())) return false;
    return true;
  }

  /** Exactly n bytes (the caller filled them). */
  private take(n: number): Buffer {
    if (n === 0) return Buffer.alloc(0);
    const head = this.chunks[0];
    if (head.length >= n) {
      const out = head.subarray(0, n);
      if (head.length === n) this.chunks.shift();
      else this.chunks[0] = head.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let off = 0;
    while (off < n) {
      const c = this.chunks[0];
      const k = Math.min(c.length, n - off);
      c.copy(out, off, 0, k);
      off += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  private async skip(n: number): Promise<void> {
    while (n > 0) {
      if (this.buffered === 0 && !(await this.pull())) throw truncated();
      const c = this.chunks[0];
      if (!c) continue;
      const k = Math.min(c.length, n);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.buffered -= k;
      n -= k;
    }
  }

  private async readExact(n: number): Promise<Buffer> {
    if (!(await this.fill(n))) throw truncated();
    return this.take(n);
  }

  /** The next entry, or undefined at the end of the archive (after reading the source to its end). */
  async next(): Promise<TarHeader | undefined> {
    await this.skip(this.remaining + this.padding);
    this.remaining = this.padding = 0;
    let pax = new Map<string, Buffer>();
    let longName: string | undefined;
    let longLink: string | undefined;
    for (;;) {
      if (!(await this.fill(BLOCK))) {
        if (this.buffered === 0 && pax.size === 0 && longName === undefined) return undefined;
        throw truncated();
      }
      const block = this.take(BLOCK);
      if (isZeroBlock(block)) {
        await this.drain();
        return undefined;
      }
      const raw = decodeHeader(block);
      if ('xgLK'.includes(raw.typeflag)) {
        if (raw.size > MAX_META) throw invalidArgument('archive/tar: header too large');
        const data = await this.readExact(raw.size);
        await this.skip(paddingOf(raw.size));
        if (raw.typeflag === 'x') pax = new Map([...pax, ...parsePax(data)]);
        else if (raw.typeflag === 'g') this.globalPax = new Map([...this.globalPax, ...parsePax(data)]);
        else if (raw.typeflag === 'L') longName = data.toString('utf8').replace(/\0.*$/s, '');
        else longLink = data.toString('utf8').replace(/\0.*$/s, '');
        continue;
      }
      const all = this.globalPax.size ? new Map([...this.globalPax, ...pax]) : pax;
      const str = (k: string) => all.get(k)?.toString('utf8');
      const num = (k: string, dflt: number) => {
        const v = str(k);
        if (v === undefined) return dflt;
        const n = Number(v);
        if (!Number.isFinite(n)) throw invalidArgument(`archive/tar: invalid PAX ${k}`);
        return n;
      };
      const name = str('path') ?? longName ?? raw.name;
      const type = entryType(raw.typeflag, name);
      const size = type === 'file' ? num('size', raw.size) : 0;
      if (size < 0) throw invalidArgument('archive/tar: invalid tar header');
      const xattrs = new Map<string, Buffer>();
      for (const [k, v] of all) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
      // header-only types carry no data even when their size field says otherwise
      const dataSize = type === 'file' ? size : 0;
      this.remaining = dataSize;
      this.padding = paddingOf(dataSize);
      return {
        name, type, size, xattrs,
        mode: raw.mode,
        uid: num('uid', raw.uid),
        gid: num('gid', raw.gid),
        mtime: num('mtime', raw.mtime),
        linkname: str('linkpath') ?? longLink ?? raw.linkname,
        devmajor: raw.devmajor,
        devminor: raw.devminor,
      };
    }
  }

  /** The current entry's bytes, as chunks (views into the source's buffers). */
  async *body(): AsyncGenerator<Buffer> {
    while (this.remaining > 0) {
      if (this.buffered === 0 && !(await this.pull())) throw truncated();
      const c = this.chunks[0];
      if (!c) continue;
      const k = Math.min(c.length, this.remaining);
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
      this.buffered -= k;
      this.remaining -= k;
      yield k === c.length ? c : c.subarray(0, k);
    }
  }

  /** The current entry's bytes in one buffer (small files). */
  async readBody(): Promise<Buffer> {
    const n = this.remaining;
    const out = await this.readExact(n);
    this.remaining = 0;
    return out;
  }

  /** Read (and pass through onBytes) whatever follows the end marker. */
  private async drain(): Promise<void> {
    this.chunks.length = 0;
    this.buffered = 0;
    while (await this.pull()) {
      this.chunks.length = 0;
      this.buffered = 0;
    }
  }
}

function truncated(): Error {
  return invalidArgument('archive/tar: unexpected EOF (truncated layer)');
}
