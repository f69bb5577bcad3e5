/**
 * Writing credentials as the docker CLI does after `login` / `logout`: into a credential helper
 * (`docker-credential-<name> store|erase`, chosen by credHelpers[host] or credsStore) leaving an empty
 * `auths` placeholder, or else base64 `auth` (and `identitytoken`) in config.json, which is rewritten
 * whole through a temp file (mode 0600) so every other key it holds is kept. Also the login prompts.
 */
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { AuthConfig, CliConfig, RawConfigFile } from '../config-file';
import { CredentialHelperError } from '../config-file';
import type { CommandContext } from '../registry';
import { readLine } from './common';

const TOKEN_USERNAME = '<token>';

function runHelper(helper: string, verb: 'store' | 'erase', input: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = execFile(`docker-credential-${helper}`, [verb], { timeout: 30_000 }, (err, stdout) => {
      if (err) return reject(new CredentialHelperError(`error ${verb === 'store' ? 'storing' : 'erasing'} credentials - err: ${err.message.split('\n')[0]}, out: \`${String(stdout).trim()}\``));
      resolve();
    });
    child.stdin?.end(input);
  });
}

/** The file as it is now on disk (another login may have changed it since the CLI started). */
function currentFile(config: CliConfig): RawConfigFile {
  try {
    const text = fs.readFileSync(config.filename, 'utf8');
    return text.trim() ? (JSON.parse(text) as RawConfigFile) : {};
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
}

async function writeFile(config: CliConfig, file: RawConfigFile): Promise<void> {
  await fs.promises.mkdir(config.dir, { recursive: true, mode: 0o700 });
  const tmp = path.join(config.dir, `.config.json.${process.pid}.tmp`);
  try {
    await fs.promises.writeFile(tmp, JSON.stringify(file, null, '\t') + '\n', { mode: 0o600 });
    await fs.promises.rename(tmp, config.filename);
  } catch (err) {
    await fs.promises.rm(tmp, { force: true });
    throw err;
  }
}

/** Stores `auth` under `key`; resolves true when it went into config.json in plain text. */
export async function storeCredentials(config: CliConfig, key: string, auth: AuthConfig): Promise<boolean> {
  const file = currentFile(config);
  const auths = (file.auths ??= {});
  const helper = config.helperFor(key);
  if (helper) {
    const secret = auth.identitytoken ? { Username: TOKEN_USERNAME, Secret: auth.identitytoken } : { Username: auth.username ?? '', Secret: auth.password ?? '' };
    await runHelper(helper, 'store', JSON.stringify({ ServerURL: key, ...secret }));
    auths[key] = auth.email ? { email: auth.email } : {};
    await writeFile(config, file);
    return false;
  }
  const entry: Record<string, string> = {};
  if (auth.username || auth.password) entry.auth = Buffer.from(`${auth.username ?? ''}:${auth.password ?? ''}`).toString('base64');
  if (auth.identitytoken) entry.identitytoken = auth.identitytoken;
  if (auth.email) entry.email = auth.email;
  auths[key] = entry;
  await writeFile(config, file);
  return true;
}

/** Removes credentials stored under any of `keys` (helper and file); missing ones are not an error. */
export async function eraseCredentials(config: CliConfig, keys: string[]): Promise<void> {
  const file = currentFile(config);
  let changed = false;
  for (const key of keys) {
    const helper = config.helperFor(key);
    if (helper) await runHelper(helper, 'erase', key).catch(() => undefined);
    if (file.auths && key in file.auths) {
      delete file.auths[key];
      changed = true;
    }
  }
  if (changed) await writeFile(config, file);
}

export async function readStdinAll(stdin: CommandContext['stdin']): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8');
}

export async function prompt(ctx: CommandContext, question: string): Promise<string> {
  ctx.out(question);
  return readLine(ctx.stdin);
}

/** Reads a line with echo off on a terminal (raw mode), as docker's term.ReadPassword. */
export async function readPassword(ctx: CommandContext, question: string): Promise<string> {
  const stdin = ctx.stdin as CommandContext['stdin'] & { setRawMode?: (on: boolean) => void };
  ctx.out(question);
  if (!stdin.isTTY || !stdin.setRawMode) return readLine(stdin);
  stdin.setRawMode(true);
  try {
    return await new Promise<string>((resolve, reject) => {
      let buf = '';
      const onData = (c: Buffer | string) => {
        for (const ch of c.toString()) {
          if (ch === '\r' || ch === '\n') return finish();
          if (ch === '\u0003') return fail();
          if (ch === '\u007f' || ch === '\b') buf = buf.slice(0, -1);
          else buf += ch;
        }
      };
      const cleanup = () => { stdin.off('data', onData); stdin.pause(); };
      const finish = () => { cleanup(); ctx.out('\n'); resolve(buf); };
      const fail = () => { cleanup(); ctx.out('\n'); reject(new Error('interrupted')); };
      stdin.on('data', onData);
      stdin.resume();
    });
  } finally {
    stdin.setRawMode(false);
  }
}
