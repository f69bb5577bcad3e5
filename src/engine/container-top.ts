/**
 * GET /containers/{id}/top: the container's processes from its cgroup's cgroup.procs, described by the
 * host's `ps` run with the caller's ps_args (default -ef) and filtered to those pids, as dockerd does.
 */
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { internal, invalidArgument } from '../errors';
import { cgroupMode } from '../runtime/cgroups';
import { runTool } from '../runtime/exec-file';

const CGROUP_ROOT = '/sys/fs/cgroup';

export interface TopResult {
  Titles: string[];
  Processes: string[][];
}

/** Pids in the cgroup `rel` (relative to each hierarchy root). */
export async function cgroupPids(rel: string, root = CGROUP_ROOT): Promise<number[]> {
  const candidates = (await cgroupMode(root)) === 'v2'
    ? [path.join(root, rel)]
    : ['pids', 'memory', 'cpuacct', 'freezer'].map((ctl) => path.join(root, ctl, rel));
  for (const dir of candidates) {
    try {
      const t = await readFile(path.join(dir, 'cgroup.procs'), 'utf8');
      return t.split('\n').filter(Boolean).map(Number);
    } catch { /* try the next hierarchy */ }
  }
  return [];
}

/** Split `ps` output and keep the rows of `pids`; the last column keeps its spaces (the command line). */
export function parsePs(output: string, pids: number[]): TopResult {
  const lines = output.split('\n').filter((l) => l.trim() !== '');
  if (lines.length === 0) throw internal('ps returned no output');
  const titles = lines[0].trim().split(/\s+/);
  const pidIndex = titles.indexOf('PID');
  if (pidIndex < 0) throw internal("Couldn't find PID field in ps output");
  const wanted = new Set(pids);
  const processes: string[][] = [];
  for (const line of lines.slice(1)) {
    const fields = line.trim().split(/\s+/);
    if (fields.length <= pidIndex) continue;
    const pid = Number(fields[pidIndex]);
    if (!wanted.has(pid)) continue;
    const head = fields.slice(0, titles.length - 1);
    const rest = fields.slice(titles.length - 1).join(' ');
    processes.push([...head, rest]);
  }
  return { Titles: titles, Processes: processes };
}

export async function topProcesses(rel: string, psArgs: string): Promise<TopResult> {
  const args = psArgs.trim() ? psArgs.trim().split(/\s+/) : ['-ef'];
  const pids = await cgroupPids(rel);
  const r = await runTool('ps', args, { timeoutMs: 30_000 });
  if (r.code !== 0) throw invalidArgument(`ps: ${r.stderr.trim() || `exit status ${r.code}`}`);
  return parsePs(r.stdout, pids);
}
