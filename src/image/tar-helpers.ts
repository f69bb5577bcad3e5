/** Helper programs (mknod, setfattr, getfattr) run without blocking the event loop, in batches. */
import { spawn } from 'node:child_process';

export interface HelperResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

export function runHelper(file: string, args: string[], opts: { cwd?: string; input?: string | Buffer } = {}): Promise<HelperResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: opts.cwd, stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout!.on('data', (c: Buffer) => out.push(c));
    child.stderr!.setEncoding('utf8').on('data', (s: string) => { if (stderr.length < 64 * 1024) stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out), stderr }));
    if (opts.input !== undefined) {
      child.stdin!.on('error', () => {});
      child.stdin!.end(opts.input);
    }
  });
}

/** Split arguments into groups whose total length stays well under the kernel's argument limit. */
export function batches(args: string[], maxBytes = 96 * 1024): string[][] {
  const out: string[][] = [];
  let cur: string[] = [];
  let len = 0;
  for (const a of args) {
    const n = Buffer.byteLength(a) + 1;
    if (cur.length && len + n > maxBytes) {
      out.push(cur);
      cur = [];
      len = 0;
    }
    cur.push(a);
    len += n;
  }
  if (cur.length) out.push(cur);
  return out;
}

/** getfattr/setfattr dump format escapes: backslash, newline and non-printables as \ooo. */
export function escapeAttrPath(p: string): string {
  const bytes = Buffer.from(p, 'utf8');
  let s = '';
  for (const b of bytes) {
    if (b === 0x5c || b < 0x21 || b >= 0x7f || b === 0x3d) s += '\\' + b.toString(8).padStart(3, '0');
    else s += String.fromCharCode(b);
  }
  return s;
}

/** Inverse of the dump escaping; `s` is the dump read as latin1 (one char per byte). */
export function unescapeAttrPath(s: string): string {
  const latin = s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return Buffer.from(latin, 'latin1').toString('utf8');
}
