/** `--chown` (names looked up in the image's /etc/passwd and /etc/group) and `--chmod` values. */
import { invalidArgument } from '../errors';
import type { LayeredRootfs } from './rootfs';

function chownError(spec: string, why: string): Error {
  return invalidArgument(`unable to convert uid/gid chown string to host mapping: ${why}`, `BERTH_ERR_CHOWN`);
}

async function lookupTable(root: LayeredRootfs, file: string): Promise<string[][]> {
  const text = (await root.readFile(file))?.toString('utf8') ?? '';
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}

/** `user`, `user:group`, `uid:gid` → numeric IDs; a user alone takes its primary group (uid alone: gid = uid). */
export async function resolveChown(spec: string, root: LayeredRootfs): Promise<{ uid: number; gid: number }> {
  const [user, group] = spec.split(':', 2);
  if (!user) throw chownError(spec, `invalid chown string: ${spec}`);
  let uid: number;
  let primaryGid: number | undefined;
  if (/^\d+$/.test(user)) {
    uid = Number(user);
  } else {
    const entry = (await lookupTable(root, '/etc/passwd')).find((f) => f[0] === user);
    if (!entry) throw chownError(spec, `can't find uid for user ${user}: no such user: ${user}`);
    uid = Number(entry[2]);
    primaryGid = Number(entry[3]);
  }
  let gid: number;
  if (group === undefined || group === '') {
    gid = primaryGid ?? uid;
  } else if (/^\d+$/.test(group)) {
    gid = Number(group);
  } else {
    const entry = (await lookupTable(root, '/etc/group')).find((f) => f[0] === group);
    if (!entry) throw chownError(spec, `can't find gid for group ${group}: no such group: ${group}`);
    gid = Number(entry[2]);
  }
  return { uid, gid };
}

/** Octal modes only (`755`, `0644`), as the classic builder accepts them. */
export function parseChmod(spec: string): number {
  if (!/^[0-7]{3,4}$/.test(spec)) throw invalidArgument(`invalid chmod parameter: ${spec}: only octal modes are supported`);
  return parseInt(spec, 8);
}
