import { readFile } from 'node:fs/promises';

/** Is `pid` a live process that is not a zombie? */
export async function processAlive(pid: number): Promise<boolean> {
  if (!(pid > 0)) return false;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return false;
  }
}
