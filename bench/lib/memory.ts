/** Memory of a daemon and its helper processes, from /proc/<pid>/smaps_rollup (PSS counts shared pages fairly). */
import { readdir, readFile } from 'node:fs/promises';

export interface MemoryUse {
  /** kibibytes, summed over the processes */
  pssKiB: number;
  rssKiB: number;
  processes: number;
}

async function rollup(pid: number): Promise<{ pss: number; rss: number } | undefined> {
  try {
    const text = await readFile(`/proc/${pid}/smaps_rollup`, 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name}:\\s+(\\d+) kB`, 'm').exec(text)?.[1] ?? 0);
    return { pss: field('Pss'), rss: field('Rss') };
  } catch {
    return undefined;
  }
}

/** Pids whose command line contains `needle` (e.g. a daemon's temp dir, which its conmons/shims name). */
export async function pidsWithArg(needle: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    try {
      const cmdline = (await readFile(`/proc/${name}/cmdline`, 'utf8')).replace(/\0/g, ' ');
      if (cmdline.includes(needle)) out.push(Number(name));
    } catch { /* gone */ }
  }
  return out;
}

export async function memoryOf(pids: number[]): Promise<MemoryUse> {
  const use: MemoryUse = { pssKiB: 0, rssKiB: 0, processes: 0 };
  for (const pid of new Set(pids)) {
    const r = await rollup(pid);
    if (!r) continue;
    use.pssKiB += r.pss;
    use.rssKiB += r.rss;
    use.processes++;
  }
  return use;
}
