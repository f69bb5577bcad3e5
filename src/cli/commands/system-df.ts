/** `berth system df`: disk usage summary (TYPE TOTAL ACTIVE SIZE RECLAIMABLE) or per-object tables (-v). */
import type { DiskUsage } from '../../client/types';
import { formatterRow, renderRows, templateError } from '../formatter';
import type { CommandDef } from '../registry';
import { compileTemplate } from '../template';
import { ellipsis, humanSize, timeAgo, truncateId } from '../units';
import { familiarName, formatOrDefault, listFormatFlag, parseUserReference } from './common';
import { IMAGE_HEADER, imageRow } from './images';

const SUMMARY_TABLE = 'table {{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}';
const SUMMARY_HEADER = { Type: 'TYPE', TotalCount: 'TOTAL', Active: 'ACTIVE', Size: 'SIZE', Reclaimable: 'RECLAIMABLE' };

const withPercent = (reclaimable: number, total: number) =>
  total > 0 ? `${humanSize(reclaimable)} (${Math.trunc((reclaimable * 100) / total)}%)` : humanSize(reclaimable);

/** The four summary rows, computed from /system/df as docker v28's formatter does. */
export function diskUsageSummary(du: DiskUsage): Record<string, unknown>[] {
  const images = du.Images ?? [];
  const containers = du.Containers ?? [];
  const volumes = du.Volumes ?? [];
  const cache = du.BuildCache ?? [];
  const layers = du.LayersSize ?? 0;
  let usedByImages = 0;
  for (const i of images) if (i.Containers > 0 && i.Size !== -1 && i.SharedSize !== -1) usedByImages += i.Size - i.SharedSize;
  const activeContainer = (s?: string) => s === 'running' || s === 'paused' || s === 'restarting';
  const ctrSize = containers.reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const ctrReclaim = containers.filter((c) => !activeContainer(c.State)).reduce((n, c) => n + (c.SizeRw ?? 0), 0);
  const volSize = volumes.reduce((n, v) => n + (v.UsageData && v.UsageData.Size !== -1 ? v.UsageData.Size : 0), 0);
  const volReclaim = volumes.filter((v) => (v.UsageData?.RefCount ?? 0) === 0).reduce((n, v) => n + (v.UsageData && v.UsageData.Size !== -1 ? v.UsageData.Size : 0), 0);
  const cacheSize = cache.filter((c) => !c.Shared).reduce((n, c) => n + c.Size, 0);
  const cacheReclaim = cache.filter((c) => !c.Shared && !c.InUse).reduce((n, c) => n + c.Size, 0);
  const row = (Type: string, total: number, active: number, size: number, reclaimable: string) =>
    formatterRow({ Type, TotalCount: String(total), Active: String(active), Size: humanSize(size), Reclaimable: reclaimable }, '*formatter.diskUsageContext');
  return [
    row('Images', images.length, images.filter((i) => i.Containers > 0).length, layers, withPercent(layers - usedByImages, layers)),
    row('Containers', containers.length, containers.filter((c) => activeContainer(c.State)).length, ctrSize, withPercent(ctrReclaim, ctrSize)),
    row('Local Volumes', volumes.length, volumes.filter((v) => (v.UsageData?.RefCount ?? 0) > 0).length, volSize, withPercent(volReclaim, volSize)),
    row('Build Cache', cache.length, cache.filter((c) => c.InUse).length, cacheSize, humanSize(cacheReclaim)),
  ];
}

const CONTAINER_TABLE = 'table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}';
const CONTAINER_HEADER = { ID: 'CONTAINER ID', Image: 'IMAGE', Command: 'COMMAND', LocalVolumes: 'LOCAL VOLUMES', Size: 'SIZE', RunningFor: 'CREATED', Status: 'STATUS', Names: 'NAMES' };
const VOLUME_TABLE = 'table {{.Name}}\t{{.Links}}\t{{.Size}}';
const VOLUME_HEADER = { Name: 'VOLUME NAME', Links: 'LINKS', Size: 'SIZE' };
const CACHE_TABLE = 'table {{.ID}}\t{{.CacheType}}\t{{.Size}}\t{{.CreatedSince}}\t{{.LastUsedSince}}\t{{.UsageCount}}\t{{.Shared}}';
const CACHE_HEADER = { ID: 'CACHE ID', CacheType: 'CACHE TYPE', Size: 'SIZE', CreatedSince: 'CREATED', LastUsedSince: 'LAST USED', UsageCount: 'USAGE', Shared: 'SHARED' };
const IMAGE_DF_TABLE = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}';

function verboseRows(du: DiskUsage, trunc: boolean) {
  const images = (du.Images ?? []).map((i) => {
    let repo = '<none>';
    let tag = '<none>';
    const first = (i.RepoTags ?? [])[0];
    if (first && first !== '<none>:<none>') {
      try {
        const ref = parseUserReference(first);
        if (ref.tag) { repo = familiarName(ref); tag = ref.tag; }
      } catch { /* shown as <none> */ }
    }
    return imageRow(i, repo, tag, '', trunc);
  });
  const containers = (du.Containers ?? []).map((c) => formatterRow({
    ID: trunc ? truncateId(c.Id) : c.Id,
    Image: c.Image ?? '',
    Command: trunc ? `"${ellipsis(c.Command ?? '', 20)}"` : `"${c.Command ?? ''}"`,
    LocalVolumes: String((c.Mounts ?? []).filter((m) => m.Type === 'volume').length),
    Size: humanSize(c.SizeRw ?? 0),
    RunningFor: c.Created ? timeAgo(c.Created) : '',
    Status: c.Status ?? '',
    Names: (c.Names ?? []).map((n) => n.replace(/^\//, '')).join(','),
  }, '*formatter.ContainerContext'));
  const volumes = (du.Volumes ?? []).map((v) => formatterRow({
    Name: v.Name,
    Links: v.UsageData ? String(v.UsageData.RefCount) : 'N/A',
    Size: v.UsageData && v.UsageData.Size !== -1 ? humanSize(v.UsageData.Size) : 'N/A',
  }, '*formatter.volumeContext'));
  const cache = (du.BuildCache ?? []).map((b) => formatterRow({
    ID: b.ID,
    CacheType: b.Type ?? '',
    Size: humanSize(b.Size),
    CreatedSince: b.CreatedAt ? timeAgo(Date.parse(b.CreatedAt) / 1000) : '',
    LastUsedSince: b.LastUsedAt ? timeAgo(Date.parse(b.LastUsedAt) / 1000) : '',
    UsageCount: String(b.UsageCount ?? 0),
    Shared: String(b.Shared === true),
  }, '*formatter.buildCacheContext'));
  return { Images: images, Containers: containers, Volumes: volumes, BuildCache: cache };
}

export const diskUsageCommand: CommandDef = {
  paths: [['system', 'df']],
  usage: '[OPTIONS]',
  description: 'Show berth disk usage',
  args: { max: 0 },
  flags: [listFormatFlag, { name: 'verbose', short: 'v', kind: 'bool', description: 'Show detailed information on space usage' }],
  async run(ctx) {
    const client = await ctx.client();
    const du = await client.diskUsage();
    const format = formatOrDefault(ctx.flags.string('format'));
    if (!ctx.flags.bool('verbose')) {
      ctx.out(renderRows(format === 'table' ? SUMMARY_TABLE : format, diskUsageSummary(du), SUMMARY_HEADER));
      return;
    }
    const rows = verboseRows(du, format.startsWith('table'));
    if (format !== 'table') {
      try {
        ctx.out(compileTemplate(format === 'json' ? '{{json .}}' : format).execute(rows));
      } catch (err) {
        throw templateError(err);
      }
      return;
    }
    const cacheTotal = (du.BuildCache ?? []).reduce((n, b) => n + b.Size, 0);
    ctx.out('Images space usage:\n\n' + renderRows(IMAGE_DF_TABLE, rows.Images, IMAGE_HEADER));
    ctx.out('\nContainers space usage:\n\n' + renderRows(CONTAINER_TABLE, rows.Containers, CONTAINER_HEADER));
    ctx.out('\nLocal Volumes space usage:\n\n' + renderRows(VOLUME_TABLE, rows.Volumes, VOLUME_HEADER));
    ctx.out(`\nBuild cache usage: ${humanSize(cacheTotal)}\n\n` + renderRows(CACHE_TABLE, rows.BuildCache, CACHE_HEADER));
  },
};
