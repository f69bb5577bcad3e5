/**
 * Paths inside a container's root filesystem, resolved like a chroot (build/scoped-path.ts): symlinks are
 * followed component by component relative to the rootfs, so `/etc/x -> /` names the rootfs root, never the
 * host's. Also the `X-Docker-Container-Path-Stat` shape dockerd sends for `docker cp`.
 */
import type { BigIntStats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { resolveScoped } from '../build/scoped-path';
import { notFound } from '../errors';

/** What HEAD/GET /containers/{id}/archive report about a path (Go's os.FileMode in `mode`). */
export interface ContainerPathStat {
  name: string;
  size: number;
  mode: number;
  mtime: string;
  linkTarget: string;
}

/** A user path made absolute in the container, keeping a trailing `/` or `/.` (they mean "a directory"). */
export function absContainerPath(p: string): string {
  let out = path.posix.normalize('/' + p);
  if (out.length > 1) out = out.replace(/\/+$/, '');
  if (goBase(out) !== '.' && goBase(p) === '.') out = out.endsWith('/') ? `${out}.` : `${out}/.`;
  if (!out.endsWith('/') && p.endsWith('/')) out += '/';
  return out;
}

/** Go's filepath.Base: trailing slashes dropped; "/" stays "/". */
export function goBase(p: string): string {
  const t = p.replace(/\/+$/, '');
  return t === '' ? '/' : path.posix.basename(t);
}

export interface ResolvedPath {
  /** host path; its last element is not followed when it is a symlink (lstat semantics) */
  host: string;
  /** the absolute container path as asked (`absContainerPath`) */
  abs: string;
}

/**
 * dockerd's ResolvePath: the directory part is resolved with every symlink followed inside `root`; the last
 * element is kept as named (a trailing `/` or `/.` makes it part of the directory, so it is followed).
 */
export async function resolveNoFollowLast(root: string, userPath: string): Promise<ResolvedPath> {
  const abs = absContainerPath(userPath);
  const slash = abs.lastIndexOf('/');
  const dir = abs.slice(0, slash + 1);
  const base = abs.slice(slash + 1);
  const dirRel = await resolveScoped(root, dir, true);
  const dirHost = dirRel ? path.join(root, dirRel) : root;
  return { host: base === '' || base === '.' ? dirHost : path.join(dirHost, base), abs };
}

/** Every element followed (the extraction point of PUT /archive, `cp -L` targets). */
export async function resolveFollow(root: string, userPath: string): Promise<string> {
  const rel = await resolveScoped(root, absContainerPath(userPath), true);
  return rel ? path.join(root, rel) : root;
}

export function fileNotFound(p: string, container: string): Error {
  return notFound(`Could not find the file ${p} in container ${container}`);
}

const S_IFMT = 0o170000;
const GO_MODE = {
  dir: 2 ** 31, symlink: 2 ** 27, device: 2 ** 26, pipe: 2 ** 25, socket: 2 ** 24,
  setuid: 2 ** 23, setgid: 2 ** 22, charDevice: 2 ** 21, sticky: 2 ** 20,
};

/** A unix st_mode as Go's os.FileMode (type bits high, permission bits low). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & S_IFMT) {
    case 0o040000: m += GO_MODE.dir; break;
    case 0o120000: m += GO_MODE.symlink; break;
    case 0o060000: m += GO_MODE.device; break;
    case 0o020000: m += GO_MODE.device + GO_MODE.charDevice; break;
    case 0o010000: m += GO_MODE.pipe; break;
    case 0o140000: m += GO_MODE.socket; break;
  }
  if (mode & 0o4000) m += GO_MODE.setuid;
  if (mode & 0o2000) m += GO_MODE.setgid;
  if (mode & 0o1000) m += GO_MODE.sticky;
  return m;
}

export const isGoDir = (mode: number) => mode >= GO_MODE.dir;

/** Go's time.Time JSON form (RFC 3339 with nanoseconds, trailing zeros trimmed), in UTC. */
export function goTime(ns: bigint): string {
  const secs = ns / 1_000_000_000n;
  const frac = ns % 1_000_000_000n;
  const base = new Date(Number(secs) * 1000).toISOString().replace(/\.\d{3}Z$/, '');
  const f = frac === 0n ? '' : '.' + frac.toString().padStart(9, '0').replace(/0+$/, '');
  return `${base}${f}Z`;
}

/** Stat of a resolved path as dockerd reports it; NotFound in dockerd's words when missing. */
export async function statPath(root: string, r: ResolvedPath, userPath: string, container: string): Promise<{ stat: ContainerPathStat; lstat: BigIntStats }> {
  let st: BigIntStats;
  try {
    st = await fs.lstat(r.host, { bigint: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') throw fileNotFound(userPath, container);
    throw err;
  }
  let linkTarget = '';
  if (st.isSymbolicLink()) {
    const rel = await resolveScoped(root, r.abs, true);
    linkTarget = '/' + rel;
  }
  return {
    stat: { name: goBase(r.abs), size: Number(st.size), mode: goFileMode(Number(st.mode)), mtime: goTime(st.mtimeNs), linkTarget },
    lstat: st,
  };
}
