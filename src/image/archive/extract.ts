/**
 * Unpacks an image archive (docker save output or an OCI layout tar) into a private temp directory so its
 * manifest can be read before anything is applied. Only regular files and directories are written; links
 * are kept as a name map (never created on disk) and resolved inside the archive by `ExtractedArchive.file`.
 * An entry that would leave the archive root (`../x`) rejects the whole archive.
 */
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';
import { invalidArgument, notFound } from '../../errors';
import { createDecompressor, detectCompression } from '../compression';

export function archiveError(why: string): Error {
  return invalidArgument(`invalid archive: ${why}`, 'BERTH_ERR_BAD_ARCHIVE');
}

/** An archive path normalised to `a/b/c` (no leading `/` or `./`); refuses `..` escapes and empty names. */
export function cleanArchivePath(name: string): string {
  const clean = path.posix.normalize('/' + name.replace(/\\/g, '/')).slice(1).replace(/\/$/, '');
  const raw = path.posix.normalize(name.replace(/\\/g, '/'));
  if (raw === '..' || raw.startsWith('../')) throw archiveError(`path ${JSON.stringify(name)} escapes the archive`);
  return clean;
}

export class ExtractedArchive {
  /** cleaned names of regular files written under `dir` */
  readonly files = new Set<string>();
  /** symlinks and hard links: cleaned name → cleaned target */
  readonly links = new Map<string, string>();

  constructor(readonly dir: string) {}

  /** Absolute path of the regular file an archive path names, following archive links (bounded). */
  file(name: string): string {
    let current = cleanArchivePath(name);
    for (let hops = 0; hops < 32; hops++) {
      if (this.files.has(current)) return path.join(this.dir, current);
      const target = this.links.get(current);
      if (target === undefined) throw notFound(`invalid archive: ${name} not found`);
      current = target;
    }
    throw archiveError(`too many links resolving ${name}`);
  }

  has(name: string): boolean {
    try {
      this.file(name);
      return true;
    } catch {
      return false;
    }
  }

  async readJson<T>(name: string): Promise<T> {
    const p = this.file(name);
    try {
      return JSON.parse(await fs.readFile(p, 'utf8')) as T;
    } catch (err) {
      throw archiveError(`${name}: ${(err as Error).message}`);
    }
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}

/** Peeks at the first bytes so gzip/zstd-compressed input is read like a plain tar. */
export async function decompressStream(source: Readable): Promise<Readable> {
  const it = source[Symbol.asyncIterator]();
  const first = await it.next();
  const head: Buffer = first.done ? Buffer.alloc(0) : Buffer.from(first.value as Buffer);
  const kind = detectCompression(head);
  async function* replay(): AsyncGenerator<Buffer> {
    if (head.length) yield head;
    for (let r = await it.next(); !r.done; r = await it.next()) yield r.value as Buffer;
  }
  const plain = Readable.from(replay());
  if (kind === 'none') return plain;
  const d = createDecompressor(kind);
  plain.pipe(d);
  plain.on('error', (err) => d.destroy(err));
  return d;
}

/** Extracts `source` into `dir` (created empty). On any error the directory is removed. */
export async function extractArchive(source: Readable, dir: string): Promise<ExtractedArchive> {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const out = new ExtractedArchive(dir);
  const dirs = new Set<string>(['']);
  const ensureDir = async (rel: string) => {
    if (dirs.has(rel)) return;
    if (out.files.has(rel)) throw archiveError(`${rel} is both a file and a directory`);
    await ensureDir(path.posix.dirname(rel) === '.' ? '' : path.posix.dirname(rel));
    await fs.mkdir(path.join(dir, rel), { recursive: false }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    dirs.add(rel);
  };
  try {
    const input = await decompressStream(source);
    const extract = tar.extract();
    input.on('error', (err) => extract.destroy(err));
    input.pipe(extract);
    let entries = 0;
    for await (const entry of extract) {
      const h = entry.header;
      const name = cleanArchivePath(h.name);
      entries++;
      if (name === '') { entry.resume(); continue; }
      const parent = path.posix.dirname(name) === '.' ? '' : path.posix.dirname(name);
      switch (h.type) {
        case 'directory':
          entry.resume();
          await ensureDir(name);
          break;
        case 'file':
        case 'contiguous-file':
        case null:
        case undefined:
          if (dirs.has(name) || out.links.has(name)) throw archiveError(`duplicate entry ${name}`);
          await ensureDir(parent);
          await pipeline(entry, createWriteStream(path.join(dir, name), { flags: 'w', mode: 0o600 }));
          out.files.add(name);
          break;
        case 'symlink': {
          entry.resume();
          const linkname = h.linkname ?? '';
          const target = linkname.startsWith('/') ? linkname : path.posix.join(parent, linkname);
          out.links.set(name, cleanArchivePath(target));
          break;
        }
        case 'link':
          entry.resume();
          out.links.set(name, cleanArchivePath(h.linkname ?? ''));
          break;
        default:
          entry.resume();
      }
    }
    if (entries === 0) throw archiveError('empty archive');
    return out;
  } catch (err) {
    await out.remove();
    if (err instanceof Error && !('kind' in err)) throw archiveError(err.message);
    throw err;
  }
}
