/** Commands that move image bytes: pull (with registry credentials), save, load, import. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { Readable } from 'node:stream';
import { parseJsonStream } from '../../client/transport';
import type { JsonMessage } from '../../client/types';
import { encodeAuthHeader } from '../config-file';
import { StatusError } from '../errors';
import { displayJsonMessages } from '../progress';
import type { CommandContext, CommandDef } from '../registry';
import { defaultTag, fullName, parseUserReference, referenceString } from './common';

/** Show a JSON message stream on stdout like docker (redrawn progress on a TTY). */
export async function showProgress(ctx: CommandContext, messages: AsyncIterable<JsonMessage>, quiet = false): Promise<void> {
  const tty = !quiet && ctx.stdout.isTTY === true;
  await displayJsonMessages(messages, quiet ? () => undefined : ctx.out, { isTerminal: tty, width: tty ? ctx.stdout.columns ?? 0 : undefined });
}

const pull: CommandDef = {
  paths: [['image', 'pull'], ['pull']],
  usage: '[OPTIONS] NAME[:TAG|@DIGEST]',
  description: 'Download an image from a registry',
  category: 'common',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'all-tags', short: 'a', kind: 'bool', description: 'Download all tagged images in the repository' },
    { name: 'disable-content-trust', kind: 'bool', default: true, description: 'Skip image verification' },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
  ],
  async run(ctx) {
    const all = ctx.flags.bool('all-tags');
    const quiet = ctx.flags.bool('quiet');
    const ref = parseUserReference(ctx.args[0]);
    defaultTag(ctx, ref, all, quiet);
    const auth = await ctx.config().authConfig(ref.domain);
    const client = await ctx.client();
    const platform = ctx.flags.string('platform') || process.env.DOCKER_DEFAULT_PLATFORM || undefined;
    const messages = client.pullImage({ fromImage: fullName(ref), tag: ref.digest ?? ref.tag, platform, registryAuth: encodeAuthHeader(auth) });
    await showProgress(ctx, messages, quiet);
    ctx.out(referenceString(ref) + '\n');
  },
};

/** Write a stream to `file` through a temp file renamed into place, so a failure leaves no partial file. */
async function writeAtomically(file: string, body: Readable): Promise<void> {
  try {
    if (fs.lstatSync(file).isSymbolicLink()) throw new StatusError(1, 'failed to save image: cannot write to a symbolic link directly');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  try {
    await pipeline(body, fs.createWriteStream(tmp, { mode: 0o600 }));
    await fs.promises.rename(tmp, file);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

const save: CommandDef = {
  paths: [['image', 'save'], ['save']],
  usage: '[OPTIONS] IMAGE [IMAGE...]',
  description: 'Save one or more images to a tar archive (streamed to STDOUT by default)',
  args: { min: 1 },
  flags: [
    { name: 'output', short: 'o', kind: 'string', description: 'Write to a file, instead of STDOUT' },
    { name: 'platform', kind: 'string', description: 'Save only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
  ],
  async run(ctx) {
    const output = ctx.flags.string('output');
    if (!output && ctx.stdout.isTTY) throw new StatusError(1, 'cowardly refusing to save to a terminal. Use the -o flag or redirect');
    const client = await ctx.client();
    const body = await client.saveImages(ctx.args, ctx.flags.string('platform') || undefined);
    if (output) await writeAtomically(output, body);
    else await pipeline(body, ctx.stdout, { end: false });
  },
};

const load: CommandDef = {
  paths: [['image', 'load'], ['load']],
  usage: '[OPTIONS]',
  description: 'Load an image from a tar archive or STDIN',
  args: { max: 0 },
  flags: [
    { name: 'input', short: 'i', kind: 'string', description: 'Read from tar archive file, instead of STDIN' },
    { name: 'platform', kind: 'string', description: 'Load only the given platform variant. Formatted as "os[/arch[/variant]]" (e.g., "linux/amd64")' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress the load output' },
  ],
  async run(ctx) {
    const input = ctx.flags.string('input');
    let body: Readable;
    if (input) {
      try {
        await fs.promises.access(input, fs.constants.R_OK);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new StatusError(1, `open ${input}: ${code === 'ENOENT' ? 'no such file or directory' : code === 'EACCES' ? 'permission denied' : (err as Error).message}`);
      }
      body = fs.createReadStream(input);
    } else {
      if (ctx.stdin.isTTY) throw new StatusError(1, 'requested load from stdin, but stdin is empty');
      body = ctx.stdin;
    }
    const client = await ctx.client();
    const res = await client.request({
      method: 'POST',
      path: '/images/load',
      query: { quiet: ctx.flags.bool('quiet'), platform: ctx.flags.string('platform') || undefined },
      headers: { 'Content-Type': 'application/x-tar' },
      body,
    });
    if (String(res.headers['content-type'] ?? '').includes('json')) {
      await showProgress(ctx, parseJsonStream<JsonMessage>(res));
    } else {
      await pipeline(res, ctx.stdout, { end: false });
    }
  },
};

const importImage: CommandDef = {
  paths: [['image', 'import'], ['import']],
  usage: '[OPTIONS] file|URL|- [REPOSITORY[:TAG]]',
  description: 'Import the contents from a tarball to create a filesystem image',
  args: { min: 1, max: 2 },
  flags: [
    { name: 'change', short: 'c', kind: 'list', description: 'Apply Dockerfile instruction to the created image' },
    { name: 'message', short: 'm', kind: 'string', description: 'Set commit message for imported image' },
    { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
  ],
  async run(ctx) {
    const [source, repo] = ctx.args;
    if (repo) parseUserReference(repo);
    let body: Readable | undefined;
    let fromSrc = '-';
    if (source === '-') body = ctx.stdin;
    else if (/^https?:\/\//.test(source)) fromSrc = source;
    else {
      try {
        await fs.promises.access(source, fs.constants.R_OK);
      } catch (err) {
        throw new StatusError(1, `open ${source}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
      }
      body = fs.createReadStream(source);
    }
    const client = await ctx.client();
    const messages = client.importImage({
      fromSrc,
      body,
      repo,
      message: ctx.flags.string('message') || undefined,
      changes: ctx.flags.list('change'),
      platform: ctx.flags.string('platform') || undefined,
    });
    await showProgress(ctx, messages);
  },
};

export const imageTransferCommands: CommandDef[] = [pull, save, load, importImage];
