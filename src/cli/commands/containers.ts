/** Container lifecycle commands: run, create, start, logs, wait, kill, rm (ps: container-list; stop and restart: container-ops). */
import type { Socket } from 'node:net';
import type { EngineClient } from '../../client/engine-client';
import { ApiError } from '../../client/transport';
import { encodeAuthHeader } from '../config-file';
import { StatusError } from '../errors';
import type { FlagSpec } from '../flags';
import type { CommandContext, CommandDef, ManagementGroup } from '../registry';
import { eachArg, fullName, parseUserReference } from './common';
import { familiarString } from '../../image/reference';
import { FrameDemuxer, pumpAttach } from './container-streams';
import { showProgress } from './image-transfer';
import { applyNetVolumeFlags, NET_VOLUME_FLAGS, portCommand } from './run-flags-net';
import { applyResourceSecurityFlags, RESOURCE_SECURITY_FLAGS } from './run-flags-resources';
import { applyLifecycleFlags, LIFECYCLE_FLAGS } from './container-ops';
import { psCommand } from './container-list';

export const containerGroups: ManagementGroup[] = [{ name: 'container', description: 'Manage containers' }];

const CREATE_FLAGS: FlagSpec[] = [
  { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables' },
  { name: 'entrypoint', kind: 'string', description: 'Overwrite the default ENTRYPOINT of the image' },
  { name: 'hostname', short: 'h', kind: 'string', description: 'Container host name' },
  { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
  { name: 'label', short: 'l', kind: 'list', description: 'Set meta data on a container' },
  { name: 'name', kind: 'string', description: 'Assign a name to the container' },
  { name: 'rm', kind: 'bool', description: 'Automatically remove the container and its associated anonymous volumes when it exits' },
  { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
  { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: <name|uid>[:<group|gid>])' },
  { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
  { name: 'stop-signal', kind: 'string', description: 'Signal to stop the container' },
  { name: 'stop-timeout', kind: 'int', description: 'Timeout (in seconds) to stop a container' },
  { name: 'platform', kind: 'string', description: 'Set platform if server is multi-platform capable' },
  { name: 'pull', kind: 'string', default: 'missing', description: 'Pull image before running ("always", "missing", "never")' },
  ...NET_VOLUME_FLAGS,
  ...RESOURCE_SECURITY_FLAGS,
  ...LIFECYCLE_FLAGS,
];

function labelsFrom(list: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of list) {
    const eq = l.indexOf('=');
    if (eq < 0) out[l] = '';
    else out[l.slice(0, eq)] = l.slice(eq + 1);
  }
  return out;
}

function envFrom(list: string[]): string[] {
  return list.map((e) => (e.includes('=') ? e : process.env[e] !== undefined ? `${e}=${process.env[e]}` : e)).filter((e) => e.includes('='));
}

function createBody(ctx: CommandContext, attach: boolean): Record<string, unknown> {
  const f = ctx.flags;
  const [image, ...cmd] = ctx.args;
  const body: Record<string, unknown> = {
    Image: image,
    Tty: f.bool('tty'),
    OpenStdin: f.bool('interactive'),
    StdinOnce: f.bool('interactive') && attach,
    AttachStdin: f.bool('interactive') && attach,
    AttachStdout: attach,
    AttachStderr: attach,
    Env: envFrom(f.list('env')),
    Labels: labelsFrom(f.list('label')),
    HostConfig: { AutoRemove: f.bool('rm') },
  };
  if (cmd.length) body.Cmd = cmd;
  if (f.isSet('entrypoint')) body.Entrypoint = f.string('entrypoint') ? [f.string('entrypoint')] : [''];
  if (f.string('hostname')) body.Hostname = f.string('hostname');
  if (f.string('user')) body.User = f.string('user');
  if (f.string('workdir')) body.WorkingDir = f.string('workdir');
  if (f.string('stop-signal')) body.StopSignal = f.string('stop-signal');
  if (f.isSet('stop-timeout')) body.StopTimeout = f.int('stop-timeout');
  applyNetVolumeFlags(f, body);
  applyLifecycleFlags(f, body);
  return body;
}

const PULL_POLICIES = ['always', 'missing', 'never'];

/**
 * create, pulling the image as `docker run` and `docker create` do: once when the daemon does not have it
 * (or has it for another platform than --platform), first with --pull always, never with --pull never.
 */
async function createContainer(ctx: CommandContext, client: EngineClient, body: Record<string, unknown>): Promise<string> {
  const policy = ctx.flags.string('pull') || 'missing';
  if (!PULL_POLICIES.includes(policy)) throw new StatusError(125, `invalid pull option: '${policy}': must be one of "always", "missing" or "never"`);
  await applyResourceSecurityFlags(ctx.flags, body);
  const platform = ctx.flags.string('platform') || process.env.DOCKER_DEFAULT_PLATFORM || undefined;
  const create = () => client.json<{ Id: string; Warnings?: string[] }>({ method: 'POST', path: '/containers/create', query: { name: ctx.flags.string('name') || undefined, platform }, body });
  const ref = parseUserReference(String(body.Image));
  if (!ref.tag && !ref.digest) ref.tag = 'latest';
  const pull = async () => {
    const auth = await ctx.config().authConfig(ref.domain);
    const messages = client.pullImage({ fromImage: fullName(ref), tag: ref.digest ?? ref.tag, registryAuth: encodeAuthHeader(auth), platform });
    await showProgress({ ...ctx, out: ctx.err, stdout: ctx.stderr as CommandContext['stdout'] }, messages);
  };
  if (policy === 'always') await pull();
  let res: { Id: string; Warnings?: string[] };
  try {
    res = await create();
  } catch (err) {
    const missing = err instanceof ApiError && err.statusCode === 404 && /No such image|does not match the specified platform/.test(err.message);
    if (!missing || policy !== 'missing') throw err;
    ctx.err(`Unable to find image '${familiarString(ref)}' locally\n`);
    await pull();
    res = await create();
  }
  for (const w of res.Warnings ?? []) ctx.err(`WARNING: ${w}\n`);
  return res.Id;
}

/** docker's exit status for a failed run/start: 127 not found, 126 cannot invoke, else 125. */
function runFailure(err: unknown, command: string): StatusError {
  const msg = err instanceof Error ? err.message : String(err);
  const code = /executable file not found|no such file or directory/i.test(msg) ? 127 : /permission denied/i.test(msg) ? 126 : 125;
  const text = err instanceof ApiError ? `Error response from daemon: ${msg}` : msg;
  return new StatusError(code, `berth: ${text}\n\nRun 'berth ${command} --help' for more information`);
}

/** attach + wait registered before start, then start; resolves with the container's exit code. */
async function attachAndStart(ctx: CommandContext, client: EngineClient, id: string, o: { tty: boolean; stdin: boolean; autoRemove: boolean; command: string }): Promise<number> {
  const { socket, head } = await client.transport.hijack({
    method: 'POST', path: `/containers/${id}/attach`, query: { stream: true, stdin: o.stdin, stdout: true, stderr: true },
  });
  const waitRes = await client.request({ method: 'POST', path: `/containers/${id}/wait`, query: { condition: o.autoRemove ? 'removed' : 'next-exit' } });
  const waitBody = (async () => {
    let text = '';
    for await (const c of waitRes) text += c;
    return JSON.parse(text) as { StatusCode: number; Error?: { Message: string } | null };
  })();
  const streamed = pumpAttach(socket as Socket, head, { stdin: ctx.stdin, stdout: ctx.stdout, stderr: ctx.stderr }, o);
  try {
    await client.transport.discard({ method: 'POST', path: `/containers/${id}/start` });
  } catch (err) {
    socket.destroy();
    waitRes.destroy();
    throw runFailure(err, o.command);
  }
  if (o.tty && ctx.stdout.isTTY) {
    const size = ctx.stdout as unknown as { rows?: number; columns?: number };
    await client.transport.discard({ method: 'POST', path: `/containers/${id}/resize`, query: { h: size.rows ?? 24, w: size.columns ?? 80 } }).catch(() => undefined);
  }
  await streamed;
  const status = await waitBody;
  if (status.Error?.Message) ctx.err(`${status.Error.Message}\n`);
  return status.StatusCode;
}

const run: CommandDef = {
  paths: [['container', 'run'], ['run']],
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create and run a new container from an image',
  category: 'common',
  args: { min: 1 },
  interspersed: false,
  flags: [...CREATE_FLAGS, { name: 'detach', short: 'd', kind: 'bool', description: 'Run container in background and print container ID' }],
  async run(ctx) {
    const client = await ctx.client();
    const detach = ctx.flags.bool('detach');
    let id: string;
    try {
      id = await createContainer(ctx, client, createBody(ctx, !detach));
    } catch (err) {
      throw runFailure(err, 'run');
    }
    if (detach) {
      try {
        await client.transport.discard({ method: 'POST', path: `/containers/${id}/start` });
      } catch (err) {
        throw runFailure(err, 'run');
      }
      ctx.out(`${id}\n`);
      return 0;
    }
    return attachAndStart(ctx, client, id, { tty: ctx.flags.bool('tty'), stdin: ctx.flags.bool('interactive'), autoRemove: ctx.flags.bool('rm'), command: 'run' });
  },
};

const create: CommandDef = {
  paths: [['container', 'create'], ['create']],
  usage: '[OPTIONS] IMAGE [COMMAND] [ARG...]',
  description: 'Create a new container',
  args: { min: 1 },
  interspersed: false,
  flags: CREATE_FLAGS,
  async run(ctx) {
    const client = await ctx.client();
    ctx.out(`${await createContainer(ctx, client, createBody(ctx, false))}\n`);
  },
};

const start: CommandDef = {
  paths: [['container', 'start'], ['start']],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Start one or more stopped containers',
  args: { min: 1 },
  flags: [
    { name: 'attach', short: 'a', kind: 'bool', description: 'Attach STDOUT/STDERR and forward signals' },
    { name: 'interactive', short: 'i', kind: 'bool', description: "Attach container's STDIN" },
  ],
  async run(ctx) {
    const client = await ctx.client();
    if (ctx.flags.bool('attach') || ctx.flags.bool('interactive')) {
      if (ctx.args.length > 1) throw new StatusError(1, 'you cannot start and attach multiple containers at once');
      const info = await client.json<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean }; HostConfig: { AutoRemove: boolean } }>({ path: `/containers/${encodeURIComponent(ctx.args[0])}/json` });
      return attachAndStart(ctx, client, info.Id, {
        tty: info.Config.Tty, stdin: ctx.flags.bool('interactive') && info.Config.OpenStdin, autoRemove: info.HostConfig.AutoRemove, command: 'start',
      });
    }
    const failed: string[] = [];
    for (const name of ctx.args) {
      try {
        await client.transport.discard({ method: 'POST', path: `/containers/${encodeURIComponent(name)}/start` });
        ctx.out(`${name}\n`);
      } catch (err) {
        ctx.err(`Error response from daemon: ${(err as Error).message}\n`);
        failed.push(name);
      }
    }
    if (failed.length) throw new StatusError(1, `Error: failed to start containers: ${failed.join(', ')}`);
  },
};

const logs: CommandDef = {
  paths: [['container', 'logs'], ['logs']],
  usage: '[OPTIONS] CONTAINER',
  description: 'Fetch the logs of a container',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'details', kind: 'bool', description: 'Show extra details provided to logs' },
    { name: 'follow', short: 'f', kind: 'bool', description: 'Follow log output' },
    { name: 'since', kind: 'string', description: 'Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
    { name: 'tail', short: 'n', kind: 'string', default: 'all', description: 'Number of lines to show from the end of the logs' },
    { name: 'timestamps', short: 't', kind: 'bool', description: 'Show timestamps' },
    { name: 'until', kind: 'string', description: 'Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    const name = ctx.args[0];
    const info = await client.json<{ Config: { Tty: boolean } }>({ path: `/containers/${encodeURIComponent(name)}/json` });
    const res = await client.request({
      path: `/containers/${encodeURIComponent(name)}/logs`,
      query: {
        stdout: true, stderr: true, follow: ctx.flags.bool('follow'), timestamps: ctx.flags.bool('timestamps'), details: ctx.flags.bool('details') || undefined,
        tail: ctx.flags.string('tail') || 'all', since: relativeTime(ctx.flags.string('since')), until: relativeTime(ctx.flags.string('until')),
      },
    });
    const demux = new FrameDemuxer(info.Config.Tty, ctx.stdout, ctx.stderr);
    for await (const c of res) demux.push(c as Buffer);
  },
};

/** `42m`, `10s`, `2h` → unix seconds; anything else is passed through. */
function relativeTime(v: string): string | undefined {
  if (!v) return undefined;
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(v);
  if (!m) return v;
  const mult = { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] as 'ms' | 's' | 'm' | 'h'];
  return String(Math.floor(Date.now() / 1000 - Number(m[1]) * mult));
}

/** Apply one call per container; print the name on success, docker's error lines otherwise. */
const wait: CommandDef = {
  paths: [['container', 'wait'], ['wait']],
  usage: 'CONTAINER [CONTAINER...]',
  description: 'Block until one or more containers stop, then print their exit codes',
  args: { min: 1 },
  async run(ctx) {
    const client = await ctx.client();
    await eachArg(ctx, async (name) => {
      const r = await client.json<{ StatusCode: number }>({ method: 'POST', path: `/containers/${encodeURIComponent(name)}/wait`, query: { condition: 'not-running' } });
      return String(r.StatusCode);
    });
  },
};

const kill: CommandDef = {
  paths: [['container', 'kill'], ['kill']],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Kill one or more running containers',
  args: { min: 1 },
  flags: [{ name: 'signal', short: 's', kind: 'string', description: 'Signal to send to the container' }],
  async run(ctx) {
    const client = await ctx.client();
    await eachArg(ctx, (name) => client.transport.discard({
      method: 'POST', path: `/containers/${encodeURIComponent(name)}/kill`, query: { signal: ctx.flags.string('signal') || undefined },
    }));
  },
};

const rm: CommandDef = {
  paths: [['container', 'rm'], ['container', 'remove'], ['rm']],
  usage: '[OPTIONS] CONTAINER [CONTAINER...]',
  description: 'Remove one or more containers',
  args: { min: 1 },
  flags: [
    { name: 'force', short: 'f', kind: 'bool', description: 'Force the removal of a running container (uses SIGKILL)' },
    { name: 'link', short: 'l', kind: 'bool', description: 'Remove the specified link' },
    { name: 'volumes', short: 'v', kind: 'bool', description: 'Remove anonymous volumes associated with the container' },
  ],
  async run(ctx) {
    const client = await ctx.client();
    await eachArg(ctx, (name) => client.transport.discard({
      method: 'DELETE', path: `/containers/${encodeURIComponent(name)}`, query: { force: ctx.flags.bool('force'), v: ctx.flags.bool('volumes') },
    }));
  },
};

export const containerCommands: CommandDef[] = [run, create, start, psCommand, logs, wait, kill, rm, portCommand];
