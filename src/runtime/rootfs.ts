import { mkdir, readFile } from 'node:fs/promises';
import { internal } from '../errors';
import { runTool } from './exec-file';
import { defaultSpawnServer } from './spawn-server';

export interface OverlayMount {
  /** lowerdir option; relative paths are resolved against `cwd` (the layer store root keeps it short) */
  lower: string;
  upper: string;
  work: string;
  target: string;
  cwd: string;
}

/** Mount a container's overlay root filesystem. The option string must stay under a page: hence relative lowers. */
export async function mountOverlay(m: OverlayMount): Promise<void> {
  if (await isMounted(m.target)) return;
  const options = `lowerdir=${m.lower},upperdir=${m.upper},workdir=${m.work}`;
  const server = defaultSpawnServer();
  if (server && (await server.available())) {
    await server.mount('overlay', 'overlay', m.target, options, m.cwd).catch((err: Error) => {
      throw internal(`error mounting container root filesystem: ${err.message}`);
    });
    return;
  }
  const r = await runTool('mount', ['-t', 'overlay', 'overlay', '-o', options, m.target], { cwd: m.cwd, timeoutMs: 30_000 });
  if (r.code !== 0) throw internal(`error mounting container root filesystem: ${r.stderr.trim()}`);
}

/** Mount a tmpfs at `target` (made if missing) unless one is there; `options` as mount -o takes them. */
export async function mountTmpfs(target: string, options: string[]): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o755 });
  if (await isMounted(target)) return;
  const r = await runTool('mount', ['-t', 'tmpfs', '-o', options.join(','), 'shm', target], { timeoutMs: 30_000 });
  if (r.code !== 0) throw internal(`error mounting ${target}: ${r.stderr.trim()}`);
}

/** Unmount when mounted; a missing mount is fine. Falls back to a lazy unmount when busy. */
export async function unmountIfMounted(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  const server = defaultSpawnServer();
  if (server && (await server.available())) {
    try {
      await server.umount(target);
    } catch {
      try {
        await server.umount(target, true);
      } catch (err) {
        if (await isMounted(target)) throw internal(`error unmounting ${target}: ${(err as Error).message}`);
      }
    }
    return;
  }
  let r = await runTool('umount', [target], { timeoutMs: 30_000 });
  if (r.code !== 0) r = await runTool('umount', ['-l', target], { timeoutMs: 30_000 });
  if (r.code !== 0 && (await isMounted(target))) throw internal(`error unmounting ${target}: ${r.stderr.trim()}`);
}

export async function isMounted(target: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  for (const line of info.split('\n')) {
    const mp = line.split(' ')[4];
    if (mp && decodeMountPath(mp) === target) return true;
  }
  return false;
}

function decodeMountPath(p: string): string {
  return p.replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}
