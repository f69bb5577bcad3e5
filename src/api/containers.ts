import type { Duplex } from 'node:stream';
import { invalidArgument } from '../errors';
import type { CreateRequest } from '../engine/containers-config';
import { parseLogTime, parseTail } from '../engine/containers-logs';
import { LIST_FILTERS } from '../engine/containers-view';
import type { ContainerService, WaitCondition } from '../engine/containers';
import type { OutputStream } from '../runtime/attach-socket';
import { parseFilters, queryBool, queryInt, readJson, response, sendJson, sendNoContent } from './http-util';
import type { RequestContext, Router } from './router';
import { commonHeaders } from './server';
import { stdinWithDetachKeys } from './detach-stdin';
import { AttachOutput, frameHeader } from './attach-output';

export { frameHeader };

function streamContentType(tty: boolean, apiVersion: string): string {
  const [maj, min] = apiVersion.split('.').map(Number);
  const multiplexedType = maj > 1 || (maj === 1 && min >= 42);
  return tty || !multiplexedType ? 'application/vnd.docker.raw-stream' : 'application/vnd.docker.multiplexed-stream';
}

const WAIT_CONDITIONS: WaitCondition[] = ['not-running', 'next-exit', 'removed'];

/** Container routes (Engine API 1.47 shapes). */
export function registerContainerRoutes(router: Router, svc: ContainerService): void {
  router.post('/containers/create', async (ctx) => {
    const body = await readJson<CreateRequest>(ctx.req);
    if (!body || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('config cannot be empty in order to create a container');
    const result = await svc.create(body, ctx.query.get('name') ?? undefined, ctx.query.get('platform') || undefined);
    sendJson(response(ctx), 201, result);
  });

  router.get('/containers/json', async (ctx) => {
    const filters = parseFilters(ctx.query, LIST_FILTERS);
    const rows = svc.list({ all: queryBool(ctx.query, 'all'), limit: queryInt(ctx.query, 'limit'), filters });
    sendJson(response(ctx), 200, queryBool(ctx.query, 'size') ? await svc.withSizes(rows) : rows);
  });

  // /containers/prune and /containers/{id}/restart are served by api/container-ops.ts

  router.get('/containers/{id}/json', async (ctx) => {
    const view = svc.inspect(ctx.params.id);
    if (!queryBool(ctx.query, 'size')) return sendJson(response(ctx), 200, view);
    // unlike the list, inspect -s shows zero sizes too
    const [sized] = await svc.withSizes([view]);
    sendJson(response(ctx), 200, { ...sized, SizeRw: sized.SizeRw ?? 0, SizeRootFs: sized.SizeRootFs ?? 0 });
  });

  router.post('/containers/{id}/start', async (ctx) => {
    await svc.start(ctx.params.id);
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/stop', async (ctx) => {
    const t = queryInt(ctx.query, 't') ?? queryInt(ctx.query, 'timeout');
    await svc.stop(ctx.params.id, t, ctx.query.get('signal') ?? undefined);
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/kill', async (ctx) => {
    await svc.kill(ctx.params.id, ctx.query.get('signal') || 'SIGKILL');
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/resize', async (ctx) => {
    const h = queryInt(ctx.query, 'h', 0)!;
    const w = queryInt(ctx.query, 'w', 0)!;
    await svc.resize(ctx.params.id, h, w);
    const res = response(ctx);
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 0 });
    res.end();
  });

  router.delete('/containers/{id}', async (ctx) => {
    await svc.remove(ctx.params.id, { force: queryBool(ctx.query, 'force'), volumes: queryBool(ctx.query, 'v') });
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/wait', async (ctx) => {
    const res = response(ctx);
    const condition = (ctx.query.get('condition') || 'not-running') as WaitCondition;
    if (!WAIT_CONDITIONS.includes(condition)) throw invalidArgument(`invalid condition: "${condition}"`);
    const abort = new AbortController();
    const result = svc.wait(ctx.params.id, condition, abort.signal);
    // Clients (the docker CLI) wait for these headers before they start the container.
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.flushHeaders();
    res.on('close', () => abort.abort());
    try {
      const body = await result;
      res.end(JSON.stringify(body) + '\n');
    } catch {
      res.destroy();
    }
  });

  router.get('/containers/{id}/logs', async (ctx) => {
    const res = response(ctx);
    const q = ctx.query;
    const info = svc.get(ctx.params.id);
    const tty = info.config.Tty;
    const abort = new AbortController();
    const chunks = svc.logs(ctx.params.id, {
      follow: queryBool(q, 'follow'), stdout: queryBool(q, 'stdout'), stderr: queryBool(q, 'stderr'),
      tail: parseTail(q.get('tail')), sinceNs: parseLogTime(q.get('since')), untilNs: parseLogTime(q.get('until')),
      timestamps: queryBool(q, 'timestamps'), details: queryBool(q, 'details'),
    }, abort.signal);
    // the first step validates the options, so a bad request still gets a plain 400
    const first = await chunks.next();
    res.writeHead(200, { 'Content-Type': streamContentType(tty, ctx.apiVersion) });
    res.flushHeaders();
    res.on('close', () => abort.abort());
    const send = async (stream: OutputStream, data: Buffer) => {
      if (res.destroyed) return;
      if (!tty) res.write(frameHeader(stream, data.length));
      // wait for the socket to drain, so a big log is not buffered whole in memory
      if (!res.write(data) && !res.destroyed) {
        await new Promise<void>((resolve) => {
          const done = () => { res.off('drain', done); res.off('close', done); resolve(); };
          res.on('drain', done);
          res.on('close', done);
        });
      }
    };
    if (!first.done) await send(first.value.stream, first.value.data);
    if (!first.done) for await (const c of chunks) await send(c.stream, c.data);
    if (!res.writableEnded) res.end();
  });

  router.post('/containers/{id}/attach', async (ctx) => attachRoute(ctx, svc));
}

async function attachRoute(ctx: RequestContext, svc: ContainerService): Promise<void> {
  const q = ctx.query;
  const c = svc.get(ctx.params.id);
  const tty = c.config.Tty;
  const contentType = streamContentType(tty, ctx.apiVersion);
  const opts = { stdin: queryBool(q, 'stdin'), stdout: queryBool(q, 'stdout'), stderr: queryBool(q, 'stderr') };
  if (!queryBool(q, 'stream') && !queryBool(q, 'logs')) throw invalidArgument('Bad parameters: you must choose at least one stream');

  let socket: Duplex;
  let head: Buffer = Buffer.alloc(0);
  // The 101 leaves once the session is registered (or before the first byte of output): a client that
  // inspects or starts the container right after its attach returned must find the session in place.
  let upgraded = !ctx.upgrade;
  const sendUpgrade = () => {
    if (upgraded) return;
    upgraded = true;
    const extra = Object.entries(commonHeaders()).map(([k, v]) => `${k}: ${v}\r\n`).join('');
    socket.write(`HTTP/1.1 101 UPGRADED\r\nContent-Type: ${contentType}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n${extra}\r\n`);
  };
  if (ctx.upgrade) {
    socket = ctx.upgrade.socket;
    head = ctx.upgrade.head;
  } else {
    // Old clients without Upgrade: stream output in a plain 200 response (no stdin).
    const res = response(ctx);
    res.writeHead(200, { 'Content-Type': contentType });
    res.flushHeaders();
    socket = res.socket as Duplex;
    opts.stdin = false;
    res.on('close', () => handle?.detach());
  }

  let corked = false;
  const write = (b: Buffer) => {
    if (!ctx.upgrade) { if (!ctx.res!.writableEnded) ctx.res!.write(b); return; }
    if (socket.destroyed || !socket.writable) return;
    sendUpgrade();
    // frames that arrive in one turn of the event loop leave in one writev, not two writes per packet
    if (!corked) {
      corked = true;
      socket.cork();
      setImmediate(() => { corked = false; socket.uncork(); });
    }
    socket.write(b);
  };
  let handle: Awaited<ReturnType<ContainerService['attach']>> | undefined;
  if (queryBool(q, 'logs') && (opts.stdout || opts.stderr) && c.hostConfig.LogConfig.Type !== 'none') {
    // replay what the log holds so far, then (with stream=1) go on live
    for await (const r of svc.logs(c.id, { follow: false, stdout: opts.stdout, stderr: opts.stderr, sinceNs: 0n, untilNs: 0n })) {
      if (!tty) write(frameHeader(r.stream, r.data.length));
      write(r.data);
    }
  }
  if (!queryBool(q, 'stream')) {
    sendUpgrade();
    if (ctx.upgrade) socket.end();
    else ctx.res?.end();
    return;
  }
  const output = new AttachOutput(!tty, (bufs) => {
    if (!ctx.upgrade) {
      for (const b of bufs) if (!ctx.res!.writableEnded) ctx.res!.write(b);
      return;
    }
    if (socket.destroyed || !socket.writable) return;
    sendUpgrade();
    socket.cork();
    for (const b of bufs) socket.write(b);
    socket.uncork();
  });
  handle = await svc.attach(c.id, opts, {
    output(stream, data) {
      output.push(stream, data);
    },
    end() {
      output.flush();
      sendUpgrade();
      if (ctx.upgrade) socket.end();
      else ctx.res?.end();
    },
    // the raw fd of the hijacked connection, once the 101 header has left (engine/containers-attach.ts)
    directFd() {
      const fd = (socket as { _handle?: { fd?: unknown } })._handle?.fd;
      if (!ctx.upgrade || !upgraded || tty || socket.destroyed || socket.writableLength > 0 || typeof fd !== 'number' || fd < 0) return undefined;
      return fd;
    },
  });
  if (!ctx.upgrade) return;
  if (!socket.destroyed) sendUpgrade();
  // dockerode sends an empty chunked body terminator; it is not stdin.
  const stdin = stdinWithDetachKeys(tty, q.get('detachKeys'), (b) => handle!.writeStdin(b), () => { handle!.detach(); socket.end(); });
  if (head.length && head.toString() !== '0\r\n\r\n') stdin(head);
  socket.on('data', stdin);
  socket.on('end', () => handle!.closeStdin());
  socket.on('close', () => handle!.detach());
  socket.on('error', () => handle!.detach());
}
