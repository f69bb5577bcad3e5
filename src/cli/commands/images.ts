/** Image commands that read or change local images: images/ls, history, tag, rmi, image prune, image inspect. */
import type { HistoryItem, ImageSummary } from '../../client/types';
import { filtersFromFlags } from '../../client/types';
import { formatterRow, isTableFormat, renderRows } from '../formatter';
import type { CommandDef, ManagementGroup } from '../registry';
import { ellipsis, goTimeString, humanSize, humanSizeWithPrecision, rfc3339, timeAgo, truncateId } from '../units';
import { confirmOrCancel, familiarName, filterFlag, formatOrDefault, fullName, listFormatFlag, parseUserReference, pruneForceFlag } from './common';
import { inspectWithFormat } from './inspect';
import { StatusError } from '../errors';
import { humanDuration } from '../units';

export const imageGroups: ManagementGroup[] = [{ name: 'image', description: 'Manage images' }];

const IMAGE_TABLE = 'table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';
const IMAGE_TABLE_DIGEST = 'table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{if .CreatedSince }}{{.CreatedSince}}{{else}}N/A{{end}}\t{{.Size}}';

export const IMAGE_HEADER: Record<string, string> = {
  ID: 'IMAGE ID', Repository: 'REPOSITORY', Tag: 'TAG', Digest: 'DIGEST', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT',
  Size: 'SIZE', Containers: 'CONTAINERS', SharedSize: 'SHARED SIZE', UniqueSize: 'UNIQUE SIZE',
};

/** docker's imageContext fields for one (repository, tag, digest) row of an image */
export function imageRow(img: ImageSummary, repo: string, tag: string, digest: string, trunc: boolean, now = Date.now()): Record<string, unknown> {
  const na = (n: number, f: (x: number) => string) => (n === -1 ? 'N/A' : f(n));
  return formatterRow({
    ID: trunc ? truncateId(img.Id) : img.Id,
    Repository: repo,
    Tag: tag,
    Digest: digest,
    CreatedSince: img.Created ? timeAgo(img.Created, now) : '',
    CreatedAt: goTimeString(img.Created),
    Size: humanSizeWithPrecision(img.Size, 3),
    Containers: img.Containers === -1 || img.Containers === undefined ? 'N/A' : String(img.Containers),
    SharedSize: na(img.SharedSize ?? -1, humanSize),
    UniqueSize: img.Size === -1 || (img.SharedSize ?? -1) === -1 ? 'N/A' : humanSize(img.Size - img.SharedSize),
    VirtualSize: humanSize(img.VirtualSize ?? img.Size),
  }, '*formatter.imageContext');
}

function isDangling(img: ImageSummary): boolean {
  const tags = img.RepoTags ?? [];
  const digests = img.RepoDigests ?? [];
  if (tags.length === 0 && digests.length === 0) return true;
  return tags.length === 1 && tags[0] === '<none>:<none>' && digests.length === 1 && digests[0] === '<none>@<none>';
}

/** One row per repository:tag (and per digest when digests are shown), as docker's imageFormat. */
export function imageRows(images: ImageSummary[], opts: { trunc: boolean; digest: boolean; formatHasDigest: boolean }): Record<string, unknown>[] {
  const rows: Record<string, unknown>[] = [];
  const now = Date.now();
  for (const img of images) {
    if (isDangling(img)) {
      rows.push(imageRow(img, '<none>', '<none>', '<none>', opts.trunc, now));
      continue;
    }
    const repoTags = new Map<string, string[]>();
    const repoDigests = new Map<string, string[]>();
    for (const t of img.RepoTags ?? []) {
      try {
        const ref = parseUserReference(t);
        if (!ref.tag) continue;
        const name = familiarName(ref);
        repoTags.set(name, [...(repoTags.get(name) ?? []), ref.tag]);
      } catch { /* unparsable entries are skipped, as docker does */ }
    }
    for (const d of img.RepoDigests ?? []) {
      try {
        const ref = parseUserReference(d);
        if (!ref.digest) continue;
        const name = familiarName(ref);
        repoDigests.set(name, [...(repoDigests.get(name) ?? []), ref.digest]);
      } catch { /* skipped */ }
    }
    const needDigest = opts.digest || opts.formatHasDigest;
    for (const [repo, tags] of repoTags) {
      const digests = needDigest ? repoDigests.get(repo) ?? [] : [];
      repoDigests.delete(repo);
      for (const tag of tags) {
        if (digests.length === 0) rows.push(imageRow(img, repo, tag, '<none>', opts.trunc, now));
        else for (const d of digests) rows.push(imageRow(img, repo, tag, d, opts.trunc, now));
      }
    }
    for (const [repo, digests] of repoDigests) {
      if (opts.digest) for (const d of digests) rows.push(imageRow(img, repo, '<none>', d, opts.trunc, now));
      else rows.push(imageRow(img, repo, '<none>', '', opts.trunc, now));
    }
  }
  return rows;
}

/** NewImageFormat: the format string for `images` given --format, -q and --digests. */
export function imageListFormat(source: string, quiet: boolean, digest: boolean): string {
  if (source === 'table') return quiet ? '{{.ID}}' : digest ? IMAGE_TABLE_DIGEST : IMAGE_TABLE;
  if (isTableFormat(source) && digest && !source.includes('{{.Digest}}')) return source + '\t{{.Digest}}';
  return source;
}

const listImages: CommandDef = {
  paths: [['image', 'ls'], ['image', 'list'], ['images']],
  usage: '[OPTIONS] [REPOSITORY[:TAG]]',
  description: 'List images',
  category: 'common',
  args: { max: 1 },
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Show all images (default hides intermediate images)' },
    { name: 'digests', kind: 'bool', description: 'Show digests' },
    filterFlag(),
    listFormatFlag,
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
    { name: 'tree', kind: 'bool', description: 'List multi-platform images as a tree (EXPERIMENTAL)' },
  ],
  async run(ctx) {
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    if (ctx.args[0]) (filters.reference ??= {})[ctx.args[0]] = true;
    const client = await ctx.client();
    const images = await client.listImages({ all: ctx.flags.bool('all'), filters });
    let source = ctx.flags.string('format');
    if (!source) source = ctx.flags.bool('quiet') ? 'table' : (ctx.config().file.imagesFormat as string | undefined) || 'table';
    const format = imageListFormat(source, ctx.flags.bool('quiet'), ctx.flags.bool('digests'));
    const rows = imageRows(images, { trunc: !ctx.flags.bool('no-trunc'), digest: ctx.flags.bool('digests'), formatHasDigest: format.includes('{{.Digest}}') });
    ctx.out(renderRows(format, rows, IMAGE_HEADER));
  },
};

const HISTORY_TABLE = 'table {{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
const HISTORY_TABLE_NON_HUMAN = 'table {{.ID}}\t{{.CreatedAt}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}';
const HISTORY_HEADER = { ID: 'IMAGE', CreatedSince: 'CREATED', CreatedAt: 'CREATED AT', CreatedBy: 'CREATED BY', Size: 'SIZE', Comment: 'COMMENT' };
const EPOCH_2000 = Date.UTC(2000, 0, 1) / 1000;

export function historyRow(h: HistoryItem, trunc: boolean, human: boolean, now = Date.now()): Record<string, unknown> {
  const createdAt = rfc3339(h.Created);
  const createdBy = (h.CreatedBy ?? '').replace(/\t/g, ' ');
  return formatterRow({
    ID: trunc ? truncateId(h.Id) : h.Id,
    CreatedAt: createdAt,
    CreatedSince: !human ? createdAt : h.Created <= EPOCH_2000 ? 'N/A' : humanDuration(now - h.Created * 1000) + ' ago',
    CreatedBy: trunc ? ellipsis(createdBy, 45) : createdBy,
    Size: human ? humanSizeWithPrecision(h.Size, 3) : String(h.Size),
    Comment: h.Comment ?? '',
  }, '*image.historyContext');
}

const history: CommandDef = {
  paths: [['image', 'history'], ['history']],
  usage: '[OPTIONS] IMAGE',
  description: 'Show the history of an image',
  args: { min: 1, max: 1 },
  flags: [
    listFormatFlag,
    { name: 'human', short: 'H', kind: 'bool', default: true, description: 'Print sizes and dates in human readable format' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
    { name: 'platform', kind: 'string', description: 'Show history for the given platform. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Only show image IDs' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const items = await client.imageHistory(ctx.args[0], ctx.flags.string('platform') || undefined);
    const human = ctx.flags.bool('human');
    const source = formatOrDefault(ctx.flags.string('format'));
    const format = source === 'table' ? (ctx.flags.bool('quiet') ? '{{.ID}}' : human ? HISTORY_TABLE : HISTORY_TABLE_NON_HUMAN) : source;
    const now = Date.now();
    ctx.out(renderRows(format, items.map((h) => historyRow(h, !ctx.flags.bool('no-trunc'), human, now)), HISTORY_HEADER));
  },
};

const tag: CommandDef = {
  paths: [['image', 'tag'], ['tag']],
  usage: 'SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]',
  description: 'Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE',
  args: { min: 2, max: 2 },
  async run(ctx) {
    const [source, target] = ctx.args;
    let ref;
    try {
      ref = parseUserReference(target);
    } catch (err) {
      throw new StatusError(1, `Error parsing reference: ${JSON.stringify(target)} is not a valid repository/tag: ${(err as Error).message}`);
    }
    if (ref.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
    const client = await ctx.client();
    await client.tagImage(source, fullName(ref), ref.tag);
  },
};

const removeImages: CommandDef = {
  paths: [['image', 'rm'], ['image', 'remove'], ['rmi']],
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Remove one or more images',
  args: { min: 1 },
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force removal of the image' },
    { name: 'no-prune', kind: 'bool', description: 'Do not delete untagged parents' },
    { name: 'platform', kind: 'strings', description: 'Remove only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const errors: string[] = [];
    const force = ctx.flags.bool('force');
    for (const name of ctx.args) {
      try {
        const items = await client.removeImage(name, { force, noPrune: ctx.flags.bool('no-prune') });
        for (const it of items ?? []) {
          if (it.Deleted) ctx.out(`Deleted: ${it.Deleted}\n`);
          else if (it.Untagged) ctx.out(`Untagged: ${it.Untagged}\n`);
        }
      } catch (err) {
        const status = (err as { statusCode?: number }).statusCode;
        if (force && status === 404) continue;
        if (status !== undefined) errors.push(`Error response from daemon: ${(err as Error).message}`);
        else throw err;
      }
    }
    if (errors.length > 0) throw new StatusError(1, errors.join('\n'));
  },
};

const DANGLING_WARNING = 'WARNING! This will remove all dangling images.\nAre you sure you want to continue?';
const ALL_WARNING = 'WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?';

const pruneImages: CommandDef = {
  paths: [['image', 'prune']],
  usage: '[OPTIONS]',
  description: 'Remove unused images',
  args: { max: 0 },
  flags: [
    { name: 'all', short: 'a', kind: 'bool', description: 'Remove all unused images, not just dangling ones' },
    { name: 'filter', kind: 'filter', description: 'Provide filter values (e.g. "until=<timestamp>")' },
    pruneForceFlag,
  ],
  async run(ctx) {
    const all = ctx.flags.bool('all');
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    filters.dangling = { [String(!all)]: true };
    if (!ctx.flags.bool('force')) await confirmOrCancel(ctx, all ? ALL_WARNING : DANGLING_WARNING);
    const client = await ctx.client();
    const report = await client.pruneImages(filters);
    const deleted = report.ImagesDeleted ?? [];
    if (deleted.length > 0) {
      let s = 'Deleted Images:\n';
      for (const d of deleted) s += d.Untagged ? `untagged: ${d.Untagged}\n` : `deleted: ${d.Deleted}\n`;
      ctx.out(s + '\n');
    }
    ctx.out(`Total reclaimed space: ${humanSize(report.SpaceReclaimed ?? 0)}\n`);
  },
};

const inspectImages: CommandDef = {
  paths: [['image', 'inspect']],
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Display detailed information on one or more images',
  args: { min: 1 },
  flags: [
    { name: 'format', short: 'f', kind: 'string', description: `Format output using a custom template:
'json':             Print in JSON format
'TEMPLATE':         Print output using the given Go template.
Refer to https://docs.docker.com/go/formatting/ for more information about formatting output with templates` },
    { name: 'platform', kind: 'string', description: `Inspect a specific platform of the multi-platform image.
If the image or the server is not multi-platform capable, the command will error out if the platform does not match.
'os[/arch[/variant]]': Explicit platform (eg. linux/amd64)` },
  ],
  async run(ctx) {
    const client = await ctx.client();
    // daemon errors are reported as they are: "Error response from daemon: No such image: x"
    return inspectWithFormat(ctx, ctx.args, (name) => client.inspectImage(name));
  },
};

export const imageCommands: CommandDef[] = [listImages, history, tag, removeImages, pruneImages, inspectImages];
