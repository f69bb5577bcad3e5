/** Commands that talk to registries through the daemon: push, login, logout, search. */
import type { JsonMessage } from '../../client/types';
import { filtersFromFlags } from '../../client/types';
import { convertToHostname, encodeAuthHeader, INDEX_SERVER, type AuthConfig } from '../config-file';
import { StatusError } from '../errors';
import { formatterRow, renderRows } from '../formatter';
import type { CommandContext, CommandDef } from '../registry';
import { ellipsis } from '../units';
import { defaultTag, familiarName, filterFlag, formatOrDefault, parseUserReference, referenceString } from './common';
import { showProgress } from './image-transfer';
import { eraseCredentials, readPassword, readStdinAll, storeCredentials, prompt } from './registry-credentials';

const push: CommandDef = {
  paths: [['image', 'push'], ['push']],
  usage: '[OPTIONS] NAME[:TAG]',
  description: 'Upload an image to a registry',
  category: 'common',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'all-tags', short: 'a', kind: 'bool', description: 'Push all tags of an image to the repository' },
    { name: 'disable-content-trust', kind: 'bool', default: true, description: 'Skip image signing' },
    { name: 'platform', kind: 'string', description: 'Push a platform-specific manifest as a single-platform image to the registry.\nImage index won\'t be pushed, meaning that other manifests, including attestations won\'t be preserved.\n\'os[/arch[/variant]]\': Explicit platform (eg. linux/amd64)' },
    { name: 'quiet', short: 'q', kind: 'bool', description: 'Suppress verbose output' },
  ],
  async run(ctx) {
    const all = ctx.flags.bool('all-tags');
    const quiet = ctx.flags.bool('quiet');
    const ref = parseUserReference(ctx.args[0]);
    defaultTag(ctx, ref, all, quiet);
    let platform: string | undefined;
    const p = ctx.flags.string('platform');
    if (p) {
      const [os, architecture, variant] = p.split('/');
      platform = JSON.stringify({ architecture: architecture ?? '', os, ...(variant ? { variant } : {}) });
    }
    const auth = await ctx.config().authConfig(ref.domain);
    const client = await ctx.client();
    const messages = client.transport.jsonStream<JsonMessage>({
      method: 'POST',
      path: `/images/${encodeURIComponent(familiarName(ref))}/push`,
      query: { tag: ref.digest ?? ref.tag, platform },
      headers: { 'X-Registry-Auth': encodeAuthHeader(auth) },
    });
    await showProgress(ctx, messages, quiet);
    if (quiet) ctx.out(referenceString(ref) + '\n');
  },
};

interface LoginResponse {
  Status?: string;
  IdentityToken?: string;
}

/** The server address the daemon and the config file use: Docker Hub's full URL, else host[:port]. */
function loginServer(arg: string | undefined): { server: string; isDefault: boolean } {
  if (!arg || arg === 'docker.io' || arg === INDEX_SERVER || convertToHostname(arg) === 'index.docker.io') return { server: INDEX_SERVER, isDefault: true };
  return { server: convertToHostname(arg), isDefault: false };
}

async function authenticate(ctx: CommandContext, auth: AuthConfig): Promise<LoginResponse> {
  const client = await ctx.client();
  return client.json<LoginResponse>({ method: 'POST', path: '/auth', body: auth });
}

const login: CommandDef = {
  paths: [['login']],
  usage: '[OPTIONS] [SERVER]',
  description: 'Authenticate to a registry.\nDefaults to Docker Hub if no server is specified.',
  category: 'common',
  args: { max: 1 },
  flags: [
    { name: 'password', short: 'p', kind: 'string', description: 'Password or Personal Access Token (PAT)' },
    { name: 'password-stdin', kind: 'bool', description: 'Take the Password or Personal Access Token (PAT) from stdin' },
    { name: 'username', short: 'u', kind: 'string', description: 'Username' },
  ],
  async run(ctx) {
    let username = ctx.flags.string('username').trim();
    let password = ctx.flags.string('password');
    if (password) {
      ctx.err('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      if (ctx.flags.bool('password-stdin')) throw new StatusError(1, '--password and --password-stdin are mutually exclusive');
    }
    if (ctx.flags.bool('password-stdin')) {
      if (!username) throw new StatusError(1, 'Must provide --username with --password-stdin');
      password = (await readStdinAll(ctx.stdin)).replace(/\n$/, '').replace(/\r$/, '');
    }
    const { server } = loginServer(ctx.args[0]);
    const config = ctx.config();

    let response: LoginResponse | undefined;
    let auth: AuthConfig | undefined;
    if (!username && !password) {
      // docker tries what is stored first, and only prompts when that fails
      const stored = await config.authConfig(server);
      if ((stored.username && stored.password) || stored.identitytoken) {
        ctx.out(`Authenticating with existing credentials...${stored.username ? ` [Username: ${stored.username}]` : ''}\n`);
        try {
          response = await authenticate(ctx, { ...stored, serveraddress: server });
          auth = stored;
        } catch (err) {
          ctx.err(`Login did not succeed, error: ${(err as Error).message}\n`);
        }
      }
    }
    if (!response) {
      if ((!username || !password) && !ctx.stdin.isTTY) {
        throw new StatusError(1, 'Error: Cannot perform an interactive login from a non TTY device');
      }
      if (!username) username = (await prompt(ctx, 'Username: ')).trim();
      if (!username) throw new StatusError(1, 'Error: Non-null Username Required');
      if (!password) password = await readPassword(ctx, 'Password: ');
      if (!password) throw new StatusError(1, 'Error: Password Required');
      auth = { username, password, serveraddress: server };
      response = await authenticate(ctx, auth);
    }
    const toStore: AuthConfig = { username: auth!.username, password: auth!.password, serveraddress: server };
    if (response.IdentityToken) {
      toStore.password = '';
      toStore.identitytoken = response.IdentityToken;
    }
    const plaintext = await storeCredentials(config, server, toStore);
    if (plaintext) {
      ctx.err(`WARNING! Your credentials are stored unencrypted in '${config.filename}'.\nConfigure a credential helper to remove this warning. See\nhttps://docs.docker.com/go/credential-store/\n\n`);
    }
    ctx.out(`${response.Status || 'Login Succeeded'}\n`);
  },
};

const logout: CommandDef = {
  paths: [['logout']],
  usage: '[SERVER]',
  description: 'Log out from a registry.\nIf no server is specified, the default is defined by the daemon.',
  category: 'common',
  args: { max: 1 },
  async run(ctx) {
    const { server, isDefault } = loginServer(ctx.args[0]);
    const keys = isDefault ? [server] : [server, `http://${server}`, `https://${server}`];
    ctx.out(`Removing login credentials for ${server}\n`);
    await eraseCredentials(ctx.config(), keys);
  },
};

const SEARCH_TABLE = 'table {{.Name}}\t{{.Description}}\t{{.StarCount}}\t{{.IsOfficial}}';
const SEARCH_HEADER: Record<string, string> = {
  Name: 'NAME', Description: 'DESCRIPTION', StarCount: 'STARS', IsOfficial: 'OFFICIAL', IsAutomated: 'AUTOMATED',
};

interface SearchResult {
  name: string;
  description: string;
  star_count: number;
  is_official: boolean;
  is_automated: boolean;
}

const search: CommandDef = {
  paths: [['search']],
  usage: '[OPTIONS] TERM',
  description: 'Search Docker Hub for images',
  args: { min: 1, max: 1 },
  flags: [
    filterFlag(),
    { name: 'format', kind: 'string', description: 'Pretty-print search using a Go template' },
    { name: 'limit', kind: 'int', description: 'Max number of search results' },
    { name: 'no-trunc', kind: 'bool', description: "Don't truncate output" },
  ],
  async run(ctx) {
    const term = ctx.args[0];
    const filters = filtersFromFlags(ctx.flags.list('filter'));
    const limit = ctx.flags.int('limit');
    const trunc = !ctx.flags.bool('no-trunc');
    let domain = 'docker.io';
    const slash = term.indexOf('/');
    if (slash > 0 && /[.:]|^localhost$/.test(term.slice(0, slash))) domain = term.slice(0, slash);
    const auth = await ctx.config().authConfig(domain);
    const client = await ctx.client();
    const results = await client.json<SearchResult[]>({
      path: '/images/search',
      query: { term, limit: limit || undefined, filters: Object.keys(filters).length ? JSON.stringify(filters) : undefined },
      headers: { 'X-Registry-Auth': encodeAuthHeader(auth) },
    });
    const flag = (b: boolean) => (b ? '[OK]' : '');
    const rows = results.map((r) => {
      let desc = (r.description ?? '').replace(/[\r\n]/g, ' ');
      if (trunc) desc = ellipsis(desc, 45);
      return formatterRow({
        Name: r.name, Description: desc, StarCount: String(r.star_count ?? 0), IsOfficial: flag(!!r.is_official), IsAutomated: flag(!!r.is_automated),
      }, '*formatter.searchContext');
    });
    const format = formatOrDefault(ctx.flags.string('format'));
    ctx.out(renderRows(format === 'table' ? SEARCH_TABLE : format, rows, SEARCH_HEADER));
  },
};

export const registryCommands: CommandDef[] = [push, login, logout, search];
