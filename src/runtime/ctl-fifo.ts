import { constants as fsConstants } from 'node:fs';
import { open } from 'node:fs/promises';
import * as path from 'node:path';

/** conmon needs to have read one message before the next arrives; this gap keeps them apart. */
const GAP_MS = 25;
const queues = new Map<string, Promise<void>>();

/**
 * Write one message to conmon's ctl fifo in `dir`. conmon 2.1.6 handles the first line of a read twice
 * when two messages arrive together (runtime.md pitfall 7), so messages to one fifo are sent one per
 * write, in order, with a short pause after each (the docker CLI sends two resizes back to back on attach).
 */
export function writeCtl(dir: string, message: string): Promise<void> {
  const prev = queues.get(dir) ?? Promise.resolve();
  const next = prev.then(async () => {
    const fh = await open(path.join(dir, 'ctl'), fsConstants.O_WRONLY | fsConstants.O_NONBLOCK);
    try {
      await fh.write(message);
    } finally {
      await fh.close();
    }
    await new Promise((r) => setTimeout(r, GAP_MS));
  });
  const tail = next.catch(() => undefined);
  queues.set(dir, tail);
  void tail.then(() => { if (queues.get(dir) === tail) queues.delete(dir); });
  return next;
}
