/**
 * A read-only merged view of layer diff directories (top first), as an overlay mount would show them,
 * without mounting: whiteouts (char 0/0) hide what is below, a file in an ancestor position hides the lower
 * layers' subtree. Opaque directories are not consulted (an approximation: a directory deleted and made
 * again by a later layer still shows the lower entries). Paths are relative ('' is the root); symlinks are
 * resolved inside the view (see scoped-path.ts for the rules). A build context is the one-layer case.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import { scopedClean } from './scoped-path';

/** What the build reads of an entry's metadata (fs.Stats has it; the in-memory context tree makes it up). */
export interface EntryStat {
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtimeMs: number;
  isDirectory(): boolean;
  isFile(): boolean;
  isSymbolicLink(): boolean;
}

export interface Found {
  /** host path of the entry in the layer that provides it */
  abs: string;
  st: EntryStat;
}

/** A read-only tree COPY can read from: layers on disk, or the build context (see context-tree.ts). */
export interface TreeView {
  lstat(rel: string): Promise<Found | undefined>;
  resolve(rel: string, followLast?: boolean): Promise<string>;
  readdir(rel: string): Promise<string[]>;
  readFile(rel: string): Promise<Buffer | undefined>;
  readlink(found: Found): Promise<string>;
}

function isWhiteout(st: Stats): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

async function lstatOrUndefined(p: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(p);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export class LayeredRootfs implements TreeView {
  /** `dirs`: diff directories, top layer first. */
  constructor(readonly dirs: string[]) {}

  /** Does the layer at `dir` hide `rel` of the layers below (a whiteout or a non-directory on its path)? */
  private async hides(dir: string, rel: string): Promise<boolean> {
    const parts = rel.split('/');
    let prefix = '';
    for (const part of parts.slice(0, -1)) {
      prefix = prefix ? `${prefix}/${part}` : part;
      const st = await lstatOrUndefined(path.join(dir, prefix));
      if (!st) return false;
      if (!st.isDirectory()) return true;
    }
    const own = await lstatOrUndefined(path.join(dir, rel));
    return own !== undefined && isWhiteout(own);
  }

  /** The entry at `rel` without following a final symlink; undefined when absent. */
  async lstat(rel: string): Promise<(Found & { st: Stats }) | undefined> {
    const clean = scopedClean(rel);
    for (const dir of this.dirs) {
      const abs = clean ? path.join(dir, clean) : dir;
      const st = await lstatOrUndefined(abs);
      if (st) return isWhiteout(st) ? undefined : { abs, st };
      if (clean && (await this.hides(dir, clean))) return undefined;
    }
    return undefined;
  }

  /** `rel` with symlinks resolved inside the view (missing components kept as written). */
  async resolve(rel: string, followLast = true): Promise<string> {
    const pending = scopedClean(rel).split('/').filter(Boolean);
    const done: string[] = [];
    let links = 0;
    while (pending.length) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') { done.pop(); continue; }
      const found = await this.lstat([...done, part].join('/'));
      if (!found) return [...done, part, ...pending].join('/');
      if (found.st.isSymbolicLink() && (pending.length > 0 || followLast)) {
        if (++links > 255) throw invalidArgument(`too many levels of symbolic links: ${rel}`);
        const target = await fs.readlink(found.abs);
        if (target.startsWith('/')) done.length = 0;
        pending.unshift(...target.split('/').filter(Boolean));
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }

  /** Merged names in the directory `rel` (already resolved), sorted. */
  async readdir(rel: string): Promise<string[]> {
    const clean = scopedClean(rel);
    const names = new Set<string>();
    for (const dir of this.dirs) {
      const abs = clean ? path.join(dir, clean) : dir;
      const st = await lstatOrUndefined(abs);
      if (st && !st.isDirectory()) break;
      if (!st) {
        if (clean && (await this.hides(dir, clean))) break;
        continue;
      }
      for (const n of await fs.readdir(abs)) names.add(n);
    }
    const out: string[] = [];
    for (const n of [...names].sort()) {
      if (await this.lstat(clean ? `${clean}/${n}` : n)) out.push(n);
    }
    return out;
  }

  readlink(found: Found): Promise<string> {
    return fs.readlink(found.abs);
  }

  async readFile(rel: string): Promise<Buffer | undefined> {
    const found = await this.lstat(await this.resolve(rel));
    if (!found || !found.st.isFile()) return undefined;
    return fs.readFile(found.abs);
  }
}
