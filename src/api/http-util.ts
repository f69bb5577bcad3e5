import type { IncomingMessage, ServerResponse } from 'node:http';
import { BerthError, errorMessage, httpStatus, invalidArgument } from '../errors';
import type { RequestContext } from './router';

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = Buffer.from(JSON.stringify(body) + '\n');
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': data.length });
  res.end(data);
}

export function sendNoContent(res: ServerResponse, status = 204): void {
  res.writeHead(status);
  res.end();
}

export function sendError(res: ServerResponse, err: unknown): void {
  const status = httpStatus(err);
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (status === 304) { sendNoContent(res, 304); return; }
  sendJson(res, status, { message: errorMessage(err) });
}

/** The response of a normal (non-upgrade) request; handlers registered for hijack use ctx.upgrade instead. */
export function response(ctx: RequestContext): ServerResponse {
  if (!ctx.res) throw invalidArgument('this endpoint does not support connection upgrade');
  return ctx.res;
}

const MAX_JSON_BODY = 16 * 1024 * 1024;

export async function readBody(req: IncomingMessage, limit = MAX_JSON_BODY): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of req) {
    total += (chunk as Buffer).length;
    if (total > limit) throw invalidArgument(`request body larger than ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** Parse a JSON body. An empty body gives `fallback` (or 400 when none). Malformed JSON is 400. */
export async function readJson<T = unknown>(req: IncomingMessage, fallback?: T): Promise<T> {
  const raw = await readBody(req);
  if (raw.length === 0 || raw.toString().trim() === '') {
    if (fallback !== undefined) return fallback;
    throw invalidArgument('request body is empty; a JSON object was expected');
  }
  try {
    return JSON.parse(raw.toString('utf8')) as T;
  } catch (err) {
    throw invalidArgument(`invalid JSON in request body: ${errorMessage(err)}`);
  }
}

/** Query booleans as dockerd reads them: `1`, `true`, `True` are true; absent is `dflt`. */
export function queryBool(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null) return dflt;
  return ['1', 'true', 'True', 'TRUE', 'yes'].includes(v);
}

export function queryInt(q: URLSearchParams, name: string, dflt?: number): number | undefined {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  const n = Number(v);
  if (!Number.isFinite(n)) throw invalidArgument(`invalid value for ${name}: ${v}`);
  return Math.trunc(n);
}

export type Filters = Map<string, string[]>;

/**
 * `filters` is JSON in the query: `{"key":["v1","v2"]}`, or the legacy `{"key":{"v1":true}}`.
 * Keys outside `allowed` are 400 `invalid filter 'key'`, as dockerd answers.
 */
export function parseFilters(q: URLSearchParams, allowed: readonly string[]): Filters {
  const out: Filters = new Map();
  const raw = q.get('filters');
  if (!raw) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidArgument(`invalid filter: ${raw}`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw invalidArgument(`invalid filter: ${raw}`);
  for (const [key, value] of Object.entries(parsed as Record<string, unknown>)) {
    if (!allowed.includes(key)) throw invalidArgument(`invalid filter '${key}'`);
    let values: string[];
    if (Array.isArray(value)) values = value.map(String);
    else if (value && typeof value === 'object') values = Object.keys(value).filter((k) => (value as Record<string, unknown>)[k]);
    else throw invalidArgument(`invalid filter '${key}'`);
    out.set(key, values);
  }
  return out;
}

/**
 * A streamed JSON response (pull, push, load, build, events): each message is one write, flushed at once,
 * separated by CRLF as dockerd does. After headers are sent, errors travel in-band.
 */
export class JsonStream {
  private startedFlag = false;
  constructor(private readonly res: ServerResponse, private readonly contentType = 'application/json') {}

  start(): void {
    if (this.startedFlag) return;
    this.startedFlag = true;
    this.res.writeHead(200, { 'Content-Type': this.contentType, 'Transfer-Encoding': 'chunked' });
    this.res.flushHeaders();
  }

  write(msg: unknown): void {
    this.start();
    if (!this.res.writableEnded && !this.res.destroyed) this.res.write(JSON.stringify(msg) + '\r\n');
  }

  error(err: unknown): void {
    const message = errorMessage(err);
    const body: Record<string, unknown> = { errorDetail: { message }, error: message };
    if (err instanceof BerthError) (body.errorDetail as Record<string, unknown>).code = httpStatus(err);
    this.write(body);
  }

  end(): void {
    this.start();
    if (!this.res.writableEnded) this.res.end();
  }

  /** True once headers went out: from then on errors must be reported in-band. */
  get started(): boolean {
    return this.startedFlag;
  }

  get closed(): boolean {
    return this.res.destroyed || this.res.writableEnded;
  }
}
