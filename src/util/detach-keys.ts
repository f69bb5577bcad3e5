/** Docker's detach key sequences (`ctrl-p,ctrl-q`), used by the CLI and by the daemon's attach/exec streams. */

export const DEFAULT_DETACH_KEYS = 'ctrl-p,ctrl-q';

/**
 * Docker's detach key syntax: comma-separated keys, each a single character or `ctrl-<c>` where <c> is a
 * letter or one of `@[\]^_`. Throws with docker's wording on a bad sequence.
 */
export function parseDetachKeys(spec: string): Buffer {
  const out: number[] = [];
  for (const key of spec.split(',')) {
    const k = key.trim();
    if (k.length > 1 && k.toLowerCase().startsWith('ctrl-')) {
      const c = k.slice(5).toLowerCase();
      if (c.length === 1 && c >= 'a' && c <= 'z') { out.push(c.charCodeAt(0) - 96); continue; }
      const special = ['@', '[', '\\', ']', '^', '_'].indexOf(c);
      if (c.length === 1 && special >= 0) { out.push([0, 27, 28, 29, 30, 31][special]); continue; }
      throw new Error(`Unknown character: '${k}'`);
    }
    if (k.length !== 1) throw new Error(`Unknown character: '${k}'`);
    out.push(k.charCodeAt(0));
  }
  return Buffer.from(out);
}

/**
 * Watches typed input for the detach sequence. Bytes that could start the sequence are held back until
 * it is clear they don't complete it, then passed on, so a lone ctrl-p still reaches the container.
 */
export class DetachKeyScanner {
  private matched = 0;
  constructor(private readonly keys: Buffer) {}

  /** `forward`: bytes for the container; `detach`: the sequence was typed (nothing after it is forwarded). */
  push(chunk: Buffer): { forward: Buffer; detach: boolean } {
    const out: number[] = [];
    for (const b of chunk) {
      if (b === this.keys[this.matched]) {
        this.matched++;
        if (this.matched === this.keys.length) return { forward: Buffer.from(out), detach: true };
        continue;
      }
      if (this.matched > 0) {
        out.push(...this.keys.subarray(0, this.matched));
        this.matched = 0;
        if (b === this.keys[0]) { this.matched = 1; continue; }
      }
      out.push(b);
    }
    return { forward: Buffer.from(out), detach: false };
  }
}
