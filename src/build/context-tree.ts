/**
 * The build context as received, held in memory: every entry's metadata and content digest, the bytes of
 * small files, nothing written out. A rebuild that is all cache never needs more (the Dockerfile, the
 * `.dockerignore` and COPY's checksums come from here). The first step that really copies from the context
 * calls `materialize`, which unpacks the kept archive to disk with tar-extract.ts, so the `abs` paths this
 * view hands out can be read; metadata, listings and checksums keep coming from memory, so a cache key
 * never depends on whether the context was unpacked. tar-extract.ts applies the same rules (later entries
 * replace earlier ones, a file may not replace a directory, parents must be directories, hard links name
 * earlier files, devices and fifos are skipped); symlinks resolve inside the context.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import type { TarHeader } from '../image/tar-format';
import type { EntryStat, Found, TreeView } from './rootfs';
import { scopedClean } from './scoped-path';
import { cleanName } from './tar-extract';

export interface ContextNode {
  type: 'dir' | 'file' | 'symlink';
  mode: number;
  mtime: number;
  size: number;
  linkname?: string;
  /** content digest of a file (content-hash.ts) */
  digest?: string;
  /** the content, for small files */
  data?: Buffer;
}

const TYPE_BITS = { dir: fsc.S_IFDIR, file: fsc.S_IFREG, symlink: fsc.S_IFLNK } as const;
const MAX_LINKS = 255;

function statOf(n: ContextNode): EntryStat {
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  return {
    mode: TYPE_BITS[n.type] | (n.type === 'symlink' ? 0o777 : n.mode & 0o7777),
    uid, gid,
    size: n.size,
    mtimeMs: n.mtime * 1000,
    isDirectory: () => n.type === 'dir',
    isFile: () => n.type === 'file',
    isSymbolicLink: () => n.type === 'symlink',
  };
}

function bad(name: string, why: string): Error {
  return invalidArgument(`invalid archive entry ${JSON.stringify(name)}: ${why}`);
}

export class ContextTree implements TreeView {
  private readonly nodes = new Map<string, ContextNode>([['', { type: 'dir', mode: 0o755, mtime: 0, size: 0 }]]);
  private readonly children = new Map<string, Set<string>>([['', new Set()]]);
  private unpacked = false;

  /** `root`: where `materialize` unpacks the context (what `abs` paths name). */
  constructor(readonly root: string) {}

  /** Content digests by absolute path under root (what COPY's checksum reads). */
  readonly digests = new Map<string, string>();

  private abs(rel: string): string {
    return rel ? path.join(this.root, rel) : this.root;
  }

  private link(rel: string, node: ContextNode): void {
    this.nodes.set(rel, node);
    if (node.type === 'dir' && !this.children.has(rel)) this.children.set(rel, new Set());
    const slash = rel.lastIndexOf('/');
    this.children.get(slash < 0 ? '' : rel.slice(0, slash))!.add(slash < 0 ? rel : rel.slice(slash + 1));
  }

  private unlink(rel: string): void {
    const node = this.nodes.get(rel);
    if (!node) return;
    if (node.type === 'dir') for (const n of [...this.children.get(rel)!]) this.unlink(`${rel}/${n}`);
    this.children.delete(rel);
    this.nodes.delete(rel);
    this.digests.delete(this.abs(rel));
    const slash = rel.lastIndexOf('/');
    this.children.get(slash < 0 ? '' : rel.slice(0, slash))?.delete(slash < 0 ? rel : rel.slice(slash + 1));
  }

  private ensureParents(rel: string, name: string): void {
    let prefix = '';
    for (const part of rel.split('/').slice(0, -1)) {
      prefix = prefix ? `${prefix}/${part}` : part;
      const n = this.nodes.get(prefix);
      if (n?.type === 'dir') continue;
      if (n) throw bad(name, `parent ${prefix} is not a directory`);
      this.link(prefix, { type: 'dir', mode: 0o755, mtime: Date.now() / 1000, size: 0 });
    }
  }

  private replace(rel: string): void {
    const n = this.nodes.get(rel);
    if (!n) return;
    if (n.type === 'dir') throw bad(rel, 'replaces a directory');
    this.unlink(rel);
  }

  /**
   * Records one archive entry (before its body is read). Returns the node of a regular file, whose
   * `digest` (and small files' `data`) the caller fills in before calling `sealDigests`.
   */
  add(h: TarHeader): ContextNode | undefined {
    const rel = cleanName(h.name);
    if (rel === '') return undefined;
    this.ensureParents(rel, h.name);
    switch (h.type) {
      case 'dir': {
        const n = this.nodes.get(rel);
        if (n?.type === 'dir') {
          n.mode = h.mode;
          n.mtime = h.mtime;
        } else {
          this.replace(rel);
          this.link(rel, { type: 'dir', mode: h.mode, mtime: h.mtime, size: 0 });
        }
        return undefined;
      }
      case 'file': {
        this.replace(rel);
        const node: ContextNode = { type: 'file', mode: h.mode, mtime: h.mtime, size: h.size };
        this.link(rel, node);
        return node;
      }
      case 'symlink':
        this.replace(rel);
        this.link(rel, { type: 'symlink', mode: 0o777, mtime: h.mtime, size: 0, linkname: h.linkname });
        return undefined;
      case 'link': {
        const target = cleanName(h.linkname);
        const t = this.nodes.get(target);
        if (t?.type !== 'file') throw bad(h.name, `hard link target ${h.linkname} is not an earlier file of the archive`);
        this.replace(rel);
        // the same node: a hard link is the same file (its digest is filled in later)
        this.link(rel, t);
        return undefined;
      }
      default:
        return undefined;
    }
  }

  /** Indexes the files' digests by path (after every file node got its digest). */
  sealDigests(): void {
    for (const [rel, n] of this.nodes) if (n.type === 'file' && n.digest) this.digests.set(this.abs(rel), n.digest);
  }

  /** Drops what `.dockerignore` excludes, by the same walk `applyIgnore` does on disk. */
  applyIgnore(ignores: (rel: string) => boolean, hasExceptions: boolean): void {
    const walk = (dirRel: string): boolean => {
      let kept = 0;
      for (const name of [...this.children.get(dirRel)!]) {
        const rel = dirRel ? `${dirRel}/${name}` : name;
        const ignored = ignores(rel);
        if (this.nodes.get(rel)!.type === 'dir' && (!ignored || hasExceptions)) {
          const anyKept = walk(rel);
          if (ignored && !anyKept) this.unlink(rel);
          else kept++;
          continue;
        }
        if (ignored) this.unlink(rel);
        else kept++;
      }
      return kept > 0;
    };
    walk('');
  }

  /** Makes the `abs` paths readable (`unpack` puts the files under root). */
  async materialize(unpack: () => Promise<void>): Promise<void> {
    if (this.unpacked) return;
    await unpack();
    this.unpacked = true;
  }

  get onDisk(): boolean {
    return this.unpacked;
  }

  async lstat(rel: string): Promise<Found | undefined> {
    const clean = scopedClean(rel);
    const n = this.nodes.get(clean);
    return n ? { abs: this.abs(clean), st: statOf(n) } : undefined;
  }

  async resolve(rel: string, followLast = true): Promise<string> {
    const pending = scopedClean(rel).split('/').filter(Boolean);
    const done: string[] = [];
    let links = 0;
    while (pending.length) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') { done.pop(); continue; }
      const n = this.nodes.get([...done, part].join('/'));
      if (!n) return [...done, part, ...pending].join('/');
      if (n.type === 'symlink' && (pending.length > 0 || followLast)) {
        if (++links > MAX_LINKS) throw invalidArgument(`too many levels of symbolic links: ${rel}`);
        if (n.linkname!.startsWith('/')) done.length = 0;
        pending.unshift(...n.linkname!.split('/').filter(Boolean));
        continue;
      }
      done.push(part);
    }
    return done.join('/');
  }

  async readdir(rel: string): Promise<string[]> {
    return [...(this.children.get(scopedClean(rel)) ?? [])].sort();
  }

  async readlink(found: Found): Promise<string> {
    const n = this.nodes.get(path.relative(this.root, found.abs));
    if (n?.type !== 'symlink') throw invalidArgument(`readlink ${found.abs}: invalid argument`);
    return n.linkname!;
  }

  /**
   * A file's bytes (symlinks followed); undefined when it is absent or not a file, or when it was too big to
   * keep in memory and the context is not unpacked yet.
   */
  async readFile(rel: string): Promise<Buffer | undefined> {
    const resolved = await this.resolve(rel);
    const n = this.nodes.get(resolved);
    if (n?.type !== 'file') return undefined;
    return n.data ?? (this.unpacked ? fs.readFile(this.abs(resolved)) : undefined);
  }

  /** Is `rel` (symlinks followed) a regular file? */
  async isFile(rel: string): Promise<boolean> {
    return (await this.lstat(await this.resolve(rel)))?.st.isFile() === true;
  }
}
