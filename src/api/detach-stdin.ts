import { DEFAULT_DETACH_KEYS, DetachKeyScanner, parseDetachKeys } from '../util/detach-keys';

/**
 * The stdin path of a hijacked TTY stream, as dockerd has it: the detach sequence (query `detachKeys`, or
 * the exec's DetachKeys, default ctrl-p,ctrl-q) is not passed on and ends the session instead. Without a
 * TTY, bytes pass unchanged.
 */
export function stdinWithDetachKeys(tty: boolean, keys: string | null | undefined, write: (b: Buffer) => void, onDetach: () => void): (b: Buffer) => void {
  if (!tty) return write;
  let seq: Buffer;
  try {
    seq = parseDetachKeys(keys || DEFAULT_DETACH_KEYS);
  } catch {
    seq = parseDetachKeys(DEFAULT_DETACH_KEYS);
  }
  const scanner = new DetachKeyScanner(seq);
  let detached = false;
  return (b) => {
    if (detached) return;
    const r = scanner.push(b);
    if (r.forward.length) write(r.forward);
    if (r.detach) {
      detached = true;
      onDetach();
    }
  };
}
