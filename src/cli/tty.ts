/** Terminal handling for interactive sessions: raw mode, window-size tracking, detach key sequences. */
import { spawnSync } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';

export { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from '../util/detach-keys';

type TtyIn = Readable & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type TtyOut = Writable & { isTTY?: boolean; rows?: number; columns?: number };

/** Puts stdin in raw mode when it is a terminal; returns the function that restores it. */
export function enterRawMode(stdin: TtyIn): () => void {
  if (!stdin.isTTY || typeof stdin.setRawMode !== 'function') return () => undefined;
  stdin.setRawMode(true);
  // libuv's raw mode keeps output post-processing (ONLCR), which would turn the container's \r\n into \r\r\n
  const fd = (stdin as { fd?: number }).fd;
  const stty = (arg: string) => { if (fd === 0) spawnSync('stty', [arg], { stdio: ['inherit', 'ignore', 'ignore'] }); };
  stty('-opost');
  let restored = false;
  return () => {
    if (restored) return;
    restored = true;
    stty('opost');
    stdin.setRawMode!(false);
  };
}

/**
 * Sends the terminal's size now and on every SIGWINCH (as the docker CLI does); returns the stop function.
 * Nothing happens when stdout is not a terminal.
 */
export function trackWindowSize(stdout: TtyOut, resize: (height: number, width: number) => Promise<unknown>): () => void {
  if (!stdout.isTTY) return () => undefined;
  const send = () => {
    const h = stdout.rows ?? 0;
    const w = stdout.columns ?? 0;
    if (h > 0 && w > 0) resize(h, w).catch(() => undefined);
  };
  send();
  process.on('SIGWINCH', send);
  return () => process.off('SIGWINCH', send);
}
