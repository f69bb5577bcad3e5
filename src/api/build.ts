/**
 * Engine API build routes: POST /build (the classic builder; the body is the context tar) and
 * POST /build/prune. Parameters are checked before the stream starts (bad ones are a plain 400); from then
 * on progress and errors travel in the JSON stream, as dockerd sends them.
 */
import type { Builder } from '../build/builder';
import { RunStepError, type BuildOptions } from '../build/types';
import { errorMessage, invalidArgument } from '../errors';
import { decodeRegistryAuth, type AuthConfig } from '../registry/auth';
import type { Readable } from 'node:stream';
import { JsonStream, queryBool, response, sendError, sendJson } from './http-util';
import { isRawBodyRequest, rawBody, rawBodyResponse } from './raw-body';
import { commonHeaders } from './server';
import type { RequestContext, Router } from './router';

function jsonParam<T>(q: URLSearchParams, name: string): T | undefined {
  const raw = q.get(name);
  if (raw === null || raw === '') return undefined;
  try {
    return JSON.parse(raw) as T;
  } catch {
    throw invalidArgument(`invalid ${name} parameter: ${raw}`);
  }
}

function stringMap(v: unknown, name: string, allowNull: boolean): Record<string, string | null> {
  if (v === undefined) return {};
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw invalidArgument(`invalid ${name} parameter: not a JSON object`);
  const out: Record<string, string | null> = {};
  for (const [k, val] of Object.entries(v as Record<string, unknown>)) {
    if (typeof val === 'string' || (allowNull && val === null)) out[k] = val as string | null;
    else throw invalidArgument(`invalid ${name} parameter: value of ${k} is not a string`);
  }
  return out;
}

/** X-Registry-Config: base64 JSON `{registry: AuthConfig}`. */
export function decodeRegistryConfig(header: string | undefined): Record<string, AuthConfig> | undefined {
  const text = header?.trim();
  if (!text) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8'));
  } catch {
    throw invalidArgument('invalid X-Registry-Config header: failed to decode');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return undefined;
  const out: Record<string, AuthConfig> = {};
  for (const [registry, value] of Object.entries(parsed as Record<string, unknown>)) {
    const auth = value && typeof value === 'object' ? decodeRegistryAuth(JSON.stringify(value)) : undefined;
    if (auth) out[registry] = auth;
  }
  return out;
}

export function buildOptions(ctx: RequestContext): BuildOptions {
  const q = ctx.query;
  if (q.get('remote')) throw invalidArgument('remote build contexts are not supported: send the context as the request body');
  if (q.get('version') === '2') throw invalidArgument('BuildKit is not supported by this daemon: build with DOCKER_BUILDKIT=0 (the classic builder)');
  return {
    tags: q.getAll('t').filter(Boolean),
    dockerfile: q.get('dockerfile') || undefined,
    buildArgs: stringMap(jsonParam(q, 'buildargs'), 'buildargs', true),
    labels: stringMap(jsonParam(q, 'labels'), 'labels', false) as Record<string, string>,
    target: q.get('target') || undefined,
    noCache: queryBool(q, 'nocache'),
    pull: queryBool(q, 'pull'),
    quiet: queryBool(q, 'q'),
    network: q.get('networkmode') || undefined,
    platform: q.get('platform') || undefined,
    authConfigs: decodeRegistryConfig(ctx.req.headers['x-registry-config'] as string | undefined),
  };
}

export function registerBuildRoutes(router: Router, builder: Builder): void {
  router.post('/build', async (ctx) => {
    // a context routed past Node's body parsing (see raw-body.ts) arrives as an upgrade
    const raw = ctx.upgrade && isRawBodyRequest(ctx.req) ? ctx.upgrade : undefined;
    const body: Readable = raw ? rawBody(ctx.req, raw.socket, raw.head) : ctx.req;
    const res = raw ? rawBodyResponse(ctx.req, raw.socket, body, commonHeaders()) : response(ctx);
    let opts: BuildOptions;
    try {
      opts = buildOptions(ctx);
    } catch (err) {
      body.resume();
      if (!raw) throw err;
      sendError(res, err);
      return;
    }
    const abort = new AbortController();
    res.on('close', () => { if (!res.writableFinished) abort.abort(new Error('client disconnected')); });
    opts.signal = abort.signal;
    // the response starts with the first message: as with dockerd, an error before any output (a malformed
    // body, a Dockerfile parse error, an unknown target) is a plain HTTP error the CLI prints as such
    const stream = new JsonStream(res);
    try {
      await builder.build(body, opts, (m) => stream.write(m));
    } catch (err) {
      body.resume();
      if (!stream.started) {
        sendError(res, err);
        return;
      }
      const message = errorMessage(err);
      // dockerd puts a code in errorDetail only for a failed RUN (the CLI exits with it)
      const detail = err instanceof RunStepError ? { code: err.exitCode, message } : { message };
      stream.write({ errorDetail: detail, error: message });
    }
    stream.end();
  });

  router.post('/build/prune', async (ctx) => {
    ctx.req.resume();
    sendJson(response(ctx), 200, await builder.prune());
  });
}
