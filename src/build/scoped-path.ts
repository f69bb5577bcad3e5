/**
 * Path resolution inside a root directory as if it were `/` (a chroot): symlinks are followed, an absolute
 * link target starts again at the root, `..` stops at the root. The result never leaves the root, so a
 * hostile link in a build context (`ln -s /etc x`, `ln -s ../../.. up`) only ever names files inside it.
 */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';

const MAX_LINKS = 255;

/** Components of a path relative to the scope root ('' for the root). */
export function scopedClean(p: string): string {
  return path.posix.normalize('/' + p).slice(1).replace(/\/+$/, '');
}

/**
 * `rel` resolved inside `root`; returns the relative result (`a/b`, '' for the root). Missing components
 * are kept as written. `followLast: false` leaves a final symlink unresolved (lstat semantics).
 */
export async function resolveScoped(root: string, rel: string, followLast = true): Promise<string> {
  const pending = scopedClean(rel).split('/').filter(Boolean);
  const done: string[] = [];
  let links = 0;
  while (pending.length) {
    const part = pending.shift()!;
    if (part === '.') continue;
    if (part === '..') { done.pop(); continue; }
    const candidate = path.join(root, ...done, part);
    let st;
    try {
      st = await fs.lstat(candidate);
    } catch {
      done.push(part, ...pending);
      return done.join('/');
    }
    if (st.isSymbolicLink() && (pending.length > 0 || followLast)) {
      if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links: ${rel}`);
      const target = await fs.readlink(candidate);
      if (target.startsWith('/')) done.length = 0;
      pending.unshift(...target.split('/').filter(Boolean));
      continue;
    }
    done.push(part);
  }
  return done.join('/');
}

/** Absolute host path of `rel` resolved inside `root`. */
export async function resolveInScope(root: string, rel: string, followLast = true): Promise<string> {
  const r = await resolveScoped(root, rel, followLast);
  return r ? path.join(root, r) : root;
}
