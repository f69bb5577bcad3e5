/**
 * The host side of `berth cp`, with the docker CLI's copy rules: which directory a tar is extracted into and
 * how its top entry is renamed (`PrepareArchiveCopy`), packing a host path (`TarResourceRebase`), and
 * extracting a tar into a host directory without letting entries climb out of it.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import * as tarStream from 'tar-stream';
import { StatusError } from '../errors';

/** Go's filepath.Base. */
export function base(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t === '' ? (p.startsWith('/') ? '/' : '.') : path.posix.basename(t);
}

const specifiesCurrentDir = (p: string) => base(p) === '.';
const assertsDirectory = (p: string) => p.endsWith('/') || specifiesCurrentDir(p);

/** `path/to/x/.` keeps its `/.`; otherwise the cleaned path's dir and base. */
export function splitPathDirEntry(p: string): { dir: string; base: string } {
  let cleaned = path.posix.normalize(p);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '');
  if (specifiesCurrentDir(p) && base(cleaned) !== '.') cleaned += '/.';
  return { dir: path.posix.dirname(cleaned), base: base(cleaned) };
}

/** Clean a path but keep a trailing `/` or `/.` (they say "a directory"). */
export function preserveTrailing(p: string): string {
  let cleaned = path.posix.normalize(p);
  if (cleaned.length > 1) cleaned = cleaned.replace(/\/+$/, '');
  if (!specifiesCurrentDir(cleaned) && specifiesCurrentDir(p)) cleaned += cleaned.endsWith('/') ? '.' : '/.';
  if (!cleaned.endsWith('/') && p.endsWith('/')) cleaned += '/';
  return cleaned;
}

export interface CopyInfo {
  path: string;
  exists: boolean;
  isDir: boolean;
  rebaseName?: string;
}

/** Where to extract and how to rename the top entry (oldBase → newBase), docker's PrepareArchiveCopy. */
export function prepareArchiveCopy(src: CopyInfo, dst: CopyInfo): { dstDir: string; rename?: [string, string] } {
  const d = splitPathDirEntry(dst.path);
  const srcBase = src.rebaseName || splitPathDirEntry(src.path).base;
  if (dst.exists && dst.isDir) return { dstDir: dst.path };
  if (dst.exists && src.isDir) throw new StatusError(1, 'cannot copy directory');
  if (!dst.exists && !src.isDir && assertsDirectory(dst.path)) throw new StatusError(1, 'no such directory');
  return { dstDir: d.dir, rename: [srcBase, d.base] };
}

/** strings.Replace(name, old, new, 1) with dockerd's rule that an old base of "/" matches the start. */
export function rebaseName(name: string, oldBase: string, newBase: string): string {
  if (oldBase === '/') return newBase + name;
  const i = name.indexOf(oldBase);
  return i < 0 ? name : name.slice(0, i) + newBase + name.slice(i + oldBase.length);
}

/** docker's CopyInfoDestinationPath on the host: follows a symlinked destination; a missing one needs its parent. */
export async function hostDestination(p: string): Promise<CopyInfo> {
  let cur = p;
  for (let n = 0; n <= 10; n++) {
    const st = await fs.lstat(cur).catch(() => undefined);
    if (!st) {
      const parent = splitPathDirEntry(cur).dir;
      const ps = await fs.stat(parent).catch(() => undefined);
      if (!ps) throw new StatusError(1, `lstat ${parent}: no such file or directory`);
      if (!ps.isDirectory()) throw new StatusError(1, 'not a directory');
      return { path: cur, exists: false, isDir: false };
    }
    if (!st.isSymbolicLink()) return { path: cur, exists: true, isDir: st.isDirectory() };
    const target = await fs.readlink(cur);
    cur = target.startsWith('/') ? target : path.join(splitPathDirEntry(cur).dir, target);
  }
  throw new StatusError(1, `too many symlinks in ${p}`);
}

/** docker's CopyInfoSourcePath: with `follow`, the path is fully resolved and renamed back to the name asked for. */
export async function hostSource(p: string, follow: boolean): Promise<CopyInfo> {
  let resolved: string;
  let rebase: string | undefined;
  if (follow) {
    resolved = await fs.realpath(p).catch(() => { throw new StatusError(1, `lstat ${p}: no such file or directory`); });
    if (specifiesCurrentDir(p) && !specifiesCurrentDir(resolved)) resolved += '/.';
    if (base(p) !== base(resolved)) rebase = base(p);
  } else {
    const slash = p.lastIndexOf('/');
    const dir = slash >= 0 ? p.slice(0, slash + 1) : '.';
    const name = slash >= 0 ? p.slice(slash + 1) : p;
    const realDir = await fs.realpath(dir).catch(() => { throw new StatusError(1, `lstat ${p}: no such file or directory`); });
    resolved = name ? `${realDir}/${name}` : realDir;
    if (p.endsWith('/') && base(p) !== base(resolved)) rebase = base(p);
  }
  const st = await fs.lstat(resolved).catch(() => { throw new StatusError(1, `lstat ${p}: no such file or directory`); });
  return { path: resolved, exists: true, isDir: st.isDirectory(), rebaseName: rebase };
}

/** A host path as a tar whose top entry is `top` (children `top/x`, or `./x` for `.`). */
export function packHostPath(abs: string, top: string): Readable {
  const pack = tarStream.pack();
  const add = async (p: string, name: string): Promise<void> => {
    const st = await fs.lstat(p);
    const common = { mode: st.mode & 0o7777, uid: st.uid, gid: st.gid, mtime: st.mtime };
    if (st.isDirectory()) {
      pack.entry({ ...common, name: name.endsWith('/') ? name : `${name}/`, type: 'directory' });
      for (const n of (await fs.readdir(p)).sort()) await add(path.join(p, n), name === '/' ? `/${n}` : `${name}/${n}`);
    } else if (st.isSymbolicLink()) {
      pack.entry({ ...common, name, type: 'symlink', linkname: await fs.readlink(p) });
    } else if (st.isFile()) {
      const entry = pack.entry({ ...common, name, type: 'file', size: st.size });
      await pipeline(createReadStream(p), entry);
    }
  };
  add(abs, top).then(() => pack.finalize(), (err: Error) => pack.destroy(err));
  return Readable.from(pack as unknown as AsyncIterable<Buffer>);
}

/** Extract a tar into `dir` (an existing host directory); `rename` rebases the top entry like the docker CLI. */
export async function extractToHost(tar: Readable, dir: string, rename?: [string, string]): Promise<void> {
  const extract = tarStream.extract();
  const done = pipeline(tar, extract);
  done.catch(() => undefined);
  for await (const entry of extract) {
    const h = entry.header;
    let name = rename ? rebaseName(h.name, rename[0], rename[1]) : h.name;
    name = path.posix.normalize('/' + name).slice(1).replace(/\/+$/, '');
    const raw = path.posix.normalize(h.name.replace(/^\/+/, ''));
    if (raw === '..' || raw.startsWith('../')) throw new StatusError(1, `${JSON.stringify(h.name)} is outside of ${JSON.stringify(dir)}`);
    const target = name ? path.join(dir, name) : dir;
    await fs.mkdir(path.dirname(target), { recursive: true });
    const existing = await fs.lstat(target).catch(() => undefined);
    const isDir = h.type === 'directory';
    if (existing && target !== dir) {
      if (existing.isDirectory() && !isDir) throw new StatusError(1, `cannot overwrite directory "${target}" with non-directory "${h.name}"`);
      if (!existing.isDirectory() && isDir) throw new StatusError(1, `cannot overwrite non-directory "${target}" with directory "${h.name}"`);
      if (!existing.isDirectory()) await fs.rm(target, { force: true });
    }
    const mode = (h.mode ?? 0o644) & 0o7777;
    if (isDir) {
      if (!existing) await fs.mkdir(target, { mode: 0o700 });
      if (target !== dir) await fs.chmod(target, mode);
    } else if (h.type === 'symlink') {
      await fs.symlink(h.linkname ?? '', target);
    } else if (h.type === 'link') {
      const linkName = path.posix.normalize('/' + (rename ? rebaseName(h.linkname ?? '', rename[0], rename[1]) : h.linkname ?? '')).slice(1);
      await fs.link(path.join(dir, linkName), target);
    } else if (h.type === 'file' || h.type === 'contiguous-file') {
      const fh = await fs.open(target, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, 0o600);
      try {
        for await (const chunk of entry) await fh.write(chunk as Buffer);
        await fh.chmod(mode);
        if (h.mtime) await fh.utimes(h.mtime, h.mtime);
      } finally {
        await fh.close();
      }
      continue;
    }
    entry.resume();
  }
  await done;
}
