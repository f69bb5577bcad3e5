/**
 * dockerd's "init layer": what every container's root shows above its image — the mount points the
 * runtime binds or mounts over (/etc/hosts, /etc/hostname, /etc/resolv.conf, /dev/console, /dev/pts,
 * /dev/shm, /proc, /sys), `/.dockerenv` (programs look for it to know they run in a container) and
 * `/etc/mtab` → /proc/mounts. As the top lower dir of the overlay it keeps the runtime from creating mount
 * points in the container's own layer, so they never show in `diff`, `commit` or a build step's layer,
 * while `export` and the running container see them as with dockerd.
 *
 * The content is the same for every container, and overlay never writes to a lower dir, so one directory
 * at `<data-root>/init` serves all containers and build steps. It is made once and never changed in place:
 * running containers may have it mounted.
 */
import { mkdir, open, symlink } from 'node:fs/promises';
import * as path from 'node:path';

const DIRS = ['dev/pts', 'dev/shm', 'proc', 'sys', 'etc'];
const FILES = ['.dockerenv', 'etc/resolv.conf', 'etc/hosts', 'etc/hostname', 'dev/console'];
const MTAB_TARGET = '/proc/mounts';

const ignoreExisting = (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EEXIST') throw err;
};

async function makeInitLayer(dir: string): Promise<void> {
  await Promise.all(DIRS.map((d) => mkdir(path.join(dir, d), { recursive: true, mode: 0o755 })));
  await Promise.all([
    ...FILES.map((f) => open(path.join(dir, f), 'wx', 0o755).then((h) => h.close(), ignoreExisting)),
    symlink(MTAB_TARGET, path.join(dir, 'etc', 'mtab')).catch(ignoreExisting),
  ]);
}

const made = new Map<string, Promise<void>>();

/** The shared init layer of a data root (made on first use; a failure is retried next time). */
export function initLayer(dataRoot: string): Promise<string> {
  const dir = path.join(dataRoot, 'init');
  let p = made.get(dir);
  if (!p) {
    p = makeInitLayer(dir);
    made.set(dir, p);
    p.catch(() => made.delete(dir));
  }
  return p.then(() => dir);
}
