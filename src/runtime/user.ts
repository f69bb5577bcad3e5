import { lstat, readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import type { ProcessUser } from './oci-spec';

/**
 * Read a file of the container's rootfs without following symlinks out of it: a symlinked /etc or
 * /etc/passwd is treated as absent (numeric users still work).
 */
async function readRootFile(rootfs: string, rel: string): Promise<string | undefined> {
  let p = rootfs;
  for (const part of rel.split('/').filter(Boolean)) {
    p = path.join(p, part);
    try {
      const st = await lstat(p);
      if (st.isSymbolicLink()) return undefined;
    } catch {
      return undefined;
    }
  }
  try {
    return await readFile(p, 'utf8');
  } catch {
    return undefined;
  }
}

interface PasswdEntry { name: string; uid: number; gid: number }
interface GroupEntry { name: string; gid: number; members: string[] }

function parsePasswd(text: string | undefined): PasswdEntry[] {
  if (!text) return [];
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'))
    .filter((f) => f.length >= 4)
    .map((f) => ({ name: f[0], uid: Number(f[2]), gid: Number(f[3]) }));
}

function parseGroup(text: string | undefined): GroupEntry[] {
  if (!text) return [];
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'))
    .filter((f) => f.length >= 3)
    .map((f) => ({ name: f[0], gid: Number(f[2]), members: (f[3] ?? '').split(',').filter(Boolean) }));
}

const isNumeric = (s: string) => /^\d+$/.test(s);

/** Resolve Docker's `User` (`name`, `uid`, `name:group`, `uid:gid`) against the image's passwd and group files. */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ProcessUser> {
  const [userPart, groupPart] = (spec ?? '').split(':', 2);
  const users = parsePasswd(await readRootFile(rootfs, 'etc/passwd'));
  const groups = parseGroup(await readRootFile(rootfs, 'etc/group'));

  let uid = 0;
  let gid = 0;
  let userName: string | undefined = 'root';
  if (userPart) {
    const entry = isNumeric(userPart) ? users.find((u) => u.uid === Number(userPart)) : users.find((u) => u.name === userPart);
    if (entry) {
      uid = entry.uid;
      gid = entry.gid;
      userName = entry.name;
    } else if (isNumeric(userPart)) {
      uid = Number(userPart);
      userName = undefined;
    } else {
      throw invalidArgument(`unable to find user ${userPart}: no matching entries in passwd file`);
    }
  } else {
    const root = users.find((u) => u.uid === 0);
    if (root) gid = root.gid;
  }
  if (groupPart) {
    if (isNumeric(groupPart)) gid = Number(groupPart);
    else {
      const g = groups.find((x) => x.name === groupPart);
      if (!g) throw invalidArgument(`unable to find group ${groupPart}: no matching entries in group file`);
      gid = g.gid;
    }
  }
  // as dockerd: the primary group is always a supplementary group too (`id` shows `groups=<gid>`), then
  // the groups that list the user by name
  const memberOf = userName ? groups.filter((g) => g.members.includes(userName!)).map((g) => g.gid) : [];
  return { uid, gid, additionalGids: [...new Set([gid, ...memberOf])] };
}
