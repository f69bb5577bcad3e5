/**
 * The tar header format (POSIX ustar + pax extended headers + GNU long names), binary-safe: pax values stay
 * bytes, so xattrs such as security.capability survive a round trip. tar-stream decodes pax values as UTF-8,
 * which corrupts binary xattrs; that is why layers are read and written with this module.
 */
import { invalidArgument } from '../errors';

export const BLOCK = 512;

export type EntryType = 'file' | 'link' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';

export interface TarHeader {
  name: string;
  type: EntryType;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** seconds since the epoch (fractional when a pax header gave it) */
  mtime: number;
  linkname: string;
  devmajor: number;
  devminor: number;
  /** SCHILY.xattr.<name> → raw value */
  xattrs: Map<string, Buffer>;
}

/** A raw header block as found in the stream, before pax/GNU records are applied. */
export interface RawHeader {
  typeflag: string;
  name: string;
  linkname: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  devmajor: number;
  devminor: number;
}

const TYPES: Record<string, EntryType> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'link', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};

export function entryType(typeflag: string, name: string): EntryType {
  const t = TYPES[typeflag];
  if (!t) throw invalidArgument(`unhandled tar header type ${JSON.stringify(typeflag)} for ${name}`);
  // pre-POSIX archives mark directories only by a trailing slash
  return t === 'file' && typeflag !== '7' && name.endsWith('/') ? 'dir' : t;
}

function cString(buf: Buffer, start: number, end: number): string {
  const nul = buf.indexOf(0, start);
  return buf.toString('utf8', start, nul >= 0 && nul < end ? nul : end);
}

/** Octal ASCII, or GNU base-256 when the top bit of the first byte is set. */
function parseNumber(buf: Buffer, start: number, end: number): number {
  if (buf[start] & 0x80) {
    let n = buf[start] & 0x3f;
    const negative = (buf[start] & 0x40) !== 0;
    for (let i = start + 1; i < end; i++) n = n * 256 + buf[i];
    return negative ? -n : n;
  }
  let s = '';
  for (let i = start; i < end; i++) {
    const c = buf[i];
    if (c === 0) break;
    if (c !== 0x20) s += String.fromCharCode(c);
  }
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw invalidArgument('archive/tar: invalid tar header');
  return parseInt(s, 8);
}

export function isZeroBlock(buf: Buffer): boolean {
  for (let i = 0; i < BLOCK; i++) if (buf[i] !== 0) return false;
  return true;
}

/** Decode one 512-byte header block (not all zeros). Throws InvalidArgument on a bad checksum. */
export function decodeHeader(buf: Buffer): RawHeader {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : buf[i];
  if (parseNumber(buf, 148, 156) !== sum) throw invalidArgument('archive/tar: invalid tar header');
  let name = cString(buf, 0, 100);
  const magic = buf.toString('latin1', 257, 263);
  if (magic === 'ustar\0') {
    const prefix = cString(buf, 345, 500);
    if (prefix) name = `${prefix}/${name}`;
  }
  return {
    typeflag: String.fromCharCode(buf[156]),
    name,
    linkname: cString(buf, 157, 257),
    mode: parseNumber(buf, 100, 108),
    uid: parseNumber(buf, 108, 116),
    gid: parseNumber(buf, 116, 124),
    size: parseNumber(buf, 124, 136),
    mtime: parseNumber(buf, 136, 148),
    devmajor: parseNumber(buf, 329, 337),
    devminor: parseNumber(buf, 337, 345),
  };
}

/** pax records `<len> <key>=<value>\n`; values kept as bytes. */
export function parsePax(buf: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let pos = 0;
  while (pos < buf.length) {
    const space = buf.indexOf(0x20, pos);
    if (space < 0) break;
    const len = parseInt(buf.toString('latin1', pos, space), 10);
    if (!(len > 0) || pos + len > buf.length) throw invalidArgument('archive/tar: invalid PAX record');
    const record = buf.subarray(space + 1, pos + len - 1);
    const eq = record.indexOf(0x3d);
    if (eq < 0) throw invalidArgument('archive/tar: invalid PAX record');
    out.set(record.toString('utf8', 0, eq), record.subarray(eq + 1));
    pos += len;
  }
  return out;
}

export function paddingOf(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

function encodePaxRecord(key: string, value: Buffer): Buffer {
  const body = Buffer.concat([Buffer.from(` ${key}=`), value, Buffer.from('\n')]);
  let len = body.length + 1;
  while (String(len).length + body.length !== len) len = String(len).length + body.length;
  return Buffer.concat([Buffer.from(String(len)), body]);
}

function writeOctal(buf: Buffer, value: number, start: number, width: number): boolean {
  const s = Math.max(0, Math.floor(value)).toString(8);
  if (s.length > width - 1) return false;
  buf.write(s.padStart(width - 1, '0') + '\0', start, width, 'latin1');
  return true;
}

const TYPEFLAGS: Record<EntryType, string> = { file: '0', link: '1', symlink: '2', char: '3', block: '4', dir: '5', fifo: '6' };

function headerBlock(h: { name: string; linkname: string; typeflag: string; mode: number; uid: number; gid: number; size: number; mtime: number; devmajor: number; devminor: number }, pax: Map<string, Buffer>): Buffer {
  const buf = Buffer.alloc(BLOCK);
  let name = h.name;
  let prefix = '';
  const ascii = (s: string) => /^[\x01-\x7f]*$/.test(s);
  if (!ascii(name)) {
    pax.set('path', Buffer.from(name));
  } else if (name.length > 100) {
    const cut = name.lastIndexOf('/', 155);
    if (cut > 0 && name.length - cut - 1 <= 100 && name.length - cut - 1 > 0) {
      prefix = name.slice(0, cut);
      name = name.slice(cut + 1);
    } else {
      pax.set('path', Buffer.from(name));
    }
  }
  if (pax.has('path')) name = h.name.slice(0, 100).replace(/[^\x01-\x7f]/g, '_');
  buf.write(name, 0, 100, 'utf8');
  if (!writeOctal(buf, h.mode & 0o7777, 100, 8)) throw new Error('tar mode out of range');
  if (!writeOctal(buf, h.uid, 108, 8)) { pax.set('uid', Buffer.from(String(h.uid))); writeOctal(buf, 0, 108, 8); }
  if (!writeOctal(buf, h.gid, 116, 8)) { pax.set('gid', Buffer.from(String(h.gid))); writeOctal(buf, 0, 116, 8); }
  if (!writeOctal(buf, h.size, 124, 12)) { pax.set('size', Buffer.from(String(h.size))); writeOctal(buf, 0, 124, 12); }
  if (!writeOctal(buf, h.mtime, 136, 12)) { pax.set('mtime', Buffer.from(String(h.mtime))); writeOctal(buf, 0, 136, 12); }
  buf.write(h.typeflag, 156, 1, 'latin1');
  if (h.linkname.length > 100 || !ascii(h.linkname)) pax.set('linkpath', Buffer.from(h.linkname));
  else buf.write(h.linkname, 157, 100, 'utf8');
  buf.write('ustar\x0000', 257, 8, 'latin1');
  writeOctal(buf, h.devmajor, 329, 8);
  writeOctal(buf, h.devminor, 337, 8);
  buf.write(prefix, 345, 155, 'utf8');
  buf.fill(0x20, 148, 156);
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += buf[i];
  buf.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'latin1');
  return buf;
}

/** Header blocks for one entry: a pax header first when names, ids or xattrs need it. */
export function encodeHeader(h: TarHeader): Buffer {
  const pax = new Map<string, Buffer>();
  for (const [k, v] of h.xattrs) pax.set(`SCHILY.xattr.${k}`, v);
  const main = headerBlock({ ...h, typeflag: TYPEFLAGS[h.type], size: h.type === 'file' ? h.size : 0 }, pax);
  if (pax.size === 0) return main;
  const body = Buffer.concat([...pax].map(([k, v]) => encodePaxRecord(k, v)));
  const base = h.name.replace(/\/$/, '').split('/').pop() ?? '';
  const paxHeader = headerBlock({
    name: `PaxHeaders.0/${base}`.slice(0, 100).replace(/[^\x01-\x7f]/g, '_'), linkname: '', typeflag: 'x',
    mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: h.mtime, devmajor: 0, devminor: 0,
  }, new Map());
  return Buffer.concat([paxHeader, body, Buffer.alloc(paddingOf(body.length)), main]);
}

/** The end-of-archive marker: two zero blocks. */
export const END_OF_ARCHIVE = Buffer.alloc(2 * BLOCK);
