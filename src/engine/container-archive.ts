/**
 * Tar streams of a container's files (GET /archive, export) and extraction of a tar into a container
 * directory (PUT /archive), with dockerd's `docker cp` semantics and our path rules (DESIGN.md §6):
 *
 * - produced entries are named from `name` down (`passwd`, `dir/`, `dir/f`, `./f` for a `/.` source); only
 *   the container root itself gets dockerd's leading `/` (`/`, `/bin`), which the docker CLI rebases.
 * - extraction resolves each entry's parent inside the rootfs like a chroot, then creates the last element
 *   without following links (O_EXCL|O_NOFOLLOW, lchown, lutimes); `..` escapes are refused.
 */
import { constants as fsc, type Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { resolveScoped } from '../build/scoped-path';
import { invalidArgument } from '../errors';
import { END_OF_ARCHIVE, encodeHeader, paddingOf, type TarHeader } from '../image/tar-format';
import { runHelper } from '../image/tar-helpers';
import { TarReader } from '../image/tar-reader';

const CHUNK = 1024 * 1024;

/** `abs` (a host path inside a rootfs, already resolved) as a tar whose top entry is `name`. */
export function tarPath(abs: string, name: string): Readable {
  return Readable.from(generate(abs, name), { objectMode: false, highWaterMark: CHUNK });
}

/** The whole tree under `root` with relative names and no entry for the root itself (docker export). */
export function tarTreeContents(root: string): Readable {
  return Readable.from(generate(root, ''), { objectMode: false, highWaterMark: CHUNK });
}

function header(name: string, st: Stats): TarHeader {
  return {
    name, type: 'file', mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, size: 0,
    mtime: Math.floor(st.mtimeMs / 1000), linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(),
  };
}

const major = (rdev: number) => ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
const minor = (rdev: number) => (rdev & 0xff) | ((rdev >> 12) & 0xfff00);

function childName(parent: string, child: string): string {
  if (parent === '') return child;
  if (parent === '/') return `/${child}`;
  return `${parent}/${child}`;
}

async function* generate(topAbs: string, topName: string): AsyncGenerator<Buffer> {
  const inodes = new Map<string, string>();

  async function* entry(abs: string, name: string): AsyncGenerator<Buffer> {
    let st: Stats;
    try {
      st = await fs.lstat(abs);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return; // removed while we walk (a running container)
      throw err;
    }
    const h = header(name, st);
    if (st.isDirectory()) {
      if (name !== '') yield encodeHeader({ ...h, name: name.endsWith('/') ? name : `${name}/`, type: 'dir' });
      let names: string[];
      try {
        names = (await fs.readdir(abs)).sort();
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      for (const n of names) yield* entry(path.join(abs, n), childName(name, n));
    } else if (st.isSymbolicLink()) {
      yield encodeHeader({ ...h, type: 'symlink', linkname: await fs.readlink(abs) });
    } else if (st.isFile()) {
      const key = `${st.dev}:${st.ino}`;
      const first = st.nlink > 1 ? inodes.get(key) : undefined;
      if (first !== undefined) {
        yield encodeHeader({ ...h, type: 'link', linkname: first });
        return;
      }
      if (st.nlink > 1) inodes.set(key, name);
      yield* fileEntry(abs, h, st.size);
    } else if (st.isCharacterDevice() || st.isBlockDevice()) {
      yield encodeHeader({ ...h, type: st.isCharacterDevice() ? 'char' : 'block', devmajor: major(st.rdev), devminor: minor(st.rdev) });
    } else if (st.isFIFO()) {
      yield encodeHeader({ ...h, type: 'fifo' });
    }
    // sockets are not archived (as dockerd)
  }

  yield* entry(topAbs, topName);
  yield END_OF_ARCHIVE;
}

/** A file's header and bytes; a file that changes size while read is padded or cut to the size in its header. */
async function* fileEntry(abs: string, h: TarHeader, size: number): AsyncGenerator<Buffer> {
  const fh = await fs.open(abs, fsc.O_RDONLY | fsc.O_NOFOLLOW);
  try {
    yield encodeHeader({ ...h, type: 'file', size });
    let left = size;
    while (left > 0) {
      const buf = Buffer.alloc(Math.min(CHUNK, left));
      const { bytesRead } = await fh.read(buf, 0, buf.length, null);
      if (bytesRead === 0) {
        yield Buffer.alloc(left);
        break;
      }
      left -= bytesRead;
      yield bytesRead === buf.length ? buf : buf.subarray(0, bytesRead);
    }
    const pad = paddingOf(size);
    if (pad) yield Buffer.alloc(pad);
  } finally {
    await fh.close();
  }
}

export interface ExtractOptions {
  /** refuse to replace a directory with a non-directory and vice versa (the API's noOverwriteDirNonDir) */
  noOverwriteDirNonDir: boolean;
  /** owner for every entry (`cp -a` gives the container user); default: the tar headers' ids */
  chown?: { uid: number; gid: number };
}

/**
 * Extract `tar` into `destRel` (a directory path relative to `root`, already resolved inside it).
 * Each entry is placed by resolving its parent directory inside `root`; missing parents are created 0755.
 */
export async function extractTar(root: string, destRel: string, tar: AsyncIterable<Buffer>, opts: ExtractOptions): Promise<void> {
  const reader = new TarReader(tar);
  const dirTimes: [string, number][] = [];
  for (let h = await reader.next(); h; h = await reader.next()) {
    try {
      await extractEntry(root, destRel, h, reader, opts, dirTimes);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      // fs errors carry host paths; the client gets the entry name and the reason only
      if (typeof code === 'string' && code.startsWith('E')) throw invalidArgument(`cannot extract ${JSON.stringify(h.name)}: ${code}`);
      throw err;
    }
  }
  for (const [dir, t] of dirTimes.reverse()) await fs.lutimes(dir, t, t).catch(() => undefined);
}

async function extractEntry(root: string, destRel: string, h: TarHeader, reader: TarReader, opts: ExtractOptions, dirTimes: [string, number][]): Promise<void> {
  const rel = entryPath(h.name);
  if (rel === '') return; // the extraction point itself keeps its own owner and mode
  const parentRel = await resolveScoped(root, path.posix.join(destRel, path.posix.dirname(rel)), true);
  const parentAbs = parentRel ? path.join(root, parentRel) : root;
  await fs.mkdir(parentAbs, { recursive: true, mode: 0o755 });
  const target = path.join(parentAbs, path.posix.basename(rel));
  const existing = await fs.lstat(target).catch(() => undefined);
  const isDirEntry = h.type === 'dir';
  if (existing) {
    if (opts.noOverwriteDirNonDir && existing.isDirectory() && !isDirEntry) {
      throw invalidArgument(`cannot overwrite directory "${containerPath(root, target)}" with non-directory "${h.name}"`);
    }
    if (opts.noOverwriteDirNonDir && !existing.isDirectory() && isDirEntry) {
      throw invalidArgument(`cannot overwrite non-directory "${containerPath(root, target)}" with directory "${h.name}"`);
    }
    if (!(existing.isDirectory() && isDirEntry)) await fs.rm(target, { recursive: true, force: true });
  }
  const uid = opts.chown?.uid ?? h.uid;
  const gid = opts.chown?.gid ?? h.gid;
  switch (h.type) {
    case 'dir':
      if (!existing?.isDirectory()) await fs.mkdir(target, { mode: 0o700 });
      await fs.lchown(target, uid, gid);
      await fs.chmod(target, h.mode & 0o7777);
      dirTimes.push([target, h.mtime]);
      break;
    case 'file': {
      const fh = await fs.open(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of reader.body()) await fh.write(chunk);
        await fh.chown(uid, gid);
        await fh.chmod(h.mode & 0o7777);
        await fh.utimes(h.mtime, h.mtime);
      } finally {
        await fh.close();
      }
      break;
    }
    case 'symlink':
      // any target is fine: it is only ever followed inside the container (or resolved in scope by us)
      await fs.symlink(h.linkname, target);
      await fs.lchown(target, uid, gid);
      await fs.lutimes(target, h.mtime, h.mtime);
      break;
    case 'link': {
      const linkRel = entryPath(h.linkname);
      const srcRel = await resolveScoped(root, path.posix.join(destRel, linkRel), false);
      const src = srcRel ? path.join(root, srcRel) : root;
      const st = await fs.lstat(src).catch(() => undefined);
      if (!st || st.isDirectory()) throw invalidArgument(`invalid hard link ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)}`);
      await fs.link(src, target);
      break;
    }
    case 'char': case 'block': case 'fifo': {
      const args = h.type === 'fifo' ? [target, 'p'] : [target, h.type === 'char' ? 'c' : 'b', String(h.devmajor), String(h.devminor)];
      const r = await runHelper('mknod', args);
      if (r.code !== 0) throw new Error(`mknod ${h.name}: ${r.stderr.trim()}`);
      await fs.lchown(target, uid, gid);
      await fs.chmod(target, h.mode & 0o7777);
      break;
    }
  }
}

/** An entry name as a path relative to the extraction point; `..` that climbs out is refused. */
function entryPath(name: string): string {
  const n = path.posix.normalize('/' + name).slice(1).replace(/\/+$/, '');
  const raw = path.posix.normalize(name.replace(/^\/+/, ''));
  if (raw === '..' || raw.startsWith('../')) throw invalidArgument(`${JSON.stringify(name)} is outside of the extraction point`);
  return n === '.' ? '' : n;
}

function containerPath(root: string, host: string): string {
  return '/' + path.relative(root, host);
}
