/**
 * A push-style tar parser for the build context: chunks go in as they arrive, entries and their bytes come
 * out synchronously, with no promise or generator per chunk (the context can be large and every microsecond
 * per chunk shows in a cached rebuild). Headers are read exactly as image/tar-reader.ts reads them (pax and
 * GNU long-name records, header-only types carry no data, anything after the end marker ignored), so what
 * this parser sees and what tar-extract.ts later unpacks are the same entries. Nothing it keeps refers to a
 * written chunk after `write` returns (the caller may hand the chunk to another thread).
 */
import { invalidArgument } from '../errors';
import { BLOCK, decodeHeader, entryType, isZeroBlock, paddingOf, parsePax, type TarHeader } from '../image/tar-format';

const MAX_META = 1024 * 1024;

export interface EntrySink {
  data(chunk: Buffer): void;
  end(): void;
}

type State = 'header' | 'meta' | 'body' | 'skip' | 'done';

function truncated(): Error {
  return invalidArgument('archive/tar: unexpected EOF (truncated layer)');
}

export class TarPushParser {
  private state: State = 'header';
  /** bytes of a header block or meta record gathered across chunks */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  /** bytes the current state still wants */
  private want = BLOCK;
  private metaType = '';
  private metaPadding = 0;
  private sink: EntrySink | undefined;
  private pax = new Map<string, Buffer>();
  private globalPax = new Map<string, Buffer>();
  private longName: string | undefined;
  private longLink: string | undefined;

  /** `onEntry` gets each entry's header; the sink it returns (if any) gets the entry's bytes. */
  constructor(private readonly onEntry: (h: TarHeader) => EntrySink | undefined) {}

  write(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && this.state !== 'done') {
      const n = Math.min(this.want, chunk.length - pos);
      if (this.state === 'body') {
        this.sink?.data(n === chunk.length ? chunk : chunk.subarray(pos, pos + n));
        pos += n;
        if ((this.want -= n) === 0) this.endBody();
        continue;
      }
      if (this.state === 'skip') {
        pos += n;
        if ((this.want -= n) === 0) this.toHeader();
        continue;
      }
      // header or meta: gather `want` bytes, then act on them
      let whole: Buffer | undefined;
      if (this.partialBytes === 0 && n === this.want) {
        whole = chunk.subarray(pos, pos + n);
      } else {
        // a copy: the chunk may be handed to another thread before the rest arrives
        this.partial.push(Buffer.from(chunk.subarray(pos, pos + n)));
        this.partialBytes += n;
        if (n === this.want) {
          whole = Buffer.concat(this.partial, this.partialBytes);
          this.partial = [];
          this.partialBytes = 0;
        }
      }
      pos += n;
      this.want -= n;
      if (!whole) continue;
      if (this.state === 'header') this.header(whole);
      else this.meta(whole);
    }
  }

  /** The source ended: anything but a complete archive (or one that ends between entries) is an error. */
  end(): void {
    if (this.state === 'done') return;
    const between = this.state === 'header' && this.partialBytes === 0 && this.pax.size === 0
      && this.longName === undefined && this.longLink === undefined;
    if (!between) throw truncated();
  }

  private toHeader(): void {
    this.state = 'header';
    this.want = BLOCK;
  }

  private endBody(): void {
    const sink = this.sink;
    this.sink = undefined;
    sink?.end();
    const pad = this.metaPadding;
    if (pad) {
      this.state = 'skip';
      this.want = pad;
    } else this.toHeader();
  }

  private meta(record: Buffer): void {
    // a copy: pax values outlive the chunk they came in (see `partial`)
    const data = Buffer.from(record);
    if (this.metaType === 'x') this.pax = new Map([...this.pax, ...parsePax(data)]);
    else if (this.metaType === 'g') this.globalPax = new Map([...this.globalPax, ...parsePax(data)]);
    else if (this.metaType === 'L') this.longName = data.toString('utf8').replace(/\0.*$/s, '');
    else this.longLink = data.toString('utf8').replace(/\0.*$/s, '');
    if (this.metaPadding) {
      this.state = 'skip';
      this.want = this.metaPadding;
    } else this.toHeader();
  }

  private header(block: Buffer): void {
    if (isZeroBlock(block)) {
      this.state = 'done';
      return;
    }
    const raw = decodeHeader(block);
    if ('xgLK'.includes(raw.typeflag)) {
      if (raw.size > MAX_META) throw invalidArgument('archive/tar: header too large');
      this.metaType = raw.typeflag;
      this.metaPadding = paddingOf(raw.size);
      if (raw.size === 0) {
        this.meta(Buffer.alloc(0));
        return;
      }
      this.state = 'meta';
      this.want = raw.size;
      return;
    }
    const all = this.globalPax.size ? new Map([...this.globalPax, ...this.pax]) : this.pax;
    const str = (k: string) => all.get(k)?.toString('utf8');
    const num = (k: string, dflt: number) => {
      const v = str(k);
      if (v === undefined) return dflt;
      const n = Number(v);
      if (!Number.isFinite(n)) throw invalidArgument(`archive/tar: invalid PAX ${k}`);
      return n;
    };
    const name = str('path') ?? this.longName ?? raw.name;
    const type = entryType(raw.typeflag, name);
    const size = type === 'file' ? num('size', raw.size) : 0;
    if (size < 0) throw invalidArgument('archive/tar: invalid tar header');
    const xattrs = new Map<string, Buffer>();
    for (const [k, v] of all) if (k.startsWith('SCHILY.xattr.')) xattrs.set(k.slice('SCHILY.xattr.'.length), v);
    const h: TarHeader = {
      name, type, size, xattrs,
      mode: raw.mode,
      uid: num('uid', raw.uid),
      gid: num('gid', raw.gid),
      mtime: num('mtime', raw.mtime),
      linkname: str('linkpath') ?? this.longLink ?? raw.linkname,
      devmajor: raw.devmajor,
      devminor: raw.devminor,
    };
    this.pax = new Map();
    this.longName = this.longLink = undefined;
    // header-only types carry no data even when their size field says otherwise
    const dataSize = type === 'file' ? size : 0;
    this.sink = this.onEntry(h);
    this.metaPadding = paddingOf(dataSize);
    if (dataSize > 0) {
      this.state = 'body';
      this.want = dataSize;
    } else this.endBody();
  }
}
