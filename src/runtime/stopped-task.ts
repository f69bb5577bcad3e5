import { readFile, rm, rmdir } from 'node:fs/promises';
import * as path from 'node:path';
import { removeEmptyCgroup } from './cgroups';

/** The parts of runc's `<root>/<id>/state.json` needed to delete a stopped container without runc. */
interface RuncStateFile {
  init_process_pid?: number;
  init_process_start?: number;
  cgroup_paths?: Record<string, string>;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); undefined when the process is gone. */
async function startTime(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // the command name (field 2) may hold spaces and parentheses: count fields after its closing ')'
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(rest[19]);
  } catch {
    return undefined;
  }
}

/**
 * What `runc delete` does for a container whose init has exited, without starting runc (a Go binary
 * takes ~15 ms to start): remove its cgroup dirs and its state dir. Returns false, having changed nothing
 * the runtime still needs, when this is not safe: no runc state file (crun keeps another, see
 * removeStoppedCrunTask), the init still alive, or a cgroup that still holds processes. The caller then runs the runtime's own delete.
 */
export async function removeStoppedRuncTask(stateRoot: string, id: string): Promise<boolean> {
  const dir = path.join(stateRoot, id);
  let st: RuncStateFile;
  try {
    st = JSON.parse(await readFile(path.join(dir, 'state.json'), 'utf8')) as RuncStateFile;
  } catch {
    return false;
  }
  if (!st.cgroup_paths || typeof st.init_process_pid !== 'number') return false;
  if (st.init_process_pid > 0 && (await startTime(st.init_process_pid)) === st.init_process_start) return false;
  const results = await Promise.all(Object.values(st.cgroup_paths).map(async (cg) => {
    try {
      await rmdir(cg);
      return true;
    } catch (err) {
      return (err as NodeJS.ErrnoException).code === 'ENOENT';
    }
  }));
  if (results.includes(false)) return false;
  await rm(dir, { recursive: true, force: true });
  return true;
}

/** The parts of crun's `<root>/<id>/status` needed for the same. */
interface CrunStatusFile {
  pid?: number;
  'process-start-time'?: number;
  'cgroup-path'?: string;
}

/** `crun delete` for a container whose init has exited, without starting crun; false as above. */
export async function removeStoppedCrunTask(stateRoot: string, id: string): Promise<boolean> {
  const dir = path.join(stateRoot, id);
  let st: CrunStatusFile;
  try {
    st = JSON.parse(await readFile(path.join(dir, 'status'), 'utf8')) as CrunStatusFile;
  } catch {
    return false;
  }
  if (typeof st.pid !== 'number' || typeof st['cgroup-path'] !== 'string') return false;
  if (st.pid > 0 && (await startTime(st.pid)) === st['process-start-time']) return false;
  if (!(await removeEmptyCgroup(st['cgroup-path']))) return false;
  await rm(dir, { recursive: true, force: true });
  return true;
}
