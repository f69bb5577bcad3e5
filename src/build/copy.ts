/**
 * COPY and ADD. Two phases, so the cache can be asked in between: `planCopy` resolves the sources (context,
 * another stage or an image, heredocs, URLs for ADD) and checksums everything that would be copied;
 * `copyContents` lays the files out at the destination as layer entries, with the parent directories a
 * real diff would carry. Rules as dockerd's: a directory source copies its contents; a destination ending
 * in `/` (or several sources) is a directory; wildcards match with Go's filepath.Match; sources never leave
 * their root (symlinks are resolved inside it); ADD unpacks local tar archives (plain, gzip, bzip2, xz).
 */
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { invalidArgument, notFound } from '../errors';
import { spawnFilter } from '../image/compression';
import { decodeHeader } from '../image/tar-format';
import { contentDigest, createContentHash } from './content-hash';
import { LayerContents, type LayerEntry } from './layer-writer';
import { LayeredRootfs, type TreeView } from './rootfs';
import { extractTar } from './tar-extract';

export type PlannedItem =
  | { kind: 'path'; rel: string; name: string; dir: boolean; fs: TreeView; preserveOwner?: boolean }
  | { kind: 'data'; name: string; data: Buffer; mode: number; mtime: number };

export interface CopyPlan {
  items: PlannedItem[];
  /** sha256 over paths, types, modes and content digests of everything copied */
  checksum: string;
  /** `file:<hex>`, `dir:<hex>` or `multi:<hex>`, as history shows a copy */
  describe: string;
}

export interface PlanOptions {
  cmd: 'COPY' | 'ADD';
  /** expanded source words (may hold wildcards), heredoc names removed */
  sources: string[];
  heredocs: { name: string; data: Buffer }[];
  /** where sources are read: the context, or the rootfs of a stage or image (`--from`) */
  source: TreeView;
  fromContext: boolean;
  /** puts the context on disk (before an ADD reads a local archive from it) */
  prepare?: () => Promise<void>;
  /** temp space for ADD downloads and archive extraction */
  scratch: string;
  /** content digests already known, by absolute path (the context's, hashed while it was received) */
  knownDigests?: ReadonlyMap<string, string>;
}

const WILDCARD = /[*?[]/;

/** Go filepath.Match on `/`-separated paths → RegExp. */
export function matchRegExp(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else if (c === '[') {
      const end = pattern.indexOf(']', i + 1);
      if (end < 0) throw invalidArgument(`syntax error in pattern: ${pattern}`);
      let cls = pattern.slice(i + 1, end);
      if (cls.startsWith('^')) cls = '^' + cls.slice(1);
      re += `[${cls.replace(/\\/g, '\\\\')}]`;
      i = end;
    } else if (c === '\\' && i + 1 < pattern.length) re += pattern[++i].replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
    else re += c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

function cleanSource(src: string, cmd: string, fromContext: boolean): string {
  const raw = path.posix.normalize(src.replace(/^\/+/, '') || '.');
  if (fromContext && (raw === '..' || raw.startsWith('../'))) {
    throw invalidArgument(`${cmd} failed: forbidden path outside the build context: ${src} ()`);
  }
  return path.posix.normalize('/' + raw).slice(1);
}

async function walkMatches(fsv: TreeView, pattern: string): Promise<string[]> {
  const parts = pattern.split('/');
  const out: string[] = [];
  const visit = async (dir: string, depth: number) => {
    const re = matchRegExp(parts[depth]);
    for (const n of await fsv.readdir(dir)) {
      if (!re.test(n)) continue;
      const rel = dir ? `${dir}/${n}` : n;
      if (depth === parts.length - 1) out.push(rel);
      else {
        const found = await fsv.lstat(rel);
        if (found?.st.isDirectory()) await visit(rel, depth + 1);
      }
    }
  };
  await visit('', 0);
  return out;
}

async function fileHash(abs: string, known?: ReadonlyMap<string, string>): Promise<string> {
  const digest = known?.get(abs);
  if (digest) return digest;
  const h = createContentHash();
  for await (const chunk of createReadStream(abs, { highWaterMark: 1 << 20 })) h.update(chunk as Buffer);
  return h.digest();
}

/** Every entry below (and including) `rel`, parents first, each with a checksum line. */
async function checksumTree(fsv: TreeView, rel: string, label: string, h: ReturnType<typeof createHash>,
  known?: ReadonlyMap<string, string>): Promise<void> {
  const found = await fsv.lstat(rel);
  if (!found) return;
  const st = found.st;
  const mode = (st.mode & 0o7777).toString(8);
  if (st.isDirectory()) {
    h.update(`${label}\0dir\0${mode}\n`);
    for (const n of await fsv.readdir(rel)) await checksumTree(fsv, rel ? `${rel}/${n}` : n, `${label}/${n}`, h, known);
  } else if (st.isSymbolicLink()) {
    h.update(`${label}\0symlink\0${await fsv.readlink(found)}\n`);
  } else if (st.isFile()) {
    h.update(`${label}\0file\0${mode}\0${await fileHash(found.abs, known)}\n`);
  }
}

async function download(url: string, scratch: string): Promise<PlannedItem> {
  let res: Response;
  try {
    res = await fetch(url, { redirect: 'follow' });
  } catch (err) {
    throw invalidArgument(`failed to fetch ${url}: ${(err as Error).message}`);
  }
  if (!res.ok || !res.body) throw invalidArgument(`failed to GET ${url} with status ${res.status} ${res.statusText}`);
  const file = path.join(scratch, `download-${createHash('sha256').update(url).digest('hex').slice(0, 16)}`);
  await pipeline(Readable.fromWeb(res.body as import('node:stream/web').ReadableStream<Uint8Array>), createWriteStream(file, { mode: 0o600 }));
  const name = path.posix.basename(new URL(url).pathname) || 'download';
  const modified = Date.parse(res.headers.get('last-modified') ?? '');
  return { kind: 'data', name, data: await fs.readFile(file), mode: 0o600, mtime: Number.isFinite(modified) ? modified / 1000 : 0 };
}

type ArchiveKind = 'tar' | 'gzip' | 'bzip2' | 'xz';

async function archiveKind(abs: string): Promise<ArchiveKind | undefined> {
  const fh = await fs.open(abs, 'r');
  const head = Buffer.alloc(512);
  let n: number;
  try {
    n = (await fh.read(head, 0, 512, 0)).bytesRead;
  } finally {
    await fh.close();
  }
  if (n >= 2 && head[0] === 0x1f && head[1] === 0x8b) return 'gzip';
  if (n >= 3 && head.toString('latin1', 0, 3) === 'BZh') return 'bzip2';
  if (n >= 6 && head.subarray(0, 6).equals(Buffer.from([0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]))) return 'xz';
  if (n === 512) {
    try {
      decodeHeader(head);
      return 'tar';
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/** A local archive ADD unpacks: extracted into scratch, or undefined when it is not a (readable) archive. */
async function extractArchive(abs: string, scratch: string): Promise<string | undefined> {
  const kind = await archiveKind(abs);
  if (!kind) return undefined;
  const dir = path.join(scratch, `archive-${randomBytes(8).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o755 });
  const raw = createReadStream(abs);
  const filter = kind === 'gzip' ? spawnFilter('gzip', ['-dc']) : kind === 'bzip2' ? spawnFilter('bzip2', ['-dc']) : kind === 'xz' ? spawnFilter('xz', ['-dc']) : undefined;
  const stream = filter ? raw.pipe(filter) : raw;
  raw.on('error', (e) => filter?.destroy(e));
  try {
    await extractTar(stream as AsyncIterable<Buffer>, dir, { preserveOwner: true });
  } catch {
    // not a tar after all (dockerd copies such files as they are)
    await fs.rm(dir, { recursive: true, force: true });
    return undefined;
  }
  return dir;
}

export async function planCopy(o: PlanOptions): Promise<CopyPlan> {
  const items: PlannedItem[] = [];
  const h = createHash('sha256');
  for (const doc of o.heredocs) {
    items.push({ kind: 'data', name: doc.name, data: doc.data, mode: 0o644, mtime: 0 });
    h.update(`heredoc\0${doc.name}\0${contentDigest(doc.data)}\n`);
  }
  for (const src of o.sources) {
    if (o.cmd === 'ADD' && /^https?:\/\//i.test(src)) {
      const item = await download(src, o.scratch);
      items.push(item);
      if (item.kind === 'data') h.update(`url\0${src}\0${contentDigest(item.data)}\n`);
      continue;
    }
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(src) || src.startsWith('git@')) {
      throw invalidArgument(`${o.cmd} failed: source ${src} is not supported: only http(s) URLs can be added`);
    }
    const clean = cleanSource(src, o.cmd, o.fromContext);
    let rels: string[];
    if (WILDCARD.test(clean)) {
      rels = await walkMatches(o.source, clean);
      if (rels.length === 0) throw invalidArgument(`${o.cmd} failed: no source files were specified`);
    } else rels = [clean];
    for (const rel of rels) {
      const resolved = await o.source.resolve(rel);
      const found = await o.source.lstat(resolved);
      if (!found) {
        throw notFound(o.fromContext
          ? `${o.cmd} failed: file not found in build context or excluded by .dockerignore: stat ${src}: file does not exist`
          : `${o.cmd} failed: stat ${src}: file does not exist`);
      }
      const name = path.posix.basename(rel) || path.posix.basename(resolved);
      if (o.cmd === 'ADD' && o.fromContext && found.st.isFile()) {
        await o.prepare?.();
        const extracted = await extractArchive(found.abs, o.scratch);
        if (extracted) {
          items.push({ kind: 'path', rel: '', name, dir: true, fs: new LayeredRootfs([extracted]), preserveOwner: true });
          h.update(`archive\0${name}\0${await fileHash(found.abs)}\n`);
          continue;
        }
      }
      items.push({ kind: 'path', rel: resolved, name, dir: found.st.isDirectory(), fs: o.source });
      await checksumTree(o.source, resolved, `src:${name}`, h, o.knownDigests);
    }
  }
  const hex = h.digest('hex');
  const one = items.length === 1 ? items[0] : undefined;
  const describe = `${!one ? 'multi' : one.kind === 'path' && one.dir ? 'dir' : 'file'}:${hex}`;
  return { items, checksum: `sha256:${hex}`, describe };
}

export interface CopyTarget {
  /** absolute destination in the image, a trailing `/` kept */
  dest: string;
  /** the stage's current root */
  target: LayeredRootfs;
  owner?: { uid: number; gid: number };
  chmod?: number;
  cmd: 'COPY' | 'ADD';
}

/** The layer entries a copy makes, parents included. */
export async function copyContents(plan: CopyPlan, t: CopyTarget): Promise<LayerContents> {
  const out = new LayerContents();
  const wantsDir = t.dest.endsWith('/') || t.dest.endsWith('/.') || t.dest === '/';
  if (plan.items.length > 1 && !wantsDir) {
    throw invalidArgument(`When using ${t.cmd} with more than one source file, the destination must be a directory and end with a /`);
  }
  const destRel = await t.target.resolve(t.dest);
  const existing = destRel === '' ? undefined : await t.target.lstat(destRel);
  const destIsDir = wantsDir || existing?.st.isDirectory() === true || destRel === '';
  const now = Math.floor(Date.now() / 1000);
  const owner = (st?: { uid: number; gid: number }) => t.owner ?? (st ? { uid: st.uid, gid: st.gid } : { uid: 0, gid: 0 });

  const addParents = async (rel: string) => {
    const parts = rel.split('/');
    let prefix = '';
    for (const part of parts.slice(0, -1)) {
      prefix = prefix ? `${prefix}/${part}` : part;
      if (out.has(prefix)) continue;
      const found = await t.target.lstat(prefix);
      if (found && !found.st.isDirectory()) throw invalidArgument(`${t.cmd} failed: cannot copy to non-directory: /${prefix}`);
      const o = t.owner ?? { uid: 0, gid: 0 };
      out.add(found
        ? { path: prefix, type: 'dir', mode: found.st.mode, uid: found.st.uid, gid: found.st.gid, mtime: found.st.mtimeMs / 1000 }
        : { path: prefix, type: 'dir', mode: 0o755, uid: o.uid, gid: o.gid, mtime: now });
    }
  };
  const add = async (e: LayerEntry) => {
    if (!e.path) return;
    await addParents(e.path);
    out.add(e);
  };
  const modeOf = (st: { mode: number }) => (t.chmod !== undefined ? t.chmod : st.mode & 0o7777);

  const copyTree = async (item: Extract<PlannedItem, { kind: 'path' }>, from: string, to: string) => {
    for (const n of await item.fs.readdir(from)) {
      const src = from ? `${from}/${n}` : n;
      const dst = to ? `${to}/${n}` : n;
      const found = (await item.fs.lstat(src))!;
      const st = found.st;
      const o = item.preserveOwner && !t.owner ? { uid: st.uid, gid: st.gid } : owner();
      if (st.isDirectory()) {
        await add({ path: dst, type: 'dir', mode: modeOf(st), ...o, mtime: st.mtimeMs / 1000 });
        await copyTree(item, src, dst);
      } else if (st.isSymbolicLink()) {
        await add({ path: dst, type: 'symlink', mode: 0o777, ...o, mtime: st.mtimeMs / 1000, linkname: await item.fs.readlink(found) });
      } else if (st.isFile()) {
        await add({ path: dst, type: 'file', mode: modeOf(st), ...o, mtime: st.mtimeMs / 1000, source: found.abs });
      }
    }
  };

  for (const item of plan.items) {
    if (item.kind === 'path' && item.dir) {
      if (existing && !existing.st.isDirectory()) throw invalidArgument(`${t.cmd} failed: cannot copy to non-directory: /${destRel}`);
      if (destRel && !out.has(destRel)) {
        const o = owner();
        await add(existing
          ? { path: destRel, type: 'dir', mode: existing.st.mode, uid: existing.st.uid, gid: existing.st.gid, mtime: existing.st.mtimeMs / 1000 }
          : { path: destRel, type: 'dir', mode: t.chmod ?? 0o755, ...o, mtime: now });
      }
      await copyTree(item, item.rel, destRel);
      continue;
    }
    const target = destIsDir ? (destRel ? `${destRel}/${item.name}` : item.name) : destRel;
    if (destIsDir && destRel && !out.has(destRel) && !existing) {
      const o = owner();
      await add({ path: destRel, type: 'dir', mode: 0o755, ...o, mtime: now });
    }
    if (item.kind === 'data') {
      await add({ path: target, type: 'file', mode: t.chmod ?? item.mode, ...owner(), mtime: item.mtime || now, data: item.data });
      continue;
    }
    const found = (await item.fs.lstat(item.rel))!;
    await add({ path: target, type: 'file', mode: modeOf(found.st), ...owner(), mtime: found.st.mtimeMs / 1000, source: found.abs });
  }
  return out;
}
