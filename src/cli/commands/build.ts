/**
 * `berth build` with the classic builder: the context directory is packed client-side (files that
 * `.dockerignore` excludes are never read or sent; the Dockerfile and .dockerignore always go), POSTed to
 * /build, and the JSON stream is shown as docker shows it.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { Readable, Transform } from 'node:stream';
import ignore from '@balena/dockerignore';
import * as tar from 'tar-stream';
import { parseJsonStream } from '../../client/transport';
import type { JsonMessage } from '../../client/types';
import { StatusError } from '../errors';
import { JsonStreamError } from '../progress';
import type { CommandContext, CommandDef } from '../registry';
import { humanSize } from '../units';
import { showProgress } from './image-transfer';

export interface PackedContext {
  stream: Readable;
  /** the Dockerfile's name inside the context */
  dockerfile: string;
}

async function readAllStream(s: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of s) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

function contextError(message: string): StatusError {
  return new StatusError(1, `unable to prepare context: ${message}`);
}

/**
 * Packs `dir` as a build context tar (owners 0:0, as the docker CLI sends it). `dockerfile` is a path
 * (relative to the working directory) or '-' with its text in `dockerfileText`; one outside the context is
 * sent under a generated name.
 */
export async function packContext(dir: string, opts: { dockerfile?: string; dockerfileText?: Buffer } = {}): Promise<PackedContext> {
  const root = path.resolve(dir);
  const st = await fs.stat(root).catch(() => undefined);
  if (!st?.isDirectory()) throw contextError(`path "${dir}" not found`);
  let dockerfile = 'Dockerfile';
  let extra: { name: string; data: Buffer } | undefined;
  if (opts.dockerfileText) {
    extra = { name: `.dockerfile.${randomBytes(10).toString('hex')}`, data: opts.dockerfileText };
    dockerfile = extra.name;
  } else {
    const abs = opts.dockerfile ? path.resolve(opts.dockerfile) : path.join(root, 'Dockerfile');
    const rel = path.relative(root, abs);
    if (!(await fs.stat(abs).catch(() => undefined))?.isFile()) {
      throw contextError(`unable to evaluate symlinks in Dockerfile path: lstat ${abs}: no such file or directory`);
    }
    if (rel.startsWith('..') || path.isAbsolute(rel)) {
      extra = { name: `.dockerfile.${randomBytes(10).toString('hex')}`, data: await fs.readFile(abs) };
      dockerfile = extra.name;
    } else dockerfile = rel.split(path.sep).join('/');
  }
  let patterns: string[] = [];
  try {
    patterns = (await fs.readFile(path.join(root, '.dockerignore'), 'utf8')).split(/\r?\n/).map((l) => l.trim()).filter((l) => l && !l.startsWith('#'));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const ig = ignore().add([...patterns, `!${dockerfile}`, '!.dockerignore']);
  const hasExceptions = patterns.some((p) => p.startsWith('!'));
  const pack = tar.pack();

  const addFile = (header: Parameters<typeof pack.entry>[0], file: string) => new Promise<void>((resolve, reject) => {
    const entry = pack.entry(header, (err) => (err ? reject(err) : resolve()));
    const input = createReadStream(file);
    input.on('error', reject);
    input.pipe(entry);
  });
  const walk = async (relDir: string): Promise<void> => {
    const names = (await fs.readdir(relDir ? path.join(root, relDir) : root)).sort();
    for (const n of names) {
      const rel = relDir ? `${relDir}/${n}` : n;
      const abs = path.join(root, rel);
      const s = await fs.lstat(abs);
      const ignored = ig.ignores(rel);
      const base = { name: rel, mode: s.mode & 0o7777, mtime: s.mtime, uid: 0, gid: 0 };
      if (s.isDirectory()) {
        if (ignored && !hasExceptions) continue;
        if (!ignored) pack.entry({ ...base, type: 'directory' });
        await walk(rel);
      } else if (ignored || (extra && rel === '.dockerignore')) {
        continue;
      } else if (s.isSymbolicLink()) {
        pack.entry({ ...base, type: 'symlink', linkname: await fs.readlink(abs) });
      } else if (s.isFile()) {
        await addFile({ ...base, type: 'file', size: s.size }, abs);
      }
    }
  };
  void (async () => {
    try {
      await walk('');
      if (extra) {
        // as the docker CLI does: the daemon reads the Dockerfile, then drops it with the other ignored files
        pack.entry({ name: extra.name, mode: 0o600, mtime: new Date(), uid: 0, gid: 0 }, extra.data);
        pack.entry({ name: '.dockerignore', mode: 0o600, mtime: new Date(), uid: 0, gid: 0 }, Buffer.from([...patterns, extra.name].join('\n') + '\n'));
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  // tar-stream packs with streamx; the HTTP client wants a Node stream
  return { stream: Readable.from(pack, { objectMode: false }), dockerfile };
}

function keyValues(list: string[], fromEnv: boolean): Record<string, string | null> {
  const out: Record<string, string | null> = {};
  for (const item of list) {
    const eq = item.indexOf('=');
    if (eq >= 0) out[item.slice(0, eq)] = item.slice(eq + 1);
    else if (fromEnv) {
      if (process.env[item] !== undefined) out[item] = process.env[item]!;
    } else out[item] = '';
  }
  return out;
}

async function run(ctx: CommandContext): Promise<void> {
  const source = ctx.args[0];
  const f = ctx.flags;
  const quiet = f.bool('quiet');
  let body: Readable;
  let dockerfile: string | undefined;
  if (source === '-') {
    if (f.string('file') === '-') throw new StatusError(1, 'invalid argument: can\'t use stdin for both build context and dockerfile');
    body = ctx.stdin;
    dockerfile = f.string('file') || undefined;
  } else if (/^(https?|git):\/\//.test(source) || source.startsWith('git@')) {
    throw new StatusError(1, 'remote build contexts are not supported by berth: clone or download it and build the directory');
  } else {
    const dockerfileText = f.string('file') === '-' ? await readAllStream(ctx.stdin) : undefined;
    const packed = await packContext(source, { dockerfile: f.string('file') || undefined, dockerfileText });
    body = packed.stream;
    dockerfile = packed.dockerfile;
  }
  const config = ctx.config();
  const auths: Record<string, unknown> = {};
  // as the docker CLI does: every stored credential goes along, the daemon picks per base image
  for (const host of Object.keys(config.file.auths ?? {})) {
    const a = await config.authConfig(host).catch(() => undefined);
    if (a && Object.keys(a).length) auths[host] = a;
  }
  // as the docker CLI's classic builder path: one line once the whole context is sent
  let sent = 0;
  const counted = new Transform({
    transform(chunk: Buffer, _enc, done) { sent += chunk.length; done(null, chunk); },
    flush(done) { if (!quiet) ctx.out(`Sending build context to Docker daemon  ${humanSize(sent)}\n`); done(); },
  });
  body.on('error', (err) => counted.destroy(err));
  body.pipe(counted);
  const client = await ctx.client();
  const res = await client.request({
    method: 'POST',
    path: '/build',
    query: {
      t: f.list('tag'),
      dockerfile,
      buildargs: JSON.stringify(keyValues(f.list('build-arg'), true)),
      labels: JSON.stringify(keyValues(f.list('label'), false)),
      target: f.string('target') || undefined,
      nocache: f.bool('no-cache'),
      pull: f.bool('pull'),
      q: quiet,
      networkmode: f.string('network') || undefined,
      platform: f.string('platform') || process.env.DOCKER_DEFAULT_PLATFORM || undefined,
      rm: true,
      version: '1',
    },
    headers: {
      'Content-Type': 'application/x-tar',
      ...(Object.keys(auths).length ? { 'X-Registry-Config': Buffer.from(JSON.stringify(auths)).toString('base64') } : {}),
    },
    body: counted,
  });
  let imageId = '';
  const messages = (async function* () {
    for await (const m of parseJsonStream<JsonMessage>(res)) {
      const aux = m.aux as { ID?: string } | undefined;
      if (aux?.ID) imageId = aux.ID;
      if (quiet && m.stream && !m.error) continue;
      yield m;
    }
  })();
  try {
    await showProgress(ctx, messages);
  } catch (err) {
    if (err instanceof JsonStreamError) throw new StatusError(err.code || 1, err.message);
    throw err;
  }
  if (quiet) ctx.out(`${imageId}\n`);
  const iidfile = f.string('iidfile');
  if (iidfile) await fs.writeFile(iidfile, imageId, { mode: 0o666 });
}

const build: CommandDef = {
  paths: [['image', 'build'], ['build'], ['builder', 'build']],
  usage: '[OPTIONS] PATH | URL | -',
  description: 'Build an image from a Dockerfile',
  category: 'common',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'build-arg', kind: 'list', description: 'Set build-time variables' },
    { name: 'file', short: 'f', kind: 'string', description: "Name of the Dockerfile (Default is 'PATH/Dockerfile')" },
    { name: 'force-rm', kind: 'bool', description: 'Always remove intermediate containers' },
    { name: 'iidfile', kind: 'string', description: 'Write the image ID to the file' },
    { name: 'label', kind: 'list', description: 'Set metadata for an image' },
    { name: 'network', kind: 'string', default: 'default', description: 'Set the networking mode for the RUN instructions during build' },
    { name: 'no-cache', kind: 'bool', description: 'Do not use cache when building the image' },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'pull', kind: 'bool', description: 'Always attempt to pull a newer version of the image' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the build output and print image ID on success' },
    { name: 'rm', kind: 'bool', default: true, description: 'Remove intermediate containers after a successful build' },
    { name: 'tag', short: 't', kind: 'list', description: 'Name and optionally a tag in the "name:tag" format' },
    { name: 'target', kind: 'string', description: 'Set the target build stage to build.' },
  ],
  run,
};

export const buildCommands: CommandDef[] = [build];
