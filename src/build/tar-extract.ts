/**
 * Unpacks a tar (a build context, or an archive ADD extracts) into an empty directory without ever writing
 * outside it: names are cleaned (`..` cannot climb above the root), every parent must be a directory this
 * extraction made (never a symlink), files are created with O_EXCL|O_NOFOLLOW, symlinks are created as
 * they are (never followed here; readers resolve them inside the root), hard links must name an earlier
 * file of the same archive. Devices and fifos are skipped.
 */
import { constants as fsc } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { invalidArgument } from '../errors';
import { TarReader } from '../image/tar-reader';
import { createContentHash } from './content-hash';
import type { TarHeader } from '../image/tar-format';

type Kind = 'dir' | 'file' | 'symlink';
const CREATE = fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW;

export interface ExtractOptions {
  /** keep the archive's owners (ADD of a local archive); otherwise files belong to the daemon */
  preserveOwner?: boolean;
  /** filled with the content digest (content-hash.ts) of every regular file, by absolute path, hashed as it is written */
  digests?: Map<string, string>;
}

function bad(name: string, why: string): Error {
  return invalidArgument(`invalid archive entry ${JSON.stringify(name)}: ${why}`);
}

/** `./a//b/` → `a/b`; '' for the root. Absolute names are taken from the root; names that climb out are refused. */
export function cleanName(name: string): string {
  const raw = path.posix.normalize(name.replace(/^\/+/, '')).replace(/\/+$/, '');
  if (raw === '..' || raw.startsWith('../')) throw bad(name, 'path escapes the archive root');
  return raw === '.' || raw === '' ? '' : raw;
}

export async function extractTar(source: AsyncIterable<Buffer>, root: string, opts: ExtractOptions = {}): Promise<void> {
  const nodes = new Map<string, Kind>([['', 'dir']]);
  const dirTimes: [string, number][] = [];
  const reader = new TarReader(source);
  const abs = (rel: string) => (rel === '' ? root : path.join(root, rel));

  const ensureParents = async (rel: string, name: string) => {
    let prefix = '';
    const parts = rel.split('/');
    for (const part of parts.slice(0, -1)) {
      prefix = prefix ? `${prefix}/${part}` : part;
      const kind = nodes.get(prefix);
      if (kind === 'dir') continue;
      if (kind !== undefined) throw bad(name, `parent ${prefix} is not a directory`);
      await fs.mkdir(abs(prefix), 0o755);
      nodes.set(prefix, 'dir');
    }
  };
  const removeExisting = async (rel: string) => {
    const kind = nodes.get(rel);
    if (kind === undefined) return;
    if (kind === 'dir') throw bad(rel, 'replaces a directory');
    await fs.rm(abs(rel), { force: true });
    nodes.delete(rel);
    opts.digests?.delete(abs(rel));
  };
  const meta = async (rel: string, h: TarHeader) => {
    const p = abs(rel);
    if (opts.preserveOwner) await fs.lchown(p, h.uid, h.gid);
    if (h.type !== 'symlink') await fs.chmod(p, h.mode & 0o7777);
    if (h.type === 'dir') dirTimes.push([p, h.mtime]);
    else if (h.type !== 'symlink') await fs.utimes(p, h.mtime, h.mtime);
  };

  for (let h = await reader.next(); h; h = await reader.next()) {
    const rel = cleanName(h.name);
    if (rel === '') continue;
    await ensureParents(rel, h.name);
    switch (h.type) {
      case 'dir':
        if (nodes.get(rel) !== 'dir') {
          await removeExisting(rel);
          await fs.mkdir(abs(rel), 0o755);
          nodes.set(rel, 'dir');
        }
        await meta(rel, h);
        break;
      case 'file': {
        await removeExisting(rel);
        const fh = await fs.open(abs(rel), CREATE, 0o600);
        const hash = opts.digests ? createContentHash() : undefined;
        try {
          // socket-sized chunks gathered into ~1 MiB writev calls: far fewer thread-pool round trips, no copies
          let pending: Buffer[] = [];
          let size = 0;
          for await (const chunk of reader.body()) {
            pending.push(chunk);
            hash?.update(chunk);
            size += chunk.length;
            if (size >= 1 << 20) {
              await fh.writev(pending);
              pending = [];
              size = 0;
            }
          }
          if (size) await fh.writev(pending);
        } finally {
          await fh.close();
        }
        nodes.set(rel, 'file');
        if (hash) opts.digests!.set(abs(rel), hash.digest());
        await meta(rel, h);
        break;
      }
      case 'symlink':
        await removeExisting(rel);
        await fs.symlink(h.linkname, abs(rel));
        nodes.set(rel, 'symlink');
        if (opts.preserveOwner) await fs.lchown(abs(rel), h.uid, h.gid);
        break;
      case 'link': {
        const target = cleanName(h.linkname);
        if (nodes.get(target) !== 'file') throw bad(h.name, `hard link target ${h.linkname} is not an earlier file of the archive`);
        await removeExisting(rel);
        await fs.link(abs(target), abs(rel));
        nodes.set(rel, 'file');
        const known = opts.digests?.get(abs(target));
        if (known) opts.digests!.set(abs(rel), known);
        break;
      }
      default:
        break; // devices and fifos do not belong in a build context
    }
  }
  // directory times last: creating entries inside changes them
  for (const [p, t] of dirTimes.reverse()) await fs.utimes(p, t, t);
}
