/**
 * A layer diff directory as an uncompressed OCI layer tar: entries in sorted order with owner, mode and
 * mtime; hard links (same inode) as link entries; overlay whiteouts (char 0/0) back to `.wh.NAME` files and
 * opaque directories to a `.wh..wh..opq` entry, the way dockerd's overlay2 driver writes them.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { END_OF_ARCHIVE, encodeHeader, paddingOf, type TarHeader } from './tar-format';
import { runHelper, unescapeAttrPath } from './tar-helpers';

const READ_CHUNK = 1024 * 1024;
const OPAQUE_XATTR = 'trusted.overlay.opaque';

/** xattrs carried into the tar (dockerd keeps security.capability; user.* round-trips what layers set). */
function exported(name: string): boolean {
  return name === 'security.capability' || name.startsWith('user.');
}

/** `skip` leaves entries out by their path relative to `root` (commit drops the runtime's mount points). */
export type ExportSkip = (rel: string, st: Stats, abs: string) => boolean | Promise<boolean>;

export function exportLayerTar(root: string, skip?: ExportSkip): Readable {
  return Readable.from(generate(root, skip), { objectMode: false, highWaterMark: READ_CHUNK });
}

/** Every xattr under `root` with one getfattr run: relative path → name → value. */
async function readAllXattrs(root: string): Promise<Map<string, Map<string, Buffer>>> {
  const r = await runHelper('getfattr', ['-R', '-h', '-d', '-m', '-', '-e', 'hex', '.'], { cwd: root });
  const out = new Map<string, Map<string, Buffer>>();
  if (r.code !== 0 && r.stdout.length === 0) {
    if (/Operation not supported/.test(r.stderr) || r.stderr.trim() === '') return out;
    throw new Error(`reading extended attributes: ${r.stderr.trim()}`);
  }
  let current: Map<string, Buffer> | undefined;
  for (const line of r.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) {
      let rel = unescapeAttrPath(line.slice('# file: '.length));
      rel = rel === '.' ? '' : rel.replace(/^\.\//, '');
      current = new Map();
      out.set(rel, current);
    } else if (current && line.includes('=')) {
      const eq = line.indexOf('=');
      const value = line.slice(eq + 1);
      current.set(line.slice(0, eq), value.startsWith('0x') ? Buffer.from(value.slice(2), 'hex') : Buffer.from(value.replace(/^"|"$/g, ''), 'latin1'));
    }
  }
  return out;
}

function baseHeader(name: string, st: Stats, xattrs: Map<string, Buffer> | undefined): TarHeader {
  const keep = new Map<string, Buffer>();
  for (const [k, v] of xattrs ?? []) if (exported(k)) keep.set(k, v);
  return {
    name, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0,
    mtime: Math.floor(st.mtimeMs / 1000), linkname: '', devmajor: 0, devminor: 0, xattrs: keep,
  };
}

function major(rdev: number): number {
  return ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
}
function minor(rdev: number): number {
  return (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
}

async function* generate(root: string, skip?: ExportSkip): AsyncGenerator<Buffer> {
  const xattrs = await readAllXattrs(root);
  const inodes = new Map<string, string>();

  async function* walk(dirRel: string): AsyncGenerator<Buffer> {
    const names = (await fs.readdir(dirRel ? path.join(root, dirRel) : root)).sort();
    for (const n of names) {
      const rel = dirRel ? `${dirRel}/${n}` : n;
      const abs = path.join(root, rel);
      const st = await fs.lstat(abs);
      if (skip && (await skip(rel, st, abs))) continue;
      const attrs = xattrs.get(rel);
      const h = baseHeader(rel, st, attrs);
      if (st.isDirectory()) {
        yield encodeHeader({ ...h, name: `${rel}/`, type: 'dir' });
        if (attrs?.get(OPAQUE_XATTR)?.toString() === 'y') {
          yield encodeHeader({ ...h, name: `${rel}/.wh..wh..opq`, type: 'file', mode: st.mode & 0o777, xattrs: new Map() });
        }
        yield* walk(rel);
      } else if (st.isCharacterDevice() && st.rdev === 0) {
        yield encodeHeader({ ...h, name: dirRel ? `${dirRel}/.wh.${n}` : `.wh.${n}`, type: 'file', mode: 0o600, xattrs: new Map() });
      } else if (st.isSymbolicLink()) {
        yield encodeHeader({ ...h, type: 'symlink', linkname: await fs.readlink(abs) });
      } else if (st.isFile()) {
        const key = `${st.dev}:${st.ino}`;
        const first = st.nlink > 1 ? inodes.get(key) : undefined;
        if (first !== undefined) {
          yield encodeHeader({ ...h, type: 'link', linkname: first, xattrs: new Map() });
          continue;
        }
        if (st.nlink > 1) inodes.set(key, rel);
        yield encodeHeader({ ...h, type: 'file', size: st.size });
        yield* fileBytes(abs, st.size);
        const pad = paddingOf(st.size);
        if (pad) yield Buffer.alloc(pad);
      } else if (st.isCharacterDevice() || st.isBlockDevice()) {
        yield encodeHeader({ ...h, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major(st.rdev), devminor: minor(st.rdev) });
      } else if (st.isFIFO()) {
        yield encodeHeader({ ...h, type: 'fifo' });
      }
      // sockets are not carried in layers
    }
  }

  yield* walk('');
  yield END_OF_ARCHIVE;
}

/** Exactly `size` bytes of the file (a layer is immutable; a short read means it was damaged). */
async function* fileBytes(abs: string, size: number): AsyncGenerator<Buffer> {
  const fh = await fs.open(abs, 'r');
  try {
    let left = size;
    while (left > 0) {
      const buf = Buffer.allocUnsafe(Math.min(READ_CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) throw new Error(`${abs}: file shrank while being exported`);
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
  } finally {
    await fh.close();
  }
}
