/**
 * Unpacks an uncompressed OCI layer tar into an empty diff directory, for overlayfs.
 *
 * Safety (DESIGN.md §6): the directory starts empty and only this code writes to it, so the applier keeps an
 * exact model of what it has made (`nodes`). Every entry name is normalised and must stay inside the root;
 * every parent component must be a directory this layer made (created here when missing) — a symlink or
 * file in a parent position rejects the layer, so nothing is ever written through a link. Hard link targets
 * must be earlier entries of the same layer. Files are created with O_EXCL|O_NOFOLLOW.
 *
 * Whiteouts: `.wh.NAME` → char device 0/0 at NAME; `.wh..wh..opq` → trusted.overlay.opaque=y on the dir.
 * Work that needs helper programs (mknod for whiteouts, setfattr) is batched at the end, then directory
 * mtimes are set last so nothing changes them afterwards. Small files are written concurrently (in
 * libuv's pool) while the tar is parsed on.
 */
import { createHash } from 'node:crypto';
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import { batches, escapeAttrPath, runHelper } from './tar-helpers';
import { TarReader } from './tar-reader';
import type { TarHeader } from './tar-format';
import type { ApplyResult } from './types';

type Kind = 'dir' | 'file' | 'symlink' | 'other' | 'whiteout';

interface Deferred {
  whiteout?: boolean;
  opaque?: boolean;
  xattrs?: Map<string, Buffer>;
  mtime?: number;
}

const WH_PREFIX = '.wh.';
const WH_META_PREFIX = '.wh..wh.';
const WH_OPAQUE = '.wh..wh..opq';
const SMALL_FILE = 1024 * 1024;
const MAX_IN_FLIGHT = 64;
const MAX_IN_FLIGHT_BYTES = 32 * 1024 * 1024;
const WRITE_BATCH = 1024 * 1024;
const CREATE_FLAGS = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;
const XATTR_NAME = /^(user|security|trusted|system)\.[A-Za-z0-9._@+:-]+$/;
const UMASK = process.umask();
const EUID = process.geteuid?.() ?? 0;
const EGID = process.getegid?.() ?? 0;

function reject(name: string, why: string): Error {
  return invalidArgument(`invalid layer entry ${JSON.stringify(name)}: ${why}`, 'BERTH_ERR_LAYER_ENTRY');
}

/** Entry name → path relative to the root ('' is the root). Refuses absolute names and `..` escapes. */
export function cleanEntryName(name: string): string {
  if (name.startsWith('/')) throw reject(name, 'absolute path');
  const n = path.posix.normalize(name).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) throw reject(name, 'path escapes the layer root');
  return n === '.' ? '' : n;
}

/** Apply `tar` into `root` (an empty directory). Returns the diff ID (sha256 of the tar bytes) and the size. */
export async function applyLayerTar(root: string, tar: AsyncIterable<Buffer>): Promise<ApplyResult> {
  const hash = createHash('sha256');
  const reader = new TarReader(tar, (chunk) => hash.update(chunk));
  const applier = new Applier(root, reader);
  try {
    const size = await applier.run();
    return { diffId: `sha256:${hash.digest('hex')}`, size };
  } catch (err) {
    await applier.settle();
    const it = tar as AsyncIterable<Buffer> & { destroy?: (e?: Error) => void };
    if (typeof it.destroy === 'function') it.destroy();
    throw err;
  }
}

class Applier {
  private readonly nodes = new Map<string, Kind>([['', 'dir']]);
  private readonly setgidDirs = new Set<string>();
  private readonly deferred = new Map<string, Deferred>();
  private readonly pending = new Map<string, Promise<void>>();
  private inFlightBytes = 0;
  private failure: unknown;
  private size = 0;

  constructor(private readonly root: string, private readonly reader: TarReader) {}

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, rel);
  }

  async run(): Promise<number> {
    for (let h = await this.reader.next(); h; h = await this.reader.next()) {
      if (this.failure !== undefined) throw this.failure;
      await this.entry(h);
    }
    await this.settle();
    if (this.failure !== undefined) throw this.failure;
    await this.finish();
    return this.size;
  }

  /** Wait for every in-flight write. */
  async settle(): Promise<void> {
    await Promise.allSettled([...this.pending.values()]);
  }

  private deferredOf(rel: string): Deferred {
    let d = this.deferred.get(rel);
    if (!d) this.deferred.set(rel, (d = {}));
    return d;
  }

  private async entry(h: TarHeader): Promise<void> {
    const rel = cleanEntryName(h.name);
    const base = path.posix.basename(rel);
    if (base.startsWith(WH_PREFIX)) return this.whiteout(h, rel, base);
    if (rel === '') {
      if (h.type !== 'dir') throw reject(h.name, 'the layer root must be a directory');
      return; // the root's own metadata belongs to the container's upper dir, not to a layer
    }
    await this.ensureParents(rel, h.name);
    switch (h.type) {
      case 'dir': return this.directory(h, rel);
      case 'file': return this.file(h, rel);
      case 'symlink': return this.symlink(h, rel);
      case 'link': return this.hardLink(h, rel);
      case 'char': case 'block': case 'fifo': return this.device(h, rel);
    }
  }

  /** Every parent of `rel` must be a directory made by this layer; missing ones are created. */
  private async ensureParents(rel: string, name: string): Promise<void> {
    const parent = path.posix.dirname(rel);
    if (parent === '.' || this.nodes.get(parent) === 'dir') return;
    let prefix = '';
    for (const part of parent.split('/')) {
      prefix = prefix ? `${prefix}/${part}` : part;
      const kind = this.nodes.get(prefix);
      if (kind === 'dir') continue;
      if (kind !== undefined && kind !== 'whiteout') throw reject(name, `parent ${prefix} is not a directory`);
      if (kind === 'whiteout') this.cancel(prefix);
      await fs.mkdir(this.abs(prefix), 0o755);
      this.nodes.set(prefix, 'dir');
    }
  }

  private cancel(rel: string): void {
    this.deferred.delete(rel);
  }

  /**
   * Clear the way for a new entry at `rel`. Returns true when an existing directory is kept (a directory
   * entry over a directory only updates its metadata).
   */
  private async replace(rel: string, newKind: Kind): Promise<boolean> {
    const existing = this.nodes.get(rel);
    if (existing === undefined) return false;
    if (existing === 'dir' && newKind === 'dir') return true;
    this.cancel(rel);
    this.nodes.delete(rel);
    if (existing === 'whiteout') return false;
    if (existing === 'dir') {
      await this.settle();
      const under = `${rel}/`;
      for (const k of [...this.nodes.keys()]) if (k.startsWith(under)) this.nodes.delete(k);
      for (const k of [...this.deferred.keys()]) if (k.startsWith(under)) this.deferred.delete(k);
      for (const k of [...this.setgidDirs]) if (k === rel || k.startsWith(under)) this.setgidDirs.delete(k);
      await fs.rm(this.abs(rel), { recursive: true, force: true });
    } else {
      await this.pending.get(rel);
      await fs.unlink(this.abs(rel));
    }
    return false;
  }

  private recordXattrs(h: TarHeader, rel: string): void {
    if (h.xattrs.size === 0) return;
    for (const name of h.xattrs.keys()) {
      // names go into setfattr's dump format, so only plain ones pass
      if (!XATTR_NAME.test(name)) throw reject(h.name, `invalid extended attribute name ${JSON.stringify(name)}`);
    }
    // overlay's own attributes (redirects, origins, opaque) must come from whiteout entries, never from a layer's headers
    const kept = [...h.xattrs].filter(([name]) => !name.startsWith('trusted.overlay.'));
    if (kept.length === 0) return;
    const d = this.deferredOf(rel);
    d.xattrs = new Map([...(d.xattrs ?? []), ...kept]);
  }

  private async directory(h: TarHeader, rel: string): Promise<void> {
    const abs = this.abs(rel);
    if (!(await this.replace(rel, 'dir'))) {
      await fs.mkdir(abs, 0o700);
      this.nodes.set(rel, 'dir');
    }
    await fs.lchown(abs, h.uid, h.gid);
    await fs.chmod(abs, h.mode & 0o7777);
    if (h.mode & 0o2000) this.setgidDirs.add(rel);
    else this.setgidDirs.delete(rel);
    this.deferredOf(rel).mtime = h.mtime;
    this.recordXattrs(h, rel);
  }

  private async file(h: TarHeader, rel: string): Promise<void> {
    await this.replace(rel, 'file');
    this.nodes.set(rel, 'file');
    this.size += h.size;
    this.recordXattrs(h, rel);
    const abs = this.abs(rel);
    const skipChown = h.uid === EUID && h.gid === EGID && !this.setgidDirs.has(path.posix.dirname(rel));
    if (h.size > SMALL_FILE) {
      await writeFile(abs, h, this.reader.body(), skipChown);
      return;
    }
    const data = await this.reader.readBody();
    while (this.pending.size >= MAX_IN_FLIGHT || (this.inFlightBytes > 0 && this.inFlightBytes + data.length > MAX_IN_FLIGHT_BYTES)) {
      await Promise.race(this.pending.values());
    }
    this.inFlightBytes += data.length;
    const p = writeFile(abs, h, [data], skipChown)
      .catch((err) => { if (this.failure === undefined) this.failure = err; })
      .finally(() => { this.inFlightBytes -= data.length; this.pending.delete(rel); });
    this.pending.set(rel, p);
  }

  private async symlink(h: TarHeader, rel: string): Promise<void> {
    await this.replace(rel, 'symlink');
    const abs = this.abs(rel);
    await fs.symlink(h.linkname, abs);
    this.nodes.set(rel, 'symlink');
    // dockerd's layer sizes count a symlink as the length of its target, so image sizes match its own
    this.size += Buffer.byteLength(h.linkname);
    await fs.lchown(abs, h.uid, h.gid);
    await fs.lutimes(abs, h.mtime, h.mtime);
    this.recordXattrs(h, rel);
  }

  private async hardLink(h: TarHeader, rel: string): Promise<void> {
    const target = cleanEntryName(h.linkname);
    const kind = this.nodes.get(target);
    if (target === '' || target === rel || kind === undefined || kind === 'dir' || kind === 'whiteout') {
      throw reject(h.name, `hard link target ${JSON.stringify(h.linkname)} is not an earlier entry of this layer`);
    }
    await this.pending.get(target);
    if (this.failure !== undefined) throw this.failure;
    await this.replace(rel, kind);
    await fs.link(this.abs(target), this.abs(rel));
    this.nodes.set(rel, kind);
  }

  private async device(h: TarHeader, rel: string): Promise<void> {
    await this.replace(rel, 'other');
    const abs = this.abs(rel);
    const args = h.type === 'fifo' ? [abs, 'p'] : [abs, h.type === 'char' ? 'c' : 'b', String(h.devmajor), String(h.devminor)];
    const r = await runHelper('mknod', args);
    if (r.code !== 0) throw new Error(`mknod ${rel}: ${r.stderr.trim()}`);
    this.nodes.set(rel, 'other');
    await fs.lchown(abs, h.uid, h.gid);
    await fs.chmod(abs, h.mode & 0o7777);
    await fs.lutimes(abs, h.mtime, h.mtime);
    this.recordXattrs(h, rel);
  }

  private async whiteout(h: TarHeader, rel: string, base: string): Promise<void> {
    const dir = path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel);
    if (base === WH_OPAQUE) {
      await this.ensureParents(rel, h.name);
      this.deferredOf(dir).opaque = true;
      return;
    }
    if (base.startsWith(WH_META_PREFIX)) return; // other AUFS bookkeeping entries carry nothing for overlay
    const hidden = base.slice(WH_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') throw reject(h.name, 'invalid whiteout');
    const target = dir ? `${dir}/${hidden}` : hidden;
    await this.ensureParents(target, h.name);
    await this.replace(target, 'whiteout');
    this.nodes.set(target, 'whiteout');
    const d = this.deferredOf(target);
    d.whiteout = true;
    d.mtime = h.mtime;
  }

  /** The batched helpers, then directory mtimes. */
  private async finish(): Promise<void> {
    const whiteouts: string[] = [];
    const opaque: string[] = [];
    const xattrs: [string, Map<string, Buffer>][] = [];
    const times: [string, number][] = [];
    for (const [rel, d] of this.deferred) {
      if (d.whiteout) whiteouts.push(`./${rel}`);
      if (d.opaque) opaque.push(rel);
      if (d.xattrs && this.nodes.get(rel) !== 'whiteout') xattrs.push([rel, d.xattrs]);
      const kind = this.nodes.get(rel);
      if (d.mtime !== undefined && (kind === 'dir' || kind === 'whiteout')) times.push([rel, d.mtime]);
    }
    for (const group of batches(whiteouts)) {
      const r = await runHelper('sh', ['-c', 'for p; do mknod "$p" c 0 0 || exit 1; done', 'sh', ...group], { cwd: this.root });
      if (r.code !== 0) throw new Error(`creating whiteouts: ${r.stderr.trim()}`);
    }
    if (opaque.length) {
      const dump = opaque.map((rel) => `# file: ./${escapeAttrPath(rel)}\ntrusted.overlay.opaque="y"\n`).join('\n');
      const r = await runHelper('setfattr', ['-h', '--restore=-'], { cwd: this.root, input: dump });
      if (r.code !== 0) throw new Error(`marking opaque directories: ${r.stderr.trim()}`);
    }
    if (xattrs.length) await restoreXattrs(this.root, xattrs);
    for (let i = 0; i < times.length; i += 64) {
      await Promise.all(times.slice(i, i + 64).map(([rel, t]) => fs.lutimes(this.abs(rel), t, t)));
    }
  }
}

/** Create a regular file (never through a link), write its bytes, then owner, mode (after chown: setuid) and mtime. */
async function writeFile(abs: string, h: TarHeader, body: AsyncIterable<Buffer> | Buffer[], skipChown: boolean): Promise<void> {
  const perm = h.mode & 0o7777;
  const fh = await fs.open(abs, CREATE_FLAGS, perm & 0o777);
  // one batch is written while the next is read, so the disk and the decompressor work at the same time
  let writing: Promise<void> | undefined;
  try {
    let batch: Buffer[] = [];
    let batchBytes = 0;
    for await (const chunk of body) {
      batch.push(chunk);
      batchBytes += chunk.length;
      if (batchBytes >= WRITE_BATCH) {
        await writing;
        writing = writeAll(fh, batch);
        writing.catch(() => {}); // awaited above or below
        batch = [];
        batchBytes = 0;
      }
    }
    await writing;
    writing = undefined;
    if (batchBytes > 0) await writeAll(fh, batch);
    if (!skipChown) await fh.chown(h.uid, h.gid);
    // the create mode was cut by the umask, and chown clears setuid/setgid: set the mode last
    if (!skipChown || (perm & ~0o777) !== 0 || (perm & UMASK) !== 0) await fh.chmod(perm);
    await fh.utimes(h.mtime, h.mtime);
  } finally {
    await writing?.catch(() => {});
    await fh.close();
  }
}

async function writeAll(fh: fs.FileHandle, bufs: Buffer[]): Promise<void> {
  if (bufs.length === 1) {
    await fh.writeFile(bufs[0]);
    return;
  }
  let { bytesWritten } = await fh.writev(bufs);
  const total = bufs.reduce((n, b) => n + b.length, 0);
  if (bytesWritten < total) await fh.writeFile(Buffer.concat(bufs).subarray(bytesWritten));
}

/**
 * xattrs from the layer (SCHILY.xattr.*). Like dockerd, a filesystem that refuses an attribute
 * (ENOTSUP/EPERM: e.g. user.* on a symlink) does not fail the layer; anything else does.
 */
async function restoreXattrs(root: string, entries: [string, Map<string, Buffer>][]): Promise<void> {
  const dump = entries.map(([rel, attrs]) => `# file: ./${escapeAttrPath(rel)}\n${[...attrs].map(([k, v]) => `${k}=0x${v.toString('hex')}`).join('\n')}\n`).join('\n');
  const r = await runHelper('setfattr', ['-h', '--restore=-'], { cwd: root, input: dump });
  if (r.code === 0) return;
  const serious = r.stderr.split('\n').filter((l) => l.trim() && !/Operation not (supported|permitted)/.test(l));
  if (serious.length) throw new Error(`setting extended attributes: ${serious.join('; ')}`);
}
