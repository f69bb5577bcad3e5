/** `berth volume create|ls|inspect|rm|prune` with docker's flags, columns and messages. */
import { ApiError } from '../../client/transport';
import { filtersFromFlags } from '../../client/types';
import { StatusError } from '../errors';
import { formatterRow, renderRows } from '../formatter';
import type { CommandContext, CommandDef, ManagementGroup } from '../registry';
import { humanSize } from '../units';
import { confirmOrCancel, filterFlag, inspectFormatFlag, listFormatFlag, pruneForceFlag } from './common';
import { inspectWithFormat, registerInspector } from './inspect';

export const volumeGroups: ManagementGroup[] = [{ name: 'volume', description: 'Manage volumes' }];

interface Volume {
  Name: string;
  Driver: string;
  Mountpoint: string;
  Scope: string;
  Labels: Record<string, string> | null;
  UsageData?: { Size: number; RefCount: number } | null;
}

const VOLUME_TABLE = 'table {{.Driver}}\t{{.Name}}';
const VOLUME_HEADER = {
  Name: 'VOLUME NAME', Driver: 'DRIVER', Scope: 'SCOPE', Mountpoint: 'MOUNTPOINT', Labels: 'LABELS', Links: 'LINKS', Size: 'SIZE',
  Group: 'GROUP', Availability: 'AVAILABILITY', Status: 'STATUS',
};

/** `k=v` pairs joined by commas, as docker's formatter prints label maps. */
export function joinLabels(labels: Record<string, string> | null | undefined): string {
  return Object.entries(labels ?? {}).map(([k, v]) => `${k}=${v}`).join(',');
}

/** Parse repeated `key=value` flag values (docker's map/list options). */
export function keyValues(values: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const v of values) {
    const i = v.indexOf('=');
    if (i < 0) out[v] = '';
    else out[v.slice(0, i)] = v.slice(i + 1);
  }
  return out;
}

function volumeRow(v: Volume): Record<string, unknown> {
  return formatterRow({
    Name: v.Name, Driver: v.Driver, Scope: v.Scope, Mountpoint: v.Mountpoint, Labels: joinLabels(v.Labels),
    Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A', Size: v.UsageData ? humanSize(v.UsageData.Size) : 'N/A',
    Group: 'N/A', Availability: 'N/A', Status: 'N/A',
  }, '*formatter.volumeContext');
}

async function inspectVolume(ctx: CommandContext, name: string): Promise<Record<string, unknown>> {
  const client = await ctx.client();
  return client.json<Record<string, unknown>>({ path: `/volumes/${encodeURIComponent(name)}` });
}

registerInspector({
  type: 'volume',
  order: 30,
  async inspect(ctx, name) {
    try {
      return await inspectVolume(ctx, name);
    } catch (err) {
      if (err instanceof ApiError && err.statusCode === 404) return undefined;
      throw err;
    }
  },
});

const createVolume: CommandDef = {
  paths: [['volume', 'create']],
  usage: '[OPTIONS] [VOLUME]',
  description: 'Create a volume',
  args: { max: 1 },
  flags: [
    { name: 'driver', short: 'd', kind: 'string', default: 'local', description: 'Specify volume driver name' },
    { name: 'label', kind: 'list', description: 'Set metadata for a volume' },
    { name: 'name', kind: 'string', description: 'Specify volume name', hidden: true },
    { name: 'opt', short: 'o', kind: 'list', valueName: 'map', default: 'map[]', description: 'Set driver specific options' },
  ],
  async run(ctx) {
    let name = ctx.flags.string('name');
    if (ctx.args[0]) {
      if (name && name !== ctx.args[0]) throw new StatusError(1, 'conflicting options: cannot specify a volume-name through both --name and as a positional arg');
      name = ctx.args[0];
    }
    const client = await ctx.client();
    const v = await client.json<Volume>({
      method: 'POST', path: '/volumes/create',
      body: { Name: name, Driver: ctx.flags.string('driver') || 'local', DriverOpts: keyValues(ctx.flags.list('opt')), Labels: keyValues(ctx.flags.list('label')) },
    });
    ctx.out(`${v.Name}\n`);
  },
};

const listVolumes: CommandDef = {
  paths: [['volume', 'ls'], ['volume', 'list']],
  usage: '[OPTIONS]',
  description: 'List volumes',
  args: { max: 0 },
  flags: [
    { name: 'cluster', kind: 'bool', description: 'Display only cluster volumes, and use cluster volume list formatting' },
    filterFlag('Provide filter values (e.g. "dangling=true")'),
    listFormatFlag,
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display volume names' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    const res = await client.json<{ Volumes: Volume[] | null; Warnings?: string[] | null }>({
      path: '/volumes', query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    });
    if (ctx.flags.bool('cluster')) return;
    const volumes = [...(res.Volumes ?? [])].sort((a, b) => a.Name.localeCompare(b.Name));
    let source = ctx.flags.string('format');
    if (!source) source = ctx.flags.bool('quiet') ? 'table' : (ctx.config().file.volumesFormat as string | undefined) || 'table';
    const format = source === 'table' ? (ctx.flags.bool('quiet') ? '{{.Name}}' : VOLUME_TABLE) : source;
    ctx.out(renderRows(format, volumes.map(volumeRow), VOLUME_HEADER));
  },
};

const inspectVolumes: CommandDef = {
  paths: [['volume', 'inspect']],
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Display detailed information on one or more volumes',
  args: { min: 1 },
  flags: [inspectFormatFlag],
  run: (ctx) => inspectWithFormat(ctx, ctx.args, (name) => inspectVolume(ctx, name)),
};

const removeVolumes: CommandDef = {
  paths: [['volume', 'rm'], ['volume', 'remove']],
  usage: '[OPTIONS] VOLUME [VOLUME...]',
  description: 'Remove one or more volumes. You cannot remove a volume that is in use by a container.',
  args: { min: 1 },
  flags: [{ name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of one or more volumes' }],
  async run(ctx) {
    const client = await ctx.client();
    const errors: string[] = [];
    for (const name of ctx.args) {
      try {
        await client.transport.discard({ method: 'DELETE', path: `/volumes/${encodeURIComponent(name)}`, query: { force: ctx.flags.bool('force') } });
        ctx.out(`${name}\n`);
      } catch (err) {
        if (!(err instanceof ApiError)) throw err;
        errors.push(`Error response from daemon: ${err.message}`);
      }
    }
    if (errors.length > 0) throw new StatusError(1, errors.join('\n'));
  },
};

const PRUNE_WARNING = 'WARNING! This will remove anonymous local volumes not used by at least one container.\nAre you sure you want to continue?';
const PRUNE_ALL_WARNING = 'WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?';

const pruneVolumes: CommandDef = {
  paths: [['volume', 'prune']],
  usage: '[OPTIONS]',
  description: 'Remove unused local volumes',
  args: { max: 0 },
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Remove all unused volumes, not just anonymous ones' },
    { name: 'filter', kind: 'filter', description: 'Provide filter values (e.g. "label=<label>")' },
    pruneForceFlag,
  ],
  async run(ctx) {
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    const all = ctx.flags.bool('all') || Object.keys(filters.all ?? {}).some((v) => v === 'true' || v === '1');
    if (ctx.flags.bool('all')) filters.all = { true: true };
    if (!ctx.flags.bool('force')) await confirmOrCancel(ctx, all ? PRUNE_ALL_WARNING : PRUNE_WARNING);
    const client = await ctx.client();
    const report = await client.json<{ VolumesDeleted: string[] | null; SpaceReclaimed: number }>({
      method: 'POST', path: '/volumes/prune', query: { filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
    });
    const deleted = report.VolumesDeleted ?? [];
    if (deleted.length > 0) ctx.out(`Deleted Volumes:\n${deleted.map((d) => `${d}\n`).join('')}\n`);
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
  },
};

export const volumeCommands: CommandDef[] = [createVolume, listVolumes, inspectVolumes, removeVolumes, pruneVolumes];
