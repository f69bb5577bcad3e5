/**
 * Request bodies read straight from the socket, for POST /build (a context of tens of MB). Node's HTTP parser
 * hands a body over as one copied buffer, one C++→JS call and one stream event per chunk of the chunked
 * encoding (~21 KB from the docker CLI); read here, each socket read (up to 64 KiB) is one event, decoded in
 * place, and its buffer goes on to the build without a copy.
 *
 * How the socket is taken over: a request that qualifies is marked as an upgrade while the parser reports its
 * headers, so Node's server stops parsing at the end of the headers and emits 'upgrade' with the socket and
 * the bytes it had already read past them (`head`). The response is a normal ServerResponse on that socket
 * with `Connection: close`; the socket is closed once the response is sent and the body fully read.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { Readable, type Duplex } from 'node:stream';
import { ChunkedDecoder } from '../build/chunked-decoder';
import { markOwnedChunks } from '../build/context';
import { invalidArgument } from '../errors';

const RAW_BODY_PATH = /^(?:\/v\d+(?:\.\d+)*)?\/build$/;

/** Is `req` (headers just parsed) one whose body is read from the socket? */
export function wantsRawBody(req: http.IncomingMessage): boolean {
  if (req.method !== 'POST' || req.headers.expect !== undefined || req.headers.upgrade !== undefined) return false;
  const url = req.url ?? '';
  const q = url.indexOf('?');
  if (!RAW_BODY_PATH.test(q < 0 ? url : url.slice(0, q))) return false;
  const te = req.headers['transfer-encoding'];
  return te === undefined ? true : te.trim().toLowerCase() === 'chunked';
}

interface ParserWithIncoming {
  onIncoming?: (req: http.IncomingMessage, keepAlive: boolean) => unknown;
}

/**
 * Called for each new connection of `server` (after Node's own 'connection' listener, which set up the
 * parser): marks qualifying requests as upgrades. The server must have an 'upgrade' listener.
 */
export function routeRawBodyRequests(socket: Socket): void {
  const parser = (socket as Socket & { parser?: ParserWithIncoming }).parser;
  const onIncoming = parser?.onIncoming;
  if (!parser || !onIncoming) return;
  parser.onIncoming = (req, keepAlive) => {
    if (wantsRawBody(req)) (req as http.IncomingMessage & { upgrade: boolean }).upgrade = true;
    return onIncoming(req, keepAlive);
  };
}

/** Was this upgrade request one routed here for its body (not a real upgrade)? */
export function isRawBodyRequest(req: http.IncomingMessage): boolean {
  return req.headers.upgrade === undefined && wantsRawBody(req);
}

/**
 * The body of `req` as a stream fed from `socket` (`head` first): chunked or Content-Length framed. A
 * malformed body errors the stream with an invalid-argument error; so does the socket ending early.
 */
export function rawBody(req: http.IncomingMessage, socket: Duplex, head: Buffer): Readable {
  const chunked = req.headers['transfer-encoding'] !== undefined;
  const decoder = chunked ? new ChunkedDecoder() : undefined;
  let left = chunked ? 0 : Number(req.headers['content-length'] ?? '0');
  if (!Number.isSafeInteger(left) || left < 0) left = -1;
  let ended = false;
  const detach = () => {
    socket.off('data', onData);
    socket.off('end', onEnd);
    socket.off('close', onEnd);
    socket.off('error', onError);
  };
  const body = new Readable({
    highWaterMark: 1 << 20,
    read: () => { if (!ended) socket.resume(); },
    destroy: (err, cb) => { detach(); cb(err); },
  });
  // the handler may have stopped reading (a bad parameter, a failed build): a late error is no crash
  body.on('error', () => undefined);
  // each socket read is a buffer of its own (exactly the bytes read); decoding keeps the data at its start
  markOwnedChunks(body);
  const finish = () => {
    ended = true;
    detach();
    socket.pause();
    body.push(null);
  };
  const onData = (buf: Buffer) => {
    let data: Buffer;
    if (decoder) {
      try {
        data = decoder.decode(buf);
      } catch (err) {
        ended = true;
        detach();
        socket.pause();
        body.destroy(err as Error);
        return;
      }
    } else {
      data = buf.length > left ? buf.subarray(0, left) : buf;
      left -= data.length;
    }
    if (data.length && !body.push(data)) socket.pause();
    if (decoder ? decoder.done : left === 0) finish();
  };
  const onEnd = () => { if (!ended) { ended = true; detach(); body.destroy(invalidArgument('unexpected EOF in the request body')); } };
  const onError = (err: Error) => { if (!ended) { ended = true; detach(); body.destroy(err); } };
  if (left < 0) {
    ended = true;
    process.nextTick(() => body.destroy(invalidArgument('invalid Content-Length')));
    return body;
  }
  socket.on('data', onData);
  socket.on('end', onEnd);
  socket.on('close', onEnd);
  socket.on('error', onError);
  socket.pause();
  if (head.length) onData(head);
  else if (!decoder && left === 0) finish();
  return body;
}

/**
 * A ServerResponse written to `socket`, closing the connection when it is sent; the socket is ended once
 * `body` is done too (drained if the handler stopped reading it), so the client sees the whole response.
 */
export function rawBodyResponse(req: http.IncomingMessage, socket: Duplex, body: Readable, headers: Record<string, string>): http.ServerResponse {
  const res = new http.ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  for (const [k, v] of Object.entries(headers)) res.setHeader(k, v);
  let bodyDone = body.readableEnded || body.destroyed;
  let sent = false;
  const close = () => {
    if (!sent || !bodyDone) return;
    res.detachSocket(socket as Socket);
    socket.end();
  };
  body.once('end', () => { bodyDone = true; close(); });
  body.once('close', () => {
    bodyDone = true;
    // a failed body (malformed, cut off): nothing more can be read from this connection
    if (!body.readableEnded && sent) socket.destroy();
    else close();
  });
  res.once('finish', () => {
    sent = true;
    if (!bodyDone) body.resume();
    close();
  });
  socket.once('close', () => { if (!res.writableFinished) res.destroy(); });
  // the server no longer watches an upgraded socket: a client that goes away mid-response (EPIPE,
  // ECONNRESET) must end this response, not the daemon
  socket.on('error', () => { if (!res.destroyed) res.destroy(); });
  return res;
}
