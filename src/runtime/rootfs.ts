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
  const failure = await mount('overlay', 'overlay', m.target, options, m.cwd);
  if (failure !== undefined) throw internal(`error mounting container root filesystem: ${failure}`);
}

/** Mount a tmpfs at `target` (made if missing) unless one is there; `options` as mount -o takes them. */
export async function mountTmpfs(target: string, options: string[]): Promise<void> {
  await mkdir(target, { recursive: true, mode: 0o755 });
  if (await isMounted(target)) return;
  const failure = await mount('tmpfs', 'shm', target, options.join(','), '/');
  if (failure !== undefined) throw internal(`error mounting ${target}: ${failure}`);
}

/** Unmount when mounted; a missing mount is fine. Falls back to a lazy unmount when busy. */
export async function unmountIfMounted(target: string): Promise<void> {
  if (!(await isMounted(target))) return;
  let failure = await umount(target, false);
  if (failure !== undefined) failure = await umount(target, true);
  if (failure !== undefined && (await isMounted(target))) throw internal(`error unmounting ${target}: ${failure}`);
}

/**
 * mount(2) through the daemon's spawn server (no fork of berthd, no mount(8) start-up), or mount(8) where
 * there is none; relative paths in `options` start at `cwd`. Resolves with the failure's text, if any.
 */
async function mount(fstype: string, source: string, target: string, options: string, cwd: string) {
  const server = defaultSpawnServer();
  if (server && (await server.available())) return failureOf(server.mount(fstype, source, target, options, cwd));
  const r = await runTool('mount', ['-t', fstype, source, '-o', options, target], { cwd, timeoutMs: 30_000 });
  return r.code === 0 ? undefined : r.stderr.trim();
}

async function umount(target: string, lazy: boolean) {
  const server = defaultSpawnServer();
  if (server && (await server.available())) return failureOf(server.umount(target, lazy));
  const r = await runTool('umount', [...(lazy ? ['-l'] : []), target], { timeoutMs: 30_000 });
  return r.code === 0 ? undefined : r.stderr.trim();
}

const failureOf = (p: Promise<void>): Promise<string | undefined> => p.then(() => undefined, (e: Error) => e.message);

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
