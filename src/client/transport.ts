/**
 * HTTP to the Engine API over a unix socket (or plain tcp://host:port): one request per call, JSON bodies,
 * streamed JSON lines, raw body streams, and hijacked (101 Upgrade) connections for attach/exec.
 * Errors: daemon answers ≥ 400 become ApiError(status, message); a socket that cannot be reached becomes
 * DaemonConnectError.
 */
import * as http from 'node:http';
import type { Socket } from 'node:net';
import { Readable } from 'node:stream';

export class ApiError extends Error {
  constructor(readonly statusCode: number, message: string) {
    super(message);
  }
}

export class DaemonConnectError extends Error {
  constructor(readonly host: string, override readonly cause?: Error) {
    super(`Cannot connect to the berth daemon at ${host}. Is the berth daemon running?`);
  }
}

export type QueryValue = string | number | boolean | string[] | undefined | null;

export interface RequestOptions {
  method?: string;
  path: string;
  query?: Record<string, QueryValue>;
  headers?: Record<string, string>;
  /** JSON-encoded unless a Buffer, string or Readable */
  body?: unknown;
  /** don't prefix the path with /vX.Y */
  unversioned?: boolean;
  signal?: AbortSignal;
}

export interface Endpoint {
  socketPath?: string;
  hostname?: string;
  port?: number;
}

/** Parse `unix:///path`, `tcp://host:port`, `/path` into where to connect. */
export function parseHost(host: string): Endpoint {
  if (host.startsWith('unix://')) return { socketPath: host.slice('unix://'.length) };
  if (host.startsWith('/')) return { socketPath: host };
  const m = /^(?:tcp|http):\/\/([^:/]+|\[[^\]]+\]):(\d+)\/?$/.exec(host);
  if (m) return { hostname: m[1].replace(/^\[|\]$/g, ''), port: Number(m[2]) };
  throw new Error(`unable to parse docker host \`${host}\``);
}

export function encodeQuery(query: Record<string, QueryValue> = {}): string {
  const qs = new URLSearchParams();
  for (const [k, v] of Object.entries(query)) {
    if (v === undefined || v === null || v === '' || v === false) continue;
    if (Array.isArray(v)) for (const x of v) qs.append(k, x);
    else qs.append(k, v === true ? '1' : String(v));
  }
  const s = qs.toString();
  return s ? `?${s}` : '';
}

export class Transport {
  readonly endpoint: Endpoint;
  /** "1.47": requests go to /v1.47/...; undefined sends unversioned paths */
  apiVersion?: string;

  constructor(readonly host: string, private readonly userAgent = 'berth-cli') {
    this.endpoint = parseHost(host);
  }

  private requestPath(opts: RequestOptions): string {
    const prefix = opts.unversioned || !this.apiVersion ? '' : `/v${this.apiVersion}`;
    return prefix + opts.path + encodeQuery(opts.query);
  }

  private prepare(opts: RequestOptions): { headers: Record<string, string | number>; body?: Buffer | Readable } {
    const headers: Record<string, string | number> = { 'User-Agent': this.userAgent, ...(opts.headers ?? {}) };
    let body: Buffer | Readable | undefined;
    if (opts.body instanceof Readable) {
      body = opts.body;
      headers['Transfer-Encoding'] = 'chunked';
    } else if (Buffer.isBuffer(opts.body) || typeof opts.body === 'string') {
      body = Buffer.from(opts.body);
    } else if (opts.body !== undefined) {
      body = Buffer.from(JSON.stringify(opts.body));
      headers['Content-Type'] ??= 'application/json';
    }
    if (Buffer.isBuffer(body)) headers['Content-Length'] = body.length;
    return { headers, body };
  }

  /** Send a request; resolves with the response once headers arrive (status < 400), else rejects with ApiError. */
  request(opts: RequestOptions): Promise<http.IncomingMessage> {
    const { headers, body } = this.prepare(opts);
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        host: this.endpoint.hostname ?? 'api.moby.localhost',
        method: opts.method ?? 'GET',
        path: this.requestPath(opts),
        headers,
        signal: opts.signal,
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        if (['ENOENT', 'ECONNREFUSED', 'EACCES', 'ENOTDIR', 'EHOSTUNREACH', 'ECONNRESET'].includes(err.code ?? '') && !req.reusedSocket) {
          reject(new DaemonConnectError(this.host, err));
        } else reject(err);
      });
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) < 400) return resolve(res);
        readAll(res).then((buf) => reject(new ApiError(res.statusCode ?? 500, errorText(buf, res.statusCode ?? 500))), reject);
      });
      if (body instanceof Readable) {
        body.on('error', (e) => req.destroy(e));
        body.pipe(req);
      } else req.end(body);
    });
  }

  async json<T>(opts: RequestOptions): Promise<T> {
    const res = await this.request(opts);
    const buf = await readAll(res);
    if (buf.length === 0 || res.statusCode === 204) return undefined as T;
    return JSON.parse(buf.toString('utf8')) as T;
  }

  async discard(opts: RequestOptions): Promise<void> {
    const res = await this.request(opts);
    await readAll(res);
  }

  /** A streamed JSON response (pull, load, events, ...), one parsed value per message. */
  async *jsonStream<T = Record<string, unknown>>(opts: RequestOptions): AsyncGenerator<T> {
    const res = await this.request(opts);
    yield* parseJsonStream<T>(res);
  }

  /**
   * Open a hijacked connection (attach, exec start): sends `Connection: Upgrade, Upgrade: tcp` and resolves
   * with the raw socket after 101 (or 200, as old daemons answer) plus any bytes that arrived with the headers.
   */
  hijack(opts: RequestOptions): Promise<{ socket: Socket; head: Buffer }> {
    const { headers, body } = this.prepare(opts);
    headers.Connection = 'Upgrade';
    headers.Upgrade = 'tcp';
    return new Promise((resolve, reject) => {
      const req = http.request({
        ...this.endpoint,
        host: this.endpoint.hostname ?? 'api.moby.localhost',
        method: opts.method ?? 'POST',
        path: this.requestPath(opts),
        headers,
      });
      req.on('error', (err: NodeJS.ErrnoException) => {
        reject(['ENOENT', 'ECONNREFUSED', 'EACCES'].includes(err.code ?? '') ? new DaemonConnectError(this.host, err) : err);
      });
      req.on('upgrade', (_res, socket, head) => resolve({ socket: socket as Socket, head }));
      req.on('response', (res) => {
        if ((res.statusCode ?? 500) >= 400) {
          readAll(res).then((buf) => reject(new ApiError(res.statusCode ?? 500, errorText(buf, res.statusCode ?? 500))), reject);
          return;
        }
        resolve({ socket: res.socket as Socket, head: Buffer.alloc(0) });
      });
      if (Buffer.isBuffer(body)) req.end(body);
      else req.end();
    });
  }
}

export function readAll(stream: Readable): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

function errorText(buf: Buffer, status: number): string {
  const text = buf.toString('utf8').trim();
  try {
    const parsed = JSON.parse(text) as { message?: string };
    if (typeof parsed.message === 'string') return parsed.message;
  } catch {
    // not JSON: use the text as it is
  }
  return text || `${status} ${http.STATUS_CODES[status] ?? ''}`.trim();
}

/** Parse concatenated JSON values (newline/CRLF separated or not) from a byte stream. */
export async function* parseJsonStream<T>(stream: AsyncIterable<Buffer | string>): AsyncGenerator<T> {
  let buf = '';
  for await (const chunk of stream) {
    buf += typeof chunk === 'string' ? chunk : chunk.toString('utf8');
    let nl: number;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl).trim();
      buf = buf.slice(nl + 1);
      if (line) yield JSON.parse(line) as T;
    }
  }
  const rest = buf.trim();
  if (rest) yield JSON.parse(rest) as T;
}
