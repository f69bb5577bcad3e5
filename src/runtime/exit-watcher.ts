import { watch, type FSWatcher } from 'node:fs';
import { mkdir, readFile, readdir, rm } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../util/logger';

export type ExitListener = (id: string, exitCode: number) => void;

/**
 * Watches conmon's `--exit-dir`: conmon writes `<dir>/<id>` holding the decimal exit code when a
 * container's init exits. One watcher serves every container; `check` reads a file directly (startup
 * reconciliation, and a guard against an event racing the watcher's start). Each exit is reported once
 * per `expect`; the file stays until `forget` (it is the durable record across daemon restarts).
 */
export class ExitWatcher {
  private watcher?: FSWatcher;
  private readonly expected = new Set<string>();
  private poll?: NodeJS.Timeout;

  constructor(readonly dir: string, private readonly onExit: ExitListener, private readonly log: Logger) {}

  async start(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    this.watcher = watch(this.dir, (_event, file) => {
      if (file && this.expected.has(String(file))) void this.check(String(file));
    });
    this.watcher.on('error', (err) => this.log.warn('exit watcher failed', { error: err.message }));
    // inotify can drop events under pressure; a slow sweep makes a missed exit late, never lost.
    this.poll = setInterval(() => void this.sweep(), 2000);
    this.poll.unref();
  }

  stop(): void {
    this.watcher?.close();
    if (this.poll) clearInterval(this.poll);
  }

  /** Report the next exit of `id`. Call before the container is started. */
  expect(id: string): void {
    this.expected.add(id);
  }

  unexpect(id: string): void {
    this.expected.delete(id);
  }

  /** Exit code in the file, or undefined when there is none (yet). */
  async read(id: string): Promise<number | undefined> {
    let text: string;
    try {
      text = await readFile(path.join(this.dir, id), 'utf8');
    } catch {
      return undefined;
    }
    const code = Number.parseInt(text.trim(), 10);
    return Number.isFinite(code) ? code : undefined;
  }

  /** Look for the exit file now; reports it when `id` is expected. */
  async check(id: string): Promise<boolean> {
    const code = await this.read(id);
    if (code === undefined || !this.expected.has(id)) return false;
    this.expected.delete(id);
    this.onExit(id, code);
    return true;
  }

  /** Delete a stale exit file (before a restart with the same id, and on removal). */
  async forget(id: string): Promise<void> {
    this.expected.delete(id);
    await rm(path.join(this.dir, id), { force: true });
  }

  private async sweep(): Promise<void> {
    if (this.expected.size === 0) return;
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch {
      return;
    }
    for (const n of names) if (this.expected.has(n)) await this.check(n);
  }
}
