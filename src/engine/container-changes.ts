/**
 * `docker diff`: what a container changed, read from its overlay upper dir against the image's layer dirs,
 * with dockerd's overlay2 rules: a whiteout (char 0/0) is Deleted; an opaque directory is Deleted too and
 * what it now holds is Added; anything else is Added unless a lower layer has it (then Modified). A
 * directory is listed as Modified when something directly inside it changed or its mode/owner did.
 *
 * The runtime's mount-point placeholders (empty /etc/hostname, /etc/hosts, /etc/resolv.conf; empty /dev,
 * /proc, /sys) are left out: dockerd keeps them in an init layer the diff never shows.
 */
import type { Stats } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { runHelper, unescapeAttrPath } from '../image/tar-helpers';

export const enum ChangeKind { Modified = 0, Added = 1, Deleted = 2 }

export interface Change {
  Path: string;
  Kind: ChangeKind;
}

const PLACEHOLDER_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf']);
const PLACEHOLDER_DIRS = new Set(['/dev', '/proc', '/sys']);

/** Is `p` (container path) in the upper dir only because the runtime made a mount point there? */
export async function isRuntimePlaceholder(p: string, st: Stats, abs: string): Promise<boolean> {
  if (PLACEHOLDER_FILES.has(p)) return st.isFile() && st.size === 0;
  if (PLACEHOLDER_DIRS.has(p)) return st.isDirectory() && (await fs.readdir(abs).catch(() => [])).length === 0;
  return false;
}

async function opaqueDirs(upper: string): Promise<Set<string>> {
  const out = new Set<string>();
  const named = await runHelper('getfattr', ['-R', '-h', '-d', '-m', '^trusted\\.overlay\\.opaque$', '.'], { cwd: upper });
  let current = '';
  for (const line of named.stdout.toString('latin1').split('\n')) {
    if (line.startsWith('# file: ')) current = unescapeAttrPath(line.slice('# file: '.length)).replace(/^\.\/?/, '');
    else if (/^trusted\.overlay\.opaque="y"/.test(line)) out.add('/' + current);
  }
  return out;
}

export async function containerChanges(upper: string, lowers: string[]): Promise<Change[]> {
  const opaque = await opaqueDirs(upper);
  const changes: Change[] = [];
  const changedDirs = new Set<string>();

  const inLower = async (p: string): Promise<Stats | undefined> => {
    for (const l of lowers) {
      const st = await fs.lstat(path.join(l, p)).catch(() => undefined);
      if (st) return st;
    }
    return undefined;
  };

  const walk = async (dir: string): Promise<void> => {
    // a running container changes its upper dir while we read it: what vanished meanwhile is skipped
    const names = (await fs.readdir(path.join(upper, dir)).catch(() => [] as string[])).sort();
    for (const n of names) {
      const p = dir === '/' ? `/${n}` : `${dir}/${n}`;
      const abs = path.join(upper, p);
      const st = await fs.lstat(abs).catch(() => undefined);
      if (!st) continue;
      if (await isRuntimePlaceholder(p, st, abs)) continue;
      let kind: ChangeKind | undefined;
      if ((st.isCharacterDevice() && st.rdev === 0) || (st.isDirectory() && opaque.has(p))) {
        kind = ChangeKind.Deleted;
      } else {
        const lower = await inLower(p);
        if (!lower) kind = ChangeKind.Added;
        else if (st.isDirectory() && lower.isDirectory() && sameDirMeta(st, lower)) kind = undefined;
        else kind = ChangeKind.Modified;
      }
      if (kind !== undefined) {
        if (kind !== ChangeKind.Modified) {
          const parent = path.posix.dirname(p);
          if (parent !== '/' && !changedDirs.has(parent)) {
            changes.push({ Path: parent, Kind: ChangeKind.Modified });
            changedDirs.add(parent);
          }
        }
        if (st.isDirectory()) changedDirs.add(p);
        changes.push({ Path: p, Kind: kind });
      }
      if (st.isDirectory()) await walk(p);
    }
  };
  await walk('/');
  return changes;
}

/** Directory metadata a user changes on purpose; mtimes move with every copy-up and are ignored. */
function sameDirMeta(a: Stats, b: Stats): boolean {
  return a.mode === b.mode && a.uid === b.uid && a.gid === b.gid;
}
