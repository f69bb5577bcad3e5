/**
 * The build context: the request body (a tar, plain or gzip/zstd-compressed, or a bare Dockerfile) unpacked
 * into `<data-root>/tmp/build-<random>/context` (see tar-extract.ts for the path rules). The Dockerfile is
 * read first, then `.dockerignore` is applied on this side too, so API clients that send ignored files
 * still never see them copied.
 */
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import ignore from '@balena/dockerignore';
import { invalidArgument } from '../errors';
import { decompressStream } from '../image/archive/extract';
import { decodeHeader } from '../image/tar-format';
import { resolveInScope } from './scoped-path';
import { extractTar } from './tar-extract';

export interface BuildContext {
  /** the unpacked context (what COPY reads) */
  root: string;
  /** a private directory for the build's own temp files */
  scratch: string;
  dockerfile: string;
  dockerfileName: string;
  /** sha256 (hex) of the context's files by absolute path, computed while unpacking (COPY's checksums) */
  digests?: ReadonlyMap<string, string>;
  /** remove everything this context put on disk */
  remove(): Promise<void>;
}

/** `.dockerignore` lines → patterns (comments and blank lines dropped, as the docker CLI reads it). */
export function readIgnorePatterns(text: string): string[] {
  return text.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'));
}

export interface IgnoreMatcher {
  ignores(rel: string): boolean;
  /** true when some `!pattern` could re-include something below an ignored directory */
  hasExceptions: boolean;
}

export function ignoreMatcher(patterns: string[]): IgnoreMatcher {
  const ig = ignore().add(patterns);
  return { ignores: (rel) => rel !== '' && ig.ignores(rel), hasExceptions: patterns.some((p) => p.startsWith('!')) };
}

/** Removes every ignored entry under `root`; returns how many were removed. */
export async function applyIgnore(root: string, m: IgnoreMatcher): Promise<number> {
  let removed = 0;
  const walk = async (dirRel: string): Promise<boolean> => {
    const names = await fs.readdir(dirRel ? path.join(root, dirRel) : root);
    let kept = 0;
    for (const n of names) {
      const rel = dirRel ? `${dirRel}/${n}` : n;
      const abs = path.join(root, rel);
      const st = await fs.lstat(abs);
      const ignored = m.ignores(rel);
      if (st.isDirectory() && (!ignored || m.hasExceptions)) {
        const anyKept = await walk(rel);
        if (ignored && !anyKept) {
          await fs.rm(abs, { recursive: true, force: true });
          removed++;
        } else kept++;
        continue;
      }
      if (ignored) {
        await fs.rm(abs, { recursive: true, force: true });
        removed++;
      } else kept++;
    }
    return kept > 0;
  };
  await walk('');
  return removed;
}

/** Is `head` the start of a tar archive (a header block with a valid checksum)? */
function looksLikeTar(head: Buffer): boolean {
  if (head.length < 512) return false;
  try {
    decodeHeader(head.subarray(0, 512));
    return true;
  } catch {
    return false;
  }
}

async function readFirst(source: Readable, n: number): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const chunks: Buffer[] = [];
  let len = 0;
  while (len < n) {
    const r = await it.next();
    if (r.done) break;
    chunks.push(Buffer.from(r.value));
    len += r.value.length;
  }
  return { head: Buffer.concat(chunks), rest: it };
}

async function readDockerfile(root: string, name: string): Promise<{ text: string; name: string }> {
  const candidates = name === 'Dockerfile' ? ['Dockerfile', 'dockerfile'] : [name];
  for (const c of candidates) {
    try {
      const p = await resolveInScope(root, c);
      return { text: await fs.readFile(p, 'utf8'), name: c };
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT' && code !== 'EISDIR' && code !== 'ENOTDIR') throw err;
    }
  }
  throw invalidArgument(`Cannot locate specified Dockerfile: ${name}`);
}

export async function receiveContext(body: Readable, opts: { tmpDir: string; dockerfile?: string }): Promise<BuildContext> {
  const dir = path.join(opts.tmpDir, `build-${randomBytes(8).toString('hex')}`);
  const root = path.join(dir, 'context');
  const scratch = path.join(dir, 'scratch');
  await fs.mkdir(root, { recursive: true, mode: 0o700 });
  await fs.mkdir(scratch, { mode: 0o700 });
  const remove = () => fs.rm(dir, { recursive: true, force: true });
  const digests = new Map<string, string>();
  try {
    const plain = await decompressStream(body);
    const { head, rest } = await readFirst(plain, 512);
    let dockerfileName = opts.dockerfile || 'Dockerfile';
    let dockerfile: string;
    if (looksLikeTar(head) || head.length === 0) {
      // the docker CLI ends a context it rewrote (`-f -`) without the last entry's padding and the
      // end-of-archive blocks; zeros after a complete archive are ignored, so they are always added
      async function* replay(): AsyncGenerator<Buffer> {
        let total = head.length;
        if (head.length) yield head;
        for (let r = await rest.next(); !r.done; r = await rest.next()) {
          total += r.value.length;
          yield r.value;
        }
        yield Buffer.alloc(((512 - (total % 512)) % 512) + 1024);
      }
      if (head.length) await extractTar(replay(), root, { digests });
      const found = await readDockerfile(root, dockerfileName);
      dockerfile = found.text;
      dockerfileName = found.name;
    } else {
      // a bare Dockerfile as the body (`docker build - < Dockerfile`): the context is empty
      const chunks = [head];
      for (let r = await rest.next(); !r.done; r = await rest.next()) chunks.push(r.value);
      dockerfile = Buffer.concat(chunks).toString('utf8');
    }
    try {
      const ignoreText = await fs.readFile(await resolveInScope(root, '.dockerignore'), 'utf8');
      await applyIgnore(root, ignoreMatcher(readIgnorePatterns(ignoreText)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    return { root, scratch, dockerfile, dockerfileName, digests, remove };
  } catch (err) {
    await remove();
    throw err;
  }
}
