import { readFile, open, type FileHandle } from 'node:fs/promises';

/** Time between two no-op writes: well inside one RCU grace period (6–20 ms measured on this host). */
const REWRITE_MS = 2;

/**
 * Shortens an exec or a start: runc puts the new process into the container's cgroups by writing
 * cgroup.procs, and the first such write after a quiet moment waits for an RCU grace period (the kernel's
 * global cgroup_threadgroup_rwsem switches to writer mode through rcu_sync): 6–20 ms measured here, a third
 * to half of runc's whole exec. Writes within about one grace period of the previous one take microseconds. `warm(ms)` rewrites berthd's own pid into the cgroup it already is in (the kernel moves
 * nothing) every couple of milliseconds, so that wait starts early and the join finds the lock warm.
 * Anything that fails just turns the warmer off: it is only a speed-up.
 */
export class CgroupWarmer {
  private procsFile?: string | null;
  private until = 0;
  private running = false;
  /** holds not yet released, and the latest time any of them may keep the warmer going */
  private holds = 0;
  private holdCap = 0;

  /** Keep the lock warm for the next `ms` milliseconds. */
  warm(ms: number): void {
    this.until = Math.max(this.until, Date.now() + ms);
    if (!this.running && this.procsFile !== null) void this.loop();
  }

  /**
   * Keep the lock warm until the returned function is called (at most `maxMs`), e.g. around `runc create`,
   * whose cgroup joins come at a moment berthd cannot see from outside.
   */
  hold(maxMs = 2000): () => void {
    this.holds++;
    this.holdCap = Math.max(this.holdCap, Date.now() + maxMs);
    if (!this.running && this.procsFile !== null) void this.loop();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.holds--;
    };
  }

  private wanted(): boolean {
    const t = Date.now();
    return t < this.until || (this.holds > 0 && t < this.holdCap);
  }

  private async loop(): Promise<void> {
    this.running = true;
    let fh: FileHandle | undefined;
    try {
      this.procsFile ??= await ownProcsFile();
      if (!this.procsFile) return;
      fh = await open(this.procsFile, 'w');
      const pid = String(process.pid);
      while (this.wanted()) {
        await fh.write(pid);
        await new Promise((r) => setTimeout(r, REWRITE_MS));
      }
    } catch {
      this.procsFile = null;
    } finally {
      this.running = false;
      await fh?.close().catch(() => undefined);
    }
  }
}

/** cgroup.procs of berthd's own cgroup in a v1 hierarchy (the rwsem is shared by every hierarchy). */
async function ownProcsFile(): Promise<string | null> {
  const text = await readFile('/proc/self/cgroup', 'utf8').catch(() => '');
  for (const line of text.split('\n')) {
    const [, controllers, cgPath] = line.split(':');
    if (!controllers || cgPath === undefined || controllers.startsWith('name=')) continue;
    const ctrl = controllers.split(',')[0];
    const file = `/sys/fs/cgroup/${ctrl}${cgPath === '/' ? '' : cgPath}/cgroup.procs`;
    try {
      await (await open(file, 'r')).close();
      return file;
    } catch { /* not mounted there: try the next one */ }
  }
  return null;
}
