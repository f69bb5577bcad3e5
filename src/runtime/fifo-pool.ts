import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { internal } from '../errors';
import type { ToolLauncher } from './tool-launcher';

/**
 * Fresh named pipes made ahead of need (Node cannot mkfifo; one `mkfifo` run makes a batch). Each is
 * handed out once; the taker deletes it.
 */
export class FifoPool {
  private free: string[] = [];
  private seq = 0;
  private refill?: Promise<void>;

  constructor(private readonly launcher: ToolLauncher, readonly dir: string, private readonly batch = 8) {}

  async take(): Promise<string> {
    while (this.free.length === 0) await this.fill();
    const f = this.free.shift()!;
    if (this.free.length < this.batch / 2) void this.fill().catch(() => undefined);
    return f;
  }

  private fill(): Promise<void> {
    this.refill ??= (async () => {
      try {
        await mkdir(this.dir, { recursive: true, mode: 0o700 });
        const names = Array.from({ length: this.batch }, () => path.join(this.dir, `${process.pid}-${++this.seq}`));
        const r = await this.launcher.run('mkfifo', ['-m', '600', ...names]);
        if (r.code !== 0) throw internal(`mkfifo: ${r.stderr.trim()}`);
        this.free.push(...names);
      } finally {
        this.refill = undefined;
      }
    })();
    return this.refill;
  }
}
