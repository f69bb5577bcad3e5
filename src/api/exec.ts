import type { Duplex } from 'node:stream';
import { errorMessage, invalidArgument } from '../errors';
import type { ExecCreateRequest, ExecService, ExecStartOptions } from '../engine/exec';
import { frameHeader } from './containers';
import { queryInt, readJson, response, sendJson } from './http-util';
import type { RequestContext, Router } from './router';
import { commonHeaders } from './server';
import { stdinWithDetachKeys } from './detach-stdin';

interface ExecStartBody {
  Detach?: boolean;
  Tty?: boolean;
  ConsoleSize?: [number, number] | null;
}

/**
 * The JSON body of an Upgrade request: Node hands the bytes after the headers over as `head` (and the
 * socket); the first Content-Length bytes are the body, the rest is already stdin.
 */
async function readUpgradeBody(ctx: RequestContext): Promise<{ body: ExecStartBody; rest: Buffer }> {
  const { socket } = ctx.upgrade!;
  let buf = ctx.upgrade!.head;
  const len = Number(ctx.req.headers['content-length'] ?? 0);
  if (len > 0 && buf.length < len) {
    buf = await new Promise<Buffer>((resolve, reject) => {
      const parts = [buf];
      let total = buf.length;
      const onData = (b: Buffer) => {
        parts.push(b);
        total += b.length;
        if (total >= len) { socket.off('data', onData); socket.pause(); resolve(Buffer.concat(parts)); }
      };
      socket.on('data', onData);
      socket.once('error', reject);
      socket.once('end', () => reject(new Error('connection closed before the request body')));
    });
  }
  const raw = buf.subarray(0, len).toString('utf8').trim();
  let body: ExecStartBody = {};
  if (raw) {
    try { body = JSON.parse(raw) as ExecStartBody; } catch (err) { throw invalidArgument(`invalid JSON in request body: ${errorMessage(err)}`); }
  }
  return { body: body ?? {}, rest: buf.subarray(len) };
}

function streamType(tty: boolean, apiVersion: string): string {
  const [maj, min] = apiVersion.split('.').map(Number);
  const multiplexed = maj > 1 || (maj === 1 && min >= 42);
  return tty || !multiplexed ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
}

/** Exec routes: create, start (hijacked unless Detach), resize, inspect. */
export function registerExecRoutes(router: Router, svc: ExecService): void {
  router.post('/containers/{id}/exec', async (ctx) => {
    const body = await readJson<ExecCreateRequest>(ctx.req);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('No exec command specified');
    sendJson(response(ctx), 201, svc.create(ctx.params.id, body));
  });

  router.post('/exec/{id}/start', async (ctx) => {
    if (!ctx.upgrade) {
      const body = await readJson<ExecStartBody>(ctx.req, {});
      const opts: ExecStartOptions = { detach: Boolean(body.Detach), tty: body.Tty, consoleSize: body.ConsoleSize };
      if (opts.detach) {
        await svc.start(ctx.params.id, opts);
        sendJson(response(ctx), 200, {});
        return;
      }
      await plainStart(ctx, svc, opts);
      return;
    }
    const { body, rest } = await readUpgradeBody(ctx);
    const opts: ExecStartOptions = { detach: Boolean(body.Detach), tty: body.Tty, consoleSize: body.ConsoleSize };
    svc.checkStart(ctx.params.id);
    const info = svc.inspect(ctx.params.id) as { ProcessConfig: { tty: boolean } };
    const tty = opts.tty ?? info.ProcessConfig.tty;
    const socket: Duplex = ctx.upgrade.socket;
    const extra = Object.entries(commonHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${streamType(tty, ctx.apiVersion)}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`);
    if (opts.detach) { socket.end(); await svc.start(ctx.params.id, opts); return; }
    const write = (stream: 'stdout' | 'stderr', data: Buffer) => {
      if (socket.destroyed || !socket.writable) return;
      if (!tty) socket.write(frameHeader(stream, data.length));
      socket.write(data);
    };
    const stdinQueue: Buffer[] = [];
    let stdinEnded = false;
    let handle: Awaited<ReturnType<ExecService['start']>> | undefined;
    const detachKeys = (svc.inspect(ctx.params.id) as { DetachKeys?: string }).DetachKeys;
    const stdin = stdinWithDetachKeys(tty, detachKeys, (b) => (handle ? handle.writeStdin(b) : stdinQueue.push(b)), () => { handle?.detach(); socket.end(); });
    socket.on('data', stdin);
    socket.on('end', () => { stdinEnded = true; handle?.closeStdin(); });
    socket.on('close', () => handle?.detach());
    socket.on('error', () => handle?.detach());
    if (rest.length && rest.toString() !== '0\r\n\r\n') stdin(rest);
    socket.resume();
    try {
      handle = await svc.start(ctx.params.id, opts, { output: write, end: () => socket.end() });
    } catch (err) {
      // dockerd writes a start failure into the stream (after 101 there is no status to send)
      write('stdout', Buffer.from(`${errorMessage(err)}\r\n`));
      socket.end();
      return;
    }
    for (const b of stdinQueue) handle.writeStdin(b);
    if (stdinEnded) handle.closeStdin();
  });

  router.post('/exec/{id}/resize', async (ctx) => {
    const h = queryInt(ctx.query, 'h', 0)!;
    const w = queryInt(ctx.query, 'w', 0)!;
    await svc.resize(ctx.params.id, h, w);
    const res = response(ctx);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0 });
    res.end();
  });

  router.get('/exec/{id}/json', async (ctx) => sendJson(response(ctx), 200, await svc.inspectSettled(ctx.params.id)));
}

/** Start without Upgrade (old clients): output only, in a plain 200 response. */
async function plainStart(ctx: RequestContext, svc: ExecService, opts: ExecStartOptions): Promise<void> {
  svc.checkStart(ctx.params.id);
  const info = svc.inspect(ctx.params.id) as { ProcessConfig: { tty: boolean } };
  const tty = opts.tty ?? info.ProcessConfig.tty;
  const res = response(ctx);
  res.writeHead(200, { 'Content-Type': streamType(tty, ctx.apiVersion) });
  res.flushHeaders();
  const write = (stream: 'stdout' | 'stderr', data: Buffer) => {
    if (res.writableEnded) return;
    if (!tty) res.write(frameHeader(stream, data.length));
    res.write(data);
  };
  try {
    const handle = await svc.start(ctx.params.id, opts, { output: write, end: () => res.end() });
    res.on('close', () => handle.detach());
  } catch (err) {
    write('stdout', Buffer.from(`${errorMessage(err)}\r\n`));
    res.end();
  }
}
