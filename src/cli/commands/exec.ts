/** `berth exec` and `berth attach`: interactive sessions over hijacked connections. */
import { readFile } from 'node:fs/promises';
import type { Socket } from 'node:net';
import type { EngineClient } from '../../client/engine-client';
import { ApiError } from '../../client/transport';
import { StatusError } from '../errors';
import type { CommandContext, CommandDef } from '../registry';
import { FrameDemuxer } from './container-streams';
import { DEFAULT_DETACH_KEYS, DetachKeyScanner, enterRawMode, parseDetachKeys, trackWindowSize } from '../tty';

type SessionEnd = 'ended' | 'detached';

/**
 * Copy a hijacked stream to stdout/stderr and stdin to it until the daemon ends the output. With a TTY,
 * stdin is raw and the detach keys end the session without touching the process.
 */
function pumpSession(ctx: CommandContext, sock: Socket, head: Buffer, o: { tty: boolean; stdin: boolean; detachKeys: string }): Promise<SessionEnd> {
  const demux = new FrameDemuxer(o.tty, ctx.stdout, ctx.stderr);
  const restore = o.stdin && o.tty ? enterRawMode(ctx.stdin) : () => undefined;
  const scanner = o.tty ? new DetachKeyScanner(parseDetachKeys(o.detachKeys || DEFAULT_DETACH_KEYS)) : undefined;
  if (head.length) demux.push(head);
  return new Promise((resolve) => {
    let done = false;
    const onData = (c: Buffer) => {
      if (sock.destroyed) return;
      if (!scanner) { sock.write(c); return; }
      const r = scanner.push(c);
      if (r.forward.length) sock.write(r.forward);
      if (r.detach) finish('detached');
    };
    const onEnd = () => { if (!sock.destroyed) sock.end(); };
    const finish = (how: SessionEnd) => {
      if (done) return;
      done = true;
      restore();
      if (o.stdin) {
        ctx.stdin.off('data', onData);
        ctx.stdin.off('end', onEnd);
        ctx.stdin.pause();
      }
      if (how === 'detached') sock.destroy();
      resolve(how);
    };
    sock.on('data', (c: Buffer) => demux.push(c));
    sock.on('end', () => finish('ended'));
    sock.on('close', () => finish('ended'));
    sock.on('error', () => finish('ended'));
    if (o.stdin) {
      ctx.stdin.on('data', onData);
      ctx.stdin.on('end', onEnd);
      ctx.stdin.resume();
    }
  });
}

function daemonError(err: unknown): never {
  if (err instanceof ApiError) throw new StatusError(1, `Error response from daemon: ${err.message}`);
  throw err;
}

async function envFromFiles(files: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const f of files) {
    for (const raw of (await readFile(f, 'utf8')).split('\n')) {
      const line = raw.trim();
      if (!line || line.startsWith('#')) continue;
      out.push(line.includes('=') ? line : `${line}=${process.env[line] ?? ''}`);
    }
  }
  return out;
}

const exec: CommandDef = {
  paths: [['container', 'exec'], ['exec']],
  usage: '[OPTIONS] CONTAINER COMMAND [ARG...]',
  description: 'Execute a command in a running container',
  category: 'common',
  args: { min: 2 },
  interspersed: false,
  flags: [
    { name: 'detach', short: 'd', kind: 'bool', description: 'Detached mode: run command in the background' },
    { name: 'detach-keys', kind: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'env', short: 'e', kind: 'list', description: 'Set environment variables' },
    { name: 'env-file', kind: 'list', description: 'Read in a file of environment variables' },
    { name: 'interactive', short: 'i', kind: 'bool', description: 'Keep STDIN open even if not attached' },
    { name: 'privileged', kind: 'bool', description: 'Give extended privileges to the command' },
    { name: 'tty', short: 't', kind: 'bool', description: 'Allocate a pseudo-TTY' },
    { name: 'user', short: 'u', kind: 'string', description: 'Username or UID (format: "<name|uid>[:<group|gid>]")' },
    { name: 'workdir', short: 'w', kind: 'string', description: 'Working directory inside the container' },
  ],
  async run(ctx) {
    const f = ctx.flags;
    const client = await ctx.client();
    const [container, ...cmd] = ctx.args;
    const detach = f.bool('detach');
    const tty = f.bool('tty');
    const stdin = f.bool('interactive') && !detach;
    const detachKeys = f.string('detach-keys');
    if (detachKeys) parseDetachKeys(detachKeys);
    const size = ctx.stdout as { rows?: number; columns?: number };
    const body = {
      User: f.string('user'), Privileged: f.bool('privileged'), Tty: tty,
      AttachStdin: stdin, AttachStdout: !detach, AttachStderr: !detach, DetachKeys: detachKeys,
      Env: [...(await envFromFiles(f.list('env-file'))), ...f.list('env')], WorkingDir: f.string('workdir'), Cmd: cmd,
      ...(tty && ctx.stdout.isTTY && size.rows && size.columns ? { ConsoleSize: [size.rows, size.columns] } : {}),
    };
    const { Id: execId } = await client.json<{ Id: string }>({
      method: 'POST', path: `/containers/${encodeURIComponent(container)}/exec`, body,
    }).catch(daemonError);
    if (detach) {
      await client.transport.discard({ method: 'POST', path: `/exec/${execId}/start`, body: { Detach: true, Tty: tty } }).catch(daemonError);
      return 0;
    }
    const { socket, head } = await client.transport.hijack({
      method: 'POST', path: `/exec/${execId}/start`, body: { Detach: false, Tty: tty, ...('ConsoleSize' in body ? { ConsoleSize: body.ConsoleSize } : {}) },
    }).catch(daemonError);
    const stopResize = tty ? trackWindowSize(ctx.stdout, (h, w) => client.transport.discard({ method: 'POST', path: `/exec/${execId}/resize`, query: { h, w } })) : () => undefined;
    const how = await pumpSession(ctx, socket, head, { tty, stdin, detachKeys });
    stopResize();
    if (how === 'detached') return 0;
    const info = await client.json<{ ExitCode: number | null; Running: boolean }>({ path: `/exec/${execId}/json` });
    return info.ExitCode ?? 0;
  },
};

async function attachCommand(ctx: CommandContext, client: EngineClient): Promise<number> {
  const f = ctx.flags;
  const ref = ctx.args[0];
  const info = await client.json<{ Id: string; Config: { Tty: boolean; OpenStdin: boolean }; State: { Running: boolean; Paused: boolean } }>({
    path: `/containers/${encodeURIComponent(ref)}/json`,
  }).catch(daemonError);
  if (!info.State.Running) throw new StatusError(1, 'You cannot attach to a stopped container, start it first');
  if (info.State.Paused) throw new StatusError(1, 'You cannot attach to a paused container, unpause it first');
  const tty = info.Config.Tty;
  const stdin = info.Config.OpenStdin && !f.bool('no-stdin');
  const detachKeys = f.string('detach-keys');
  const { socket, head } = await client.transport.hijack({
    method: 'POST', path: `/containers/${info.Id}/attach`,
    query: { stream: true, stdin, stdout: true, stderr: true, ...(detachKeys ? { detachKeys } : {}) },
  }).catch(daemonError);
  const stopResize = tty ? trackWindowSize(ctx.stdout, (h, w) => client.transport.discard({ method: 'POST', path: `/containers/${info.Id}/resize`, query: { h, w } })) : () => undefined;
  // --sig-proxy: without a TTY, signals to the CLI go to the container (with a TTY they arrive as keys)
  const proxy = (sig: NodeJS.Signals) => { client.transport.discard({ method: 'POST', path: `/containers/${info.Id}/kill`, query: { signal: sig } }).catch(() => undefined); };
  const proxied: NodeJS.Signals[] = !tty && f.bool('sig-proxy') ? ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGUSR1', 'SIGUSR2'] : [];
  for (const s of proxied) process.on(s, proxy);
  try {
    const how = await pumpSession(ctx, socket, head, { tty, stdin, detachKeys });
    if (how === 'detached') throw new StatusError(1, 'read escape sequence');
    const res = await client.json<{ StatusCode: number }>({ method: 'POST', path: `/containers/${info.Id}/wait`, query: { condition: 'not-running' } });
    return res.StatusCode;
  } finally {
    stopResize();
    for (const s of proxied) process.off(s, proxy);
  }
}

const attach: CommandDef = {
  paths: [['container', 'attach'], ['attach']],
  usage: '[OPTIONS] CONTAINER',
  description: 'Attach local standard input, output, and error streams to a running container',
  args: { min: 1, max: 1 },
  flags: [
    { name: 'detach-keys', kind: 'string', description: 'Override the key sequence for detaching a container' },
    { name: 'no-stdin', kind: 'bool', description: 'Do not attach STDIN' },
    { name: 'sig-proxy', kind: 'bool', default: true, description: 'Proxy all received signals to the process' },
  ],
  async run(ctx) {
    return attachCommand(ctx, await ctx.client());
  },
};

export const execCommands: CommandDef[] = [exec, attach];
