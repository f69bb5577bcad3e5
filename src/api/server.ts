import * as http from 'node:http';
import type { Duplex } from 'node:stream';
import { errorMessage, httpStatus } from '../errors';
import type { Logger } from '../util/logger';
import { sendError, sendJson } from './http-util';
import { routeRawBodyRequests } from './raw-body';
import type { RequestContext, Router } from './router';
import { API_VERSION, MIN_API_VERSION, BERTH_VERSION, splitVersion } from './version';

/** Headers dockerd puts on every response; clients read them from /_ping. */
export function commonHeaders(): Record<string, string> {
  return {
    'Api-Version': API_VERSION,
    'Docker-Experimental': 'false',
    Ostype: 'linux',
    Server: `berth/${BERTH_VERSION} (linux)`,
  };
}

/** The Engine API HTTP server: version prefix handling, routing, error mapping, upgrade (hijack) dispatch. */
export function createApiServer(router: Router, log: Logger): http.Server {
  const server = http.createServer({ keepAlive: true, requestTimeout: 0, headersTimeout: 60_000 });
  // POST /build's body is read from the socket by its handler: the request arrives as an upgrade
  server.on('connection', routeRawBodyRequests);

  const prepare = (req: http.IncomingMessage) => {
    const url = new URL(req.url ?? '/', 'http://berth');
    const v = splitVersion(url.pathname);
    return { url, v };
  };

  server.on('request', (req, res) => {
    const started = process.hrtime.bigint();
    for (const [k, val] of Object.entries(commonHeaders())) res.setHeader(k, val);
    const { url, v } = prepare(req);
    res.on('finish', () => {
      const ms = Number(process.hrtime.bigint() - started) / 1e6;
      log.debug('request', { method: req.method, path: url.pathname, status: res.statusCode, ms: Math.round(ms * 10) / 10 });
    });
    if (v.tooOld) {
      sendJson(res, 400, {
        message: `client version ${v.tooOld} is too old. Minimum supported API version is ${MIN_API_VERSION}, please upgrade your client to a newer version`,
      });
      return;
    }
    const method = req.method ?? 'GET';
    const found = router.match(method, v.path);
    if (found === undefined || found === 'method') {
      sendJson(res, 404, { message: found ? `method ${method} not allowed for ${v.path}` : `page not found` });
      return;
    }
    const ctx: RequestContext = { req, res, params: found.params, query: url.searchParams, apiVersion: v.version, path: v.path };
    Promise.resolve()
      .then(() => found.handler(ctx))
      .catch((err) => {
        const status = httpStatus(err);
        if (status >= 500) log.error('request failed', { method, path: v.path, error: errorMessage(err), stack: (err as Error)?.stack });
        else log.debug('request refused', { method, path: v.path, status, error: errorMessage(err) });
        sendError(res, err);
      });
  });

  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    // Node's server stops watching a socket it handed over: without a listener, a client that goes away
    // (EPIPE, ECONNRESET) while a handler still writes would be an uncaught error
    socket.on('error', (err) => log.debug('upgraded connection error', { error: errorMessage(err) }));
    const { url, v } = prepare(req);
    const method = req.method ?? 'POST';
    const found = router.match(method, v.path);
    const fail = (status: number, message: string) => {
      const body = JSON.stringify({ message }) + '\n';
      socket.end(`HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
    };
    if (found === undefined || found === 'method') { fail(404, 'page not found'); return; }
    const ctx: RequestContext = { req, upgrade: { socket, head }, params: found.params, query: url.searchParams, apiVersion: v.version, path: v.path };
    Promise.resolve()
      .then(() => found.handler(ctx))
      .catch((err) => {
        log.debug('upgrade request failed', { path: v.path, error: errorMessage(err) });
        if (socket.writable) fail(httpStatus(err), errorMessage(err));
        else socket.destroy();
      });
  });

  server.on('clientError', (err, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    log.debug('client error', { error: errorMessage(err) });
  });

  return server;
}
