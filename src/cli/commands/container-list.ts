/** `docker ps` / `container ls`: the rows and columns of the docker CLI's container formatter. */
import { filtersFromFlags } from '../../client/types';
import { formatterRow, renderRows } from '../formatter';
import type { CommandDef } from '../registry';
import { ellipsis, humanDuration, humanSizeWithPrecision, truncateId } from '../units';
import { filterFlag, formatOrDefault, listFormatFlag } from './common';
import { displayPorts } from './run-flags-net';

interface MountSummary { Name?: string; Source?: string; Driver?: string }

interface ContainerSummary {
  Id: string; Names: string[]; Image: string; ImageID: string; Command: string; Created: number;
  State: string; Status: string; Labels: Record<string, string> | null; Ports: unknown[];
  SizeRw?: number; SizeRootFs?: number; Mounts?: MountSummary[] | null;
  NetworkSettings?: { Networks?: Record<string, unknown> | null } | null;
}

const PS_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.RunningFor}}\t{{.Status}}\t{{.Ports}}\t{{.Names}}';
const PS_HEADER: Record<string, string> = {
  ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', CreatedAt: 'CREATED AT', RunningFor: 'CREATED', Status: 'STATUS',
  Ports: 'PORTS', Names: 'NAMES', Labels: 'LABELS', State: 'STATE', Size: 'SIZE', Mounts: 'MOUNTS', Networks: 'NETWORKS', LocalVolumes: 'LOCAL VOLUMES',
};

/** `3kB (virtual 1.99MB)`; without SizeRootFs (sizes not asked for, or zero) only the first part. */
export function containerSizeText(c: { SizeRw?: number; SizeRootFs?: number }): string {
  const rw = humanSizeWithPrecision(c.SizeRw ?? 0, 3);
  return c.SizeRootFs ? `${rw} (virtual ${humanSizeWithPrecision(c.SizeRootFs, 3)})` : rw;
}

function psRow(c: ContainerSummary, trunc: boolean, now: number): Record<string, unknown> {
  const image = c.Image.startsWith('sha256:') && trunc ? truncateId(c.Image) : c.Image;
  const command = trunc ? ellipsis(c.Command, 20) : c.Command;
  const ago = Math.max(0, now - c.Created * 1000);
  const mounts = c.Mounts ?? [];
  return formatterRow({
    ID: trunc ? truncateId(c.Id) : c.Id,
    Image: image,
    Command: `"${command}"`,
    CreatedAt: new Date(c.Created * 1000).toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' +0000 UTC'),
    RunningFor: `${humanDuration(ago)} ago`,
    Status: c.Status,
    State: c.State,
    Ports: displayPorts(c.Ports),
    Names: c.Names.map((n) => n.replace(/^\//, '')).join(','),
    Labels: Object.entries(c.Labels ?? {}).map(([k, v]) => `${k}=${v}`).join(','),
    Size: containerSizeText(c),
    Mounts: mounts.map((m) => { const n = m.Name || m.Source || ''; return trunc ? ellipsis(n, 15) : n; }).join(','),
    Networks: Object.keys(c.NetworkSettings?.Networks ?? {}).sort().join(','),
    LocalVolumes: String(mounts.filter((m) => m.Driver === 'local').length),
  }, '*formatter.ContainerContext');
}

export const psCommand: CommandDef = {
  paths: [['container', 'ls'], ['container', 'list'], ['container', 'ps'], ['ps']],
  usage: '[OPTIONS]',
  description: 'List containers',
  category: 'common',
  args: { max: 0 },
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all containers (default shows just running)' },
    filterFlag(),
    listFormatFlag,
    { name: 'last', short: 'n', kind: 'int', default: -1, description: 'Show n last created containers (includes all states)' },
    { name: 'latest', short: 'l', kind: 'bool', description: 'Show the latest created container (includes all states)' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only display container IDs' },
    { name: 'size', short: 's', kind: 'bool', description: 'Display total file sizes' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    let limit = ctx.flags.isSet('last') ? ctx.flags.int('last') : -1;
    if (ctx.flags.bool('latest')) limit = 1;
    const all = ctx.flags.bool('all') || limit > 0;
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    const source = formatOrDefault(ctx.flags.string('format'), (ctx.config().file.psFormat as string | undefined) || 'table');
    const quiet = ctx.flags.bool('quiet');
    let format = quiet ? '{{.ID}}' : source === 'table' ? PS_TABLE : source;
    // as the docker CLI: -s adds the SIZE column to the default table; a format naming .Size asks for sizes too
    const size = !quiet && (ctx.flags.bool('size') || format.includes('.Size'));
    if (size && source === 'table') format += '\t{{.Size}}';
    const list = await client.json<ContainerSummary[]>({
      path: '/containers/json',
      query: {
        all, limit: limit > 0 ? limit : undefined, size: size || undefined,
        filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined,
      },
    });
    const trunc = !ctx.flags.bool('no-trunc');
    const now = Date.now();
    ctx.out(renderRows(format, list.map((c) => psRow(c, trunc, now)), PS_HEADER));
  },
};
