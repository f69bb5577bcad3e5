/**
 * Network namespaces as bind-mounted nsfs files under <exec-root>/netns, made without `ip netns` (which
 * only knows /run/netns). The directory is a shared bind mount of itself, as `ip netns` does for
 * /run/netns, so an unmount propagates to copies of it taken by mount namespaces created in between.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, open, readFile, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import { internal } from '../errors';
import { runTool } from './exec';

/** Mount points listed in /proc/self/mountinfo (field 5), unescaped. */
export async function mountPoints(): Promise<Set<string>> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const f = line.split(' ');
    if (f.length > 4) out.add(f[4].replace(/\\(\d{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return out;
}

export class NetnsDir {
  private ready?: Promise<void>;

  constructor(readonly dir: string) {}

  private init(): Promise<void> {
    this.ready ??= (async () => {
      await mkdir(this.dir, { recursive: true, mode: 0o755 });
      if ((await mountPoints()).has(this.dir)) return;
      const bind = await runTool('mount', ['--bind', this.dir, this.dir]);
      if (bind.code !== 0) throw internal(`bind mount ${this.dir}: ${bind.stderr.trim()}`);
      await runTool('mount', ['--make-shared', this.dir]);
    })();
    this.ready.catch(() => { this.ready = undefined; });
    return this.ready;
  }

  pathFor(name: string): string {
    return path.join(this.dir, name);
  }

  /** A new network namespace pinned at <dir>/<name>; returns its path. */
  async create(name: string): Promise<string> {
    await this.init();
    const file = this.pathFor(name);
    if ((await mountPoints()).has(file)) return file;
    await (await open(file, 'a', 0o644)).close();
    const r = await runTool('unshare', [`--net=${file}`, 'true']);
    if (r.code !== 0) {
      await rm(file, { force: true });
      throw internal(`create network namespace ${file}: ${r.stderr.trim()}`);
    }
    return file;
  }

  /** Unmount and delete a namespace file made by `create` (a missing file is fine). */
  async remove(file: string): Promise<void> {
    if (path.dirname(file) !== this.dir) throw internal(`refusing to remove ${file}: not under ${this.dir}`);
    if ((await mountPoints()).has(file)) {
      const r = await runTool('umount', [file]);
      if (r.code !== 0) await runTool('umount', ['-l', file]);
    }
    await rm(file, { force: true });
  }

  /**
   * Run `fn` with a fresh namespace that is removed afterwards (teardown when the real one is gone). Each
   * name in `ifnames` exists in it as one end of a veth pair: netavark 1.4 stops its teardown (keeping the
   * bridge and the network's chains) when it cannot delete the container interface.
   */
  async withThrowaway<T>(fn: (file: string) => Promise<T>, ifnames: string[] = []): Promise<T> {
    const file = await this.create(`gc-${randomBytes(6).toString('hex')}`);
    try {
      for (const [i, name] of ifnames.entries()) {
        await runTool('nsenter', [`--net=${file}`, 'ip', 'link', 'add', name, 'type', 'veth', 'peer', 'name', `gcpeer${i}`]);
      }
      return await fn(file);
    } finally {
      await this.remove(file);
    }
  }

  /** Names of namespace files present (mounted or not). */
  async list(): Promise<string[]> {
    try {
      return await readdir(this.dir);
    } catch {
      return [];
    }
  }

  /** Remove every namespace file and the directory's own bind mount (tests, shutdown of a temp exec-root). */
  async destroy(): Promise<void> {
    for (const name of await this.list()) await this.remove(this.pathFor(name));
    if ((await mountPoints()).has(this.dir)) await runTool('umount', [this.dir]);
    this.ready = undefined;
  }
}
