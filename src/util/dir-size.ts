import { lstat, readdir } from 'node:fs/promises';
import * as path from 'node:path';

/**
 * Bytes under `dir` as dockerd counts them (container SizeRw, volume sizes, reclaimed space): the sizes of
 * everything but directories — regular files and the symlinks themselves (their target's length) — each
 * hard-linked inode once, symlinks not followed; 0 for a missing dir.
 */
export async function directorySize(dir: string): Promise<number> {
  return walk(dir, new Set());
}

async function walk(dir: string, seen: Set<string>): Promise<number> {
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch {
    return 0;
  }
  let total = 0;
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      total += await walk(p, seen);
      continue;
    }
    const st = await lstat(p).catch(() => undefined);
    if (!st) continue;
    if (st.nlink > 1) {
      const key = `${st.dev}:${st.ino}`;
      if (seen.has(key)) continue;
      seen.add(key);
    }
    total += st.size;
  }
  return total;
}
