/**
 * Freezing a running container (runc pause/resume) around work on its files from the host. While we resolve a
 * path inside the rootfs and then open it, a process in the container could swap a directory for a symlink
 * and send us out of the rootfs; frozen, it cannot (the race behind CVE-2018-15664). Commit freezes too, so
 * the layer it reads is consistent. A container that already exited (its exit not yet handled) needs nothing.
 */
import { internal } from '../errors';
import { runTool } from '../runtime/exec-file';
import type { ContainerService } from './containers';
import type { ContainerRecord } from './containers-store';

async function runcVerb(svc: ContainerService, verb: 'pause' | 'resume', id: string) {
  const runc = svc.runtime.runc;
  return runTool(runc.binary, ['--root', runc.stateRoot, verb, id], { timeoutMs: 30_000 });
}

/** Run `fn` with `c` frozen when it is running (call under the container's lock). */
export async function whileFrozen<T>(svc: ContainerService, c: ContainerRecord, fn: () => Promise<T>, onResumeError: (e: string) => void): Promise<T> {
  if (c.state.status !== 'running') return fn();
  const r = await runcVerb(svc, 'pause', c.id);
  if (r.code !== 0) {
    const st = await svc.runtime.state(c.id).catch(() => undefined);
    if (st && st.status !== 'stopped') throw internal(`cannot pause container ${c.id}: ${r.stderr.trim()}`);
    return fn();
  }
  try {
    return await fn();
  } finally {
    const res = await runcVerb(svc, 'resume', c.id);
    if (res.code !== 0) onResumeError(res.stderr.trim());
  }
}
