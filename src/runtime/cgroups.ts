import { access, mkdir, readdir, rmdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';
/** v1 hierarchies a runtime makes groups in */
const V1_CONTROLLERS = ['memory', 'pids', 'cpu', 'cpuacct', 'cpuset', 'blkio', 'freezer', 'devices', 'systemd'];

export type CgroupMode = 'v1' | 'v2';

export async function cgroupMode(root = CGROUP_ROOT): Promise<CgroupMode> {
  try {
    await access(path.join(root, 'cgroup.controllers'));
    return 'v2';
  } catch {
    return 'v1';
  }
}

/** Mounted hierarchy roots under a cgroup root; they do not change while berthd runs, so looked up once. */
const hierarchyCache = new Map<string, Promise<string[]>>();

async function findHierarchies(root: string): Promise<string[]> {
  if ((await cgroupMode(root)) === 'v2') return [root];
  // The hybrid layout's cgroup2 mount (`unified`): runc creates the container's group there too.
  const found = await Promise.all([...V1_CONTROLLERS, 'unified'].map(async (ctl) => {
    try {
      await access(path.join(root, ctl, 'cgroup.procs'));
      return path.join(root, ctl);
    } catch {
      return undefined; // hierarchy not mounted
    }
  }));
  return found.filter((d): d is string => d !== undefined);
}

/** The cgroup directories one relative cgroup path maps to (one per v1 hierarchy, or one on v2). */
async function cgroupDirs(rel: string, root = CGROUP_ROOT): Promise<string[]> {
  let roots = hierarchyCache.get(root);
  if (!roots) {
    roots = findHierarchies(root);
    hierarchyCache.set(root, roots);
  }
  return (await roots).map((h) => path.join(h, rel));
}

/**
 * Move a process into `<hierarchy>/<rel>` on every hierarchy, creating the groups. Used for conmon, before
 * it is released, so that conmon and its container leave berthd's own cgroup and survive a berthd crash.
 * Best effort per hierarchy; returns the ones that failed.
 */
export async function moveToCgroup(pid: number, rel: string, root = CGROUP_ROOT): Promise<string[]> {
  const failed: string[] = [];
  // not cpuset: a new v1 cpuset group is empty and refuses tasks
  const cpuset = path.join(root, 'cpuset');
  const dirs = (await cgroupDirs(rel, root)).filter((d) => !d.startsWith(`${cpuset}/`));
  await Promise.all(dirs.map(async (dir) => {
    const procs = path.join(dir, 'cgroup.procs');
    try {
      // the group usually exists already (conmon's is shared): write first, create it only when missing
      await writeFile(procs, String(pid)).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        await mkdir(dir, { recursive: true });
        await writeFile(procs, String(pid));
      });
    } catch {
      failed.push(dir);
    }
  }));
  return failed;
}

/** Remove a container's (empty) cgroup dirs that the runtime left behind. Missing dirs are fine. */
export async function removeCgroup(rel: string, root = CGROUP_ROOT): Promise<void> {
  await Promise.all((await cgroupDirs(rel, root)).map((dir) => removeTree(dir)));
}

/** rmdir a group on every hierarchy; true when none is left (absent counts), false when one is busy. */
export async function removeEmptyCgroup(rel: string, root = CGROUP_ROOT): Promise<boolean> {
  if (!rel || rel === '/') return false;
  const results = await Promise.all((await cgroupDirs(rel, root)).map(async (dir) => {
    try {
      await rmdir(dir);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }));
  return !results.includes(false);
}

/** cgroup dirs can only be rmdir'ed, children first; their pseudo files go with them. */
async function removeTree(dir: string): Promise<void> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return;
  }
  for (const e of entries) if (e.isDirectory()) await removeTree(path.join(dir, e.name));
  try {
    await rmdir(dir);
  } catch { /* busy or gone */ }
}

/** Cgroup dirs that exist for `rel` (tests use this to prove cleanup). */
export async function existingCgroupDirs(rel: string, root = CGROUP_ROOT): Promise<string[]> {
  const out: string[] = [];
  for (const dir of await cgroupDirs(rel, root)) {
    try {
      await access(dir);
      out.push(dir);
    } catch { /* absent */ }
  }
  return out;
}
