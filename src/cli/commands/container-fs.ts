/** A container's files: cp, diff, export, commit. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { StatusError } from '../errors';
import type { CommandContext, CommandDef } from '../registry';
import { parseUserReference } from './common';
import {
  extractToHost, hostDestination, hostSource, packHostPath, prepareArchiveCopy, preserveTrailing, rebaseName, splitPathDirEntry, type CopyInfo,
} from './cp-host';

interface PathStat { name: string; size: number; mode: number; mtime: string; linkTarget: string }

const GO_DIR = 2 ** 31;
const GO_SYMLINK = 2 ** 27;
const isDirMode = (m: number) => m >= GO_DIR;
const isLinkMode = (m: number) => Math.floor(m / GO_SYMLINK) % 2 === 1;

/** docker's splitCpArg: an absolute or `.`-relative path is local; otherwise `CONTAINER:PATH`. */
function splitCpArg(arg: string): { container: string; path: string } {
  if (arg.startsWith('/')) return { container: '', path: arg };
  const i = arg.indexOf(':');
  if (i < 0 || arg.startsWith('.')) return { container: '', path: arg };
  return { container: arg.slice(0, i), path: arg.slice(i + 1) };
}

function decodeStat(res: IncomingMessage): PathStat | undefined {
  const raw = res.headers['x-docker-container-path-stat'];
  if (typeof raw !== 'string' || !raw) return undefined;
  return JSON.parse(Buffer.from(raw, 'base64').toString('utf8')) as PathStat;
}

async function statPath(ctx: CommandContext, container: string, p: string): Promise<PathStat | undefined> {
  const client = await ctx.client();
  try {
    const res = await client.request({ method: 'HEAD', path: `/containers/${encodeURIComponent(container)}/archive`, query: { path: p } });
    res.resume();
    return decodeStat(res);
  } catch {
    return undefined;
  }
}

async function copyFromContainer(ctx: CommandContext, container: string, srcPath: string, dstPath: string, follow: boolean): Promise<void> {
  if (dstPath !== '-') dstPath = preserveTrailing(dstPath);
  let rebase: string | undefined;
  if (follow) {
    const st = await statPath(ctx, container, srcPath);
    if (st && isLinkMode(st.mode)) {
      let target = st.linkTarget;
      if (!target.startsWith('/')) target = path.posix.join(splitPathDirEntry(srcPath).dir, target);
      if (path.posix.basename(srcPath) !== path.posix.basename(target)) rebase = path.posix.basename(srcPath);
      srcPath = target;
    }
  }
  const client = await ctx.client();
  const res = await client.request({ method: 'GET', path: `/containers/${encodeURIComponent(container)}/archive`, query: { path: srcPath } });
  const stat = decodeStat(res);
  if (dstPath === '-') {
    await pipeline(res, ctx.stdout, { end: false });
    return;
  }
  const src: CopyInfo = { path: srcPath, exists: true, isDir: stat ? isDirMode(stat.mode) : false, rebaseName: rebase };
  const dst = await hostDestination(dstPath);
  const { dstDir, rename } = prepareArchiveCopy(src, dst);
  // the archive's top entry is named after the path we asked for; a -L rename goes first
  const srcBase = splitPathDirEntry(srcPath).base;
  const renames = rebase ? [srcBase, rename ? rename[1] : rebase] as [string, string] : rename;
  await extractToHost(res, dstDir, renames);
}

async function copyToContainer(ctx: CommandContext, srcPath: string, container: string, dstPath: string, follow: boolean, copyUIDGID: boolean): Promise<void> {
  if (srcPath !== '-') srcPath = preserveTrailing(path.resolve(srcPath) + (srcPath.endsWith('/') ? '/' : srcPath.endsWith('/.') || srcPath === '.' ? '/.' : ''));
  const dst: CopyInfo = { path: dstPath, exists: false, isDir: false };
  let st = await statPath(ctx, container, dstPath);
  if (st && isLinkMode(st.mode)) {
    let target = st.linkTarget;
    if (!target.startsWith('/')) target = path.posix.join(splitPathDirEntry(dstPath).dir, target);
    dst.path = target;
    st = await statPath(ctx, container, target);
  }
  if (st) {
    dst.exists = true;
    dst.isDir = isDirMode(st.mode);
  }
  let body: Readable;
  let dstDir: string;
  if (srcPath === '-') {
    if (!dst.isDir) throw new StatusError(1, `destination "${container}:${dstPath}" must be a directory`);
    body = ctx.stdin;
    dstDir = dst.path;
  } else {
    const src = await hostSource(srcPath, follow);
    const prepared = prepareArchiveCopy(src, dst);
    const top = src.rebaseName || splitPathDirEntry(src.path).base;
    body = packHostPath(src.path.replace(/\/\.$/, '') || '/', prepared.rename ? rebaseName(top, prepared.rename[0], prepared.rename[1]) : top);
    dstDir = prepared.dstDir;
  }
  const client = await ctx.client();
  const res = await client.request({
    method: 'PUT',
    path: `/containers/${encodeURIComponent(container)}/archive`,
    query: { path: dstDir, noOverwriteDirNonDir: true, copyUIDGID },
    headers: { 'Content-Type': 'application/x-tar' },
    body,
  });
  res.resume();
}

const cp: CommandDef = {
  paths: [['container', 'cp'], ['cp']],
  usage: '[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tberth cp [OPTIONS] SRC_PATH|- CONTAINER:DEST_PATH',
  description: 'Copy files/folders between a container and the local filesystem',
  args: { min: 2, max: 2 },
  flags: [
    { name: 'archive', short: 'a', kind: 'bool', description: 'Archive mode (copy all uid/gid information)' },
    { name: 'follow-link', short: 'L', kind: 'bool', description: 'Always follow symbol link in SRC_PATH' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress progress output during copy. Progress output is automatically suppressed if no terminal is attached' },
  ],
  async run(ctx) {
    const src = splitCpArg(ctx.args[0]);
    const dst = splitCpArg(ctx.args[1]);
    if (src.container && dst.container) throw new StatusError(1, 'copying between containers is not supported');
    if (!src.container && !dst.container) throw new StatusError(1, 'must specify at least one container source');
    if (!src.path) throw new StatusError(1, 'source path cannot be empty');
    if (!dst.path) throw new StatusError(1, 'destination path cannot be empty');
    const follow = ctx.flags.bool('follow-link');
    if (src.container) await copyFromContainer(ctx, src.container, src.path, dst.path, follow);
    else await copyToContainer(ctx, src.path, dst.container, dst.path, follow, ctx.flags.bool('archive'));
    if (!ctx.flags.bool('quiet') && ctx.stderr.isTTY && dst.path !== '-') {
      ctx.err(`Successfully copied to ${dst.container ? `${dst.container}:` : ''}${dst.path}\n`);
    }
  },
};

const KIND_LETTER = ['C', 'A', 'D'];

const diff: CommandDef = {
  paths: [['container', 'diff'], ['diff']],
  usage: 'CONTAINER',
  description: 'Inspect changes to files or directories on a container\'s filesystem',
  args: { min: 1, max: 1 },
  async run(ctx) {
    const client = await ctx.client();
    const changes = await client.json<{ Path: string; Kind: number }[] | null>({ path: `/containers/${encodeURIComponent(ctx.args[0])}/changes` });
    for (const c of changes ?? []) ctx.out(`${KIND_LETTER[c.Kind] ?? '?'} ${c.Path}\n`);
  },
};

const exportCmd: CommandDef = {
  paths: [['container', 'export'], ['export']],
  usage: '[OPTIONS] CONTAINER',
  description: 'Export a container\'s filesystem as a tar archive',
  args: { min: 1, max: 1 },
  flags: [{ name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' }],
  async run(ctx) {
    const output = ctx.flags.string('output');
    if (!output && ctx.stdout.isTTY) throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const client = await ctx.client();
    const res = await client.request({ method: 'GET', path: `/containers/${encodeURIComponent(ctx.args[0])}/export` });
    if (!output) {
      await pipeline(res, ctx.stdout, { end: false });
      return;
    }
    const tmp = path.join(path.dirname(output), `.${path.basename(output)}.${process.pid}.tmp`);
    try {
      await pipeline(res, fs.createWriteStream(tmp, { mode: 0o600 }));
      await fs.promises.rename(tmp, output);
    } catch (err) {
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
  },
};

const commit: CommandDef = {
  paths: [['container', 'commit'], ['commit']],
  usage: '[OPTIONS] CONTAINER [REPOSITORY[:TAG]]',
  description: 'Create a new image from a container\'s changes',
  args: { min: 1, max: 2 },
  flags: [
    { name: 'author', short: 'a', kind: 'string', description: 'Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")' },
    { name: 'change', short: 'c', kind: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', kind: 'string', description: 'Commit message' },
    { name: 'pause', short: 'p', kind: 'bool', default: true, description: 'Pause container during commit' },
  ],
  async run(ctx) {
    const [container, ref] = ctx.args;
    let repo: string | undefined;
    let tag: string | undefined;
    if (ref) {
      const parsed = parseUserReference(ref);
      if (parsed.digest) throw new StatusError(1, 'refusing to create a tag with a digest reference');
      const colon = ref.lastIndexOf(':');
      if (colon > ref.lastIndexOf('/')) { repo = ref.slice(0, colon); tag = ref.slice(colon + 1); } else repo = ref;
    }
    const client = await ctx.client();
    const result = await client.json<{ Id: string }>({
      method: 'POST',
      path: '/commit',
      query: {
        container, repo, tag,
        comment: ctx.flags.string('message') || undefined,
        author: ctx.flags.string('author') || undefined,
        pause: ctx.flags.bool('pause') ? undefined : '0',
        changes: ctx.flags.list('change'),
      },
      body: null,
    });
    ctx.out(`${result.Id}\n`);
  },
};

export const containerFsCommands: CommandDef[] = [cp, diff, exportCmd, commit];
