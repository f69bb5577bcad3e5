/**
 * pause, unpause, rename, restart, update, top, stats, container prune and system prune — docker's flags,
 * columns, prompts and messages — plus the run/create flags for restart policies and health checks.
 */
import { filtersFromFlags } from '../../client/types';
import type { EngineClient } from '../../client/engine-client';
import { StatusError } from '../errors';
import type { FlagSpec, FlagValues } from '../flags';
import { renderRows } from '../formatter';
import type { CommandContext, CommandDef } from '../registry';
import { alignColumns } from '../tabwriter';
import { bytesSize, humanSize, humanSizeWithPrecision, truncateId } from '../units';
import { confirmOrCancel, eachArg, formatOrDefault, listFormatFlag, pruneForceFlag } from './common';
import { ramInBytes } from './run-flags-resources';

const enc = encodeURIComponent;

const post = (client: EngineClient, path: string, query?: Record<string, string | number | boolean | undefined>, body?: unknown) =>
  client.transport.discard({ method: 'POST', path, query, ...(body !== undefined ? { body } : {}) });

const pause: CommandDef = {
  paths: [['container', 'pause'], ['pause']],
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Pause all processes within one or more containers',
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    await eachArg(ctx, (n) => post(client, `/containers/${enc(n)}/pause`));
  },
};

const unpause: CommandDef = {
  paths: [['container', 'unpause'], ['unpause']],
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Unpause all processes within one or more containers',
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    await eachArg(ctx, (n) => post(client, `/containers/${enc(n)}/unpause`));
  },
};

const rename: CommandDef = {
  paths: [['container', 'rename'], ['rename']],
  usage: 'CONTAINER NEW_NAME',
  description: 'Rename a container',
  args: { min: 2, max: 2 },
  async run(ctx) {
    const [oldName, newName] = ctx.args.map((a) => a.trim());
    if (!oldName || !newName) throw new StatusError(1, 'Error: Neither old nor new names may be empty');
    const client = await ctx.client();
    await post(client, `/containers/${enc(oldName)}/rename`, { name: newName });
  },
};

/** stop and restart: the same flags, one request per container. */
function stopOrRestart(action: 'stop' | 'restart', usage: string, description: string): CommandDef {
  return {
    paths: [['container', action], [action]],
    usage,
    description,
    args: { min: 1 },
    flags: [
      { name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container' },
      { name: 'time', short: 't', kind: 'int', description: 'Seconds to wait before killing the container' },
    ],
    async run(ctx) {
      const client = await ctx.client();
      const t = ctx.flags.isSet('time') ? ctx.flags.int('time') : undefined;
      await eachArg(ctx, (n) => post(client, `/containers/${enc(n)}/${action}`, { t, signal: ctx.flags.string('signal') || undefined }));
    },
  };
}

const stop = stopOrRestart('stop', '[OPTIONS] CONTAINER [CONTAINER...]', 'Stop one or more running containers');
const restart = stopOrRestart('restart', '[OPTIONS] CONTAINER [CONTAINER...]', 'Restart one or more containers');

/** `no`, `always`, `unless-stopped`, `on-failure[:N]` → HostConfig.RestartPolicy */
export function parseRestartPolicy(v: string): { Name: string; MaximumRetryCount: number } {
  const [name, count] = v.split(':');
  if (count !== undefined && name !== 'on-failure') throw new StatusError(125, `invalid argument "${v}" for "--restart" flag: invalid restart policy format: maximum retry count can only be used with 'on-failure'`);
  const n = count === undefined ? 0 : Number(count);
  if (!Number.isInteger(n) || n < 0) throw new StatusError(125, `invalid argument "${v}" for "--restart" flag: invalid restart policy format: maximum retry count must be a positive integer`);
  return { Name: name, MaximumRetryCount: n };
}

const update: CommandDef = {
  paths: [['container', 'update'], ['update']],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Update configuration of one or more containers',
  args: { min: 1 },
  flags: [
    { name: 'blkio-weight', kind: 'int', valueName: 'uint16', description: 'Block IO (relative weight), between 10 and 1000, or 0 to disable (default 0)' },
    { name: 'cpu-period', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) period' },
    { name: 'cpu-quota', kind: 'int', description: 'Limit CPU CFS (Completely Fair Scheduler) quota' },
    { name: 'cpu-shares', short: 'c', kind: 'int', description: 'CPU shares (relative weight)' },
    { name: 'cpus', kind: 'string', valueName: 'decimal', description: 'Number of CPUs' },
    { name: 'cpuset-cpus', kind: 'string', description: 'CPUs in which to allow execution (0-3, 0,1)' },
    { name: 'cpuset-mems', kind: 'string', description: 'MEMs in which to allow execution (0-3, 0,1)' },
    { name: 'memory', short: 'm', kind: 'string', valueName: 'bytes', description: 'Memory limit' },
    { name: 'memory-reservation', kind: 'string', valueName: 'bytes', description: 'Memory soft limit' },
    { name: 'memory-swap', kind: 'string', valueName: 'bytes', description: "Swap limit equal to memory plus swap: -1 to enable unlimited swap" },
    { name: 'pids-limit', kind: 'int', description: 'Tune container pids limit (set -1 for unlimited)' },
    { name: 'restart', kind: 'string', description: 'Restart policy to apply when a container exits' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    const body: Record<string, unknown> = {};
    if (f.isSet('blkio-weight')) body.BlkioWeight = f.int('blkio-weight');
    if (f.isSet('cpu-period')) body.CpuPeriod = f.int('cpu-period');
    if (f.isSet('cpu-quota')) body.CpuQuota = f.int('cpu-quota');
    if (f.isSet('cpu-shares')) body.CpuShares = f.int('cpu-shares');
    if (f.string('cpus')) body.NanoCpus = Math.round(Number(f.string('cpus')) * 1e9);
    if (f.string('cpuset-cpus')) body.CpusetCpus = f.string('cpuset-cpus');
    if (f.string('cpuset-mems')) body.CpusetMems = f.string('cpuset-mems');
    if (f.string('memory')) body.Memory = ramInBytes(f.string('memory'), 'memory');
    if (f.string('memory-reservation')) body.MemoryReservation = ramInBytes(f.string('memory-reservation'), 'memory-reservation');
    if (f.string('memory-swap')) body.MemorySwap = f.string('memory-swap') === '-1' ? -1 : ramInBytes(f.string('memory-swap'), 'memory-swap');
    if (f.isSet('pids-limit')) body.PidsLimit = f.int('pids-limit');
    if (f.string('restart')) body.RestartPolicy = parseRestartPolicy(f.string('restart'));
    if (Object.keys(body).length === 0) throw new StatusError(1, 'you must provide one or more flags when using this command');
    const client = await ctx.client();
    await eachArg(ctx, (n) => post(client, `/containers/${enc(n)}/update`, undefined, body));
  },
};

const top: CommandDef = {
  paths: [['container', 'top'], ['top']],
  usage: 'CONTAINER [ps OPTIONS]',
  description: 'Display the running processes of a container',
  args: { min: 1 },
  interspersed: false,
  async run(ctx) {
    const client = await ctx.client();
    const [name, ...psArgs] = ctx.args;
    const r = await client.json<{ Titles: string[]; Processes: string[][] }>({
      path: `/containers/${enc(name)}/top`, query: { ps_args: psArgs.length ? psArgs.join(' ') : undefined },
    });
    const lines = [r.Titles.join('\t'), ...(r.Processes ?? []).map((p) => p.join('\t'))].join('\n') + '\n';
    ctx.out(alignColumns(lines, { minWidth: 20, padding: 3 }));
  },
};

interface StatsJson {
  read: string;
  name: string;
  id: string;
  cpu_stats: { cpu_usage: { total_usage: number; percpu_usage?: number[] }; system_cpu_usage: number; online_cpus: number };
  precpu_stats: { cpu_usage: { total_usage: number }; system_cpu_usage: number };
  memory_stats: { usage?: number; limit?: number; stats?: Record<string, number> };
  blkio_stats: { io_service_bytes_recursive: { op: string; value: number }[] | null };
  pids_stats: { current?: number };
  networks?: Record<string, { rx_bytes: number; tx_bytes: number }>;
}

/** One row as the docker CLI computes it (calculateCPUPercentUnix, memory without inactive file cache). */
export function statsRow(s: StatsJson) {
  const cpuDelta = s.cpu_stats.cpu_usage.total_usage - s.precpu_stats.cpu_usage.total_usage;
  const sysDelta = s.cpu_stats.system_cpu_usage - s.precpu_stats.system_cpu_usage;
  const online = s.cpu_stats.online_cpus || s.cpu_stats.cpu_usage.percpu_usage?.length || 0;
  const cpu = sysDelta > 0 && cpuDelta > 0 ? (cpuDelta / sysDelta) * online * 100 : 0;
  const st = s.memory_stats.stats ?? {};
  const cache = st.total_inactive_file ?? st.inactive_file ?? 0;
  const usage = s.memory_stats.usage ?? 0;
  const mem = cache < usage ? usage - cache : usage;
  const limit = s.memory_stats.limit ?? 0;
  let read = 0;
  let write = 0;
  for (const e of s.blkio_stats.io_service_bytes_recursive ?? []) {
    if (e.op.toLowerCase() === 'read') read += e.value;
    else if (e.op.toLowerCase() === 'write') write += e.value;
  }
  let rx = 0;
  let tx = 0;
  for (const n of Object.values(s.networks ?? {})) { rx += n.rx_bytes; tx += n.tx_bytes; }
  return {
    ID: truncateId(s.id), Container: truncateId(s.id), Name: s.name.replace(/^\//, ''),
    CPUPerc: `${cpu.toFixed(2)}%`,
    MemUsage: `${bytesSize(mem)} / ${bytesSize(limit)}`,
    MemPerc: `${(limit ? (mem / limit) * 100 : 0).toFixed(2)}%`,
    NetIO: `${humanSizeWithPrecision(rx, 3)} / ${humanSizeWithPrecision(tx, 3)}`,
    BlockIO: `${humanSizeWithPrecision(read, 3)} / ${humanSizeWithPrecision(write, 3)}`,
    PIDs: String(s.pids_stats.current ?? 0),
  };
}

const STATS_TABLE = 'table {{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t{{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}';
const STATS_HEADER = {
  ID: 'CONTAINER ID', Container: 'CONTAINER', Name: 'NAME', CPUPerc: 'CPU %', MemUsage: 'MEM USAGE / LIMIT', MemPerc: 'MEM %',
  NetIO: 'NET I/O', BlockIO: 'BLOCK I/O', PIDs: 'PIDS',
};

const stats: CommandDef = {
  paths: [['container', 'stats'], ['stats']],
  usage: '[OPTIONS] [CONTAINER...]',
  description: 'Display a live stream of container(s) resource usage statistics',
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
    listFormatFlag,
    { name: 'no-stream', kind: 'bool', description: 'Disable streaming stats and only pull the first result' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  ],
  async run(ctx) {
    const client = await ctx.client();
    let names = ctx.args;
    if (names.length === 0) {
      const list = await client.json<{ Id: string }[]>({ path: '/containers/json', query: { all: ctx.flags.bool('all') } });
      names = list.map((c) => c.Id);
    }
    const source = formatOrDefault(ctx.flags.string('format'), (ctx.config().file.statsFormat as string | undefined) || 'table');
    const format = source === 'table' ? STATS_TABLE : source;
    const once = async () => Promise.all(names.map(async (n) => {
      const s = await client.json<StatsJson>({ path: `/containers/${enc(n)}/stats`, query: { stream: '0' } });
      const row = statsRow(s);
      return ctx.flags.bool('no-trunc') ? { ...row, ID: s.id, Container: s.id } : row;
    }));
    if (ctx.flags.bool('no-stream')) {
      ctx.out(renderRows(format, await once(), STATS_HEADER));
      return;
    }
    for (;;) {
      const rows = await once();
      ctx.out('\x1b[2J\x1b[H' + renderRows(format, rows, STATS_HEADER));
    }
  },
};

async function reclaimedLine(ctx: CommandContext, bytes: number): Promise<void> {
  ctx.out(`Total reclaimed space: ${humanSize(bytes)}\n`);
}

const pruneContainersCmd: CommandDef = {
  paths: [['container', 'prune']],
  usage: '[OPTIONS]',
  description: 'Remove all stopped containers',
  args: { max: 0 },
  flags: [
    { name: 'filter', kind: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    pruneForceFlag,
  ],
  async run(ctx) {
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    if (!ctx.flags.bool('force')) await confirmOrCancel(ctx, 'WARNING! This will remove all stopped containers.\nAre you sure you want to continue?');
    const client = await ctx.client();
    const r = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>({
      method: 'POST', path: '/containers/prune', query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    });
    const deleted = r.ContainersDeleted ?? [];
    if (deleted.length) ctx.out(`Deleted Containers:\n${deleted.map((d) => `${d}\n`).join('')}\n`);
    await reclaimedLine(ctx, r.SpaceReclaimed ?? 0);
  },
};

function systemPruneWarning(all: boolean, volumes: boolean, filters: string[]): string {
  const items = ['all stopped containers', 'all networks not used by at least one container'];
  if (volumes) items.push('all anonymous volumes not used by at least one container');
  items.push(all ? 'all images without at least one container associated to them' : 'all dangling images');
  items.push(all ? 'all build cache' : 'unused build cache');
  let s = 'WARNING! This will remove:\n' + items.map((i) => `  - ${i}\n`).join('');
  if (filters.length) s += `\n  Items to be pruned will be filtered with:\n${filters.map((f) => `  - ${f}\n`).join('')}`;
  return s + '\nAre you sure you want to continue?';
}

const systemPrune: CommandDef = {
  paths: [['system', 'prune']],
  usage: '[OPTIONS]',
  description: 'Remove unused data',
  args: { max: 0 },
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Remove all unused images not just dangling ones' },
    { name: 'filter', kind: 'filter', description: 'Provide filter values (e.g. "label=<key>=<value>")' },
    pruneForceFlag,
    { name: 'volumes', kind: 'bool', description: 'Prune anonymous volumes' },
  ],
  async run(ctx) {
    const all = ctx.flags.bool('all');
    const volumes = ctx.flags.bool('volumes');
    const filterList = ctx.flags.list('filter');
    if (!ctx.flags.bool('force')) await confirmOrCancel(ctx, systemPruneWarning(all, volumes, filterList));
    const client = await ctx.client();
    const filters = filtersFromFlags(filterList);
    const q = (extra: Record<string, Record<string, boolean>> = {}) => {
      const f = { ...filters, ...extra };
      return { filters: Object.keys(f).length ? JSON.stringify(f) : undefined };
    };
    let total = 0;
    const section = (title: string, lines: string[]) => { if (lines.length) ctx.out(`${title}:\n${lines.map((l) => `${l}\n`).join('')}\n`); };
    const c = await client.json<{ ContainersDeleted: string[] | null; SpaceReclaimed: number }>({ method: 'POST', path: '/containers/prune', query: q() });
    section('Deleted Containers', c.ContainersDeleted ?? []);
    total += c.SpaceReclaimed ?? 0;
    const n = await client.json<{ NetworksDeleted: string[] | null }>({ method: 'POST', path: '/networks/prune', query: q() });
    section('Deleted Networks', n.NetworksDeleted ?? []);
    if (volumes) {
      const v = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>({ method: 'POST', path: '/volumes/prune', query: q() });
      section('Deleted Volumes', v.VolumesDeleted ?? []);
      total += v.SpaceReclaimed ?? 0;
    }
    const i = await client.pruneImages({ ...filters, dangling: { [String(!all)]: true } });
    section('Deleted Images', (i.ImagesDeleted ?? []).map((d) => (d.Untagged ? `untagged: ${d.Untagged}` : `deleted: ${d.Deleted}`)));
    total += i.SpaceReclaimed ?? 0;
    const b = await client.json<{ CachesDeleted: string[] | null; SpaceReclaimed: number }>({
      method: 'POST', path: '/build/prune', query: { all: all || undefined, ...q() },
    }).catch(() => ({ CachesDeleted: null, SpaceReclaimed: 0 }));
    section('Deleted build cache objects', b.CachesDeleted ?? []);
    total += b.SpaceReclaimed ?? 0;
    await reclaimedLine(ctx, total);
  },
};

/** run/create flags: restart policy and health check (applied to the create body). */
export const LIFECYCLE_FLAGS: FlagSpec[] = [
  { name: 'restart', kind: 'string', default: 'no', description: 'Restart policy to apply when a container exits' },
  { name: 'health-cmd', kind: 'string', description: 'Command to run to check health' },
  { name: 'health-interval', kind: 'string', description: 'Time between running the check (ms|s|m|h) (default 0s)' },
  { name: 'health-retries', kind: 'int', description: 'Consecutive failures needed to report unhealthy' },
  { name: 'health-start-interval', kind: 'string', description: 'Time between running the check during the start period (ms|s|m|h) (default 0s)' },
  { name: 'health-start-period', kind: 'string', description: 'Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)' },
  { name: 'health-timeout', kind: 'string', description: 'Maximum time to allow one check to run (ms|s|m|h) (default 0s)' },
  { name: 'no-healthcheck', kind: 'bool', description: 'Disable any container-specified HEALTHCHECK' },
];

const DURATION_NS: Record<string, number> = { ns: 1, us: 1e3, ms: 1e6, s: 1e9, m: 60e9, h: 3600e9 };

/** A Go duration ("1s", "1m30s", "500ms") in nanoseconds. */
export function durationNs(v: string, flag: string): number {
  if (!/^((\d+(\.\d+)?)(ns|us|ms|s|m|h))+$/.test(v) && v !== '0') throw new StatusError(125, `invalid argument "${v}" for "--${flag}" flag: time: invalid duration "${v}"`);
  let total = 0;
  for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|ms|s|m|h)/g)) total += Number(m[1]) * DURATION_NS[m[2]];
  return Math.round(total);
}

export function applyLifecycleFlags(f: FlagValues, body: Record<string, unknown>): void {
  const hc = (body.HostConfig ??= {}) as Record<string, unknown>;
  if (f.string('restart') && f.string('restart') !== 'no') hc.RestartPolicy = parseRestartPolicy(f.string('restart'));
  if (f.bool('no-healthcheck')) {
    if (f.string('health-cmd')) throw new StatusError(125, '--no-healthcheck conflicts with --health-* options');
    body.Healthcheck = { Test: ['NONE'] };
    return;
  }
  const check: Record<string, unknown> = {};
  if (f.string('health-cmd')) check.Test = ['CMD-SHELL', f.string('health-cmd')];
  if (f.string('health-interval')) check.Interval = durationNs(f.string('health-interval'), 'health-interval');
  if (f.string('health-timeout')) check.Timeout = durationNs(f.string('health-timeout'), 'health-timeout');
  if (f.string('health-start-period')) check.StartPeriod = durationNs(f.string('health-start-period'), 'health-start-period');
  if (f.string('health-start-interval')) check.StartInterval = durationNs(f.string('health-start-interval'), 'health-start-interval');
  if (f.isSet('health-retries')) check.Retries = f.int('health-retries');
  if (Object.keys(check).length) body.Healthcheck = check;
}

export const containerOpsCommands: CommandDef[] = [pause, unpause, rename, stop, restart, update, top, stats, pruneContainersCmd, systemPrune];
