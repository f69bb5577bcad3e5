/**
 * Engine API routes for sharing images: push, login (`/auth`), search, and distribution inspect.
 * `/images/search` is a fixed path and `/images/{name*}/push` a POST: register these before the image
 * routes' greedy `{name*}` patterns so `search` is never read as an image name.
 */
import type { ServerResponse } from 'node:http';
import type { LoginResult } from '../engine/auth-check';
import type { PushOptions, PushResult } from '../engine/push';
import { SEARCH_FILTER_KEYS, type SearchOptions, type SearchResult } from '../engine/search';
import { invalidArgument } from '../errors';
import type { ProgressMessage } from '../image/types';
import { decodeRegistryAuth, type AuthConfig } from '../registry/auth';
import type { DistributionInspect } from '../registry/distribution';
import { JsonStream, parseFilters, queryInt, readJson, response, sendJson } from './http-util';
import type { RequestContext, Router } from './router';

/** What these routes call (the daemon passes a Pusher, an AuthChecker, an ImageSearcher and the Puller). */
export interface DistributionBackend {
  pusher: { push(name: string, opts: PushOptions, progress: (m: ProgressMessage) => void): Promise<PushResult[]> };
  authChecker: { check(auth: AuthConfig, signal?: AbortSignal): Promise<LoginResult> };
  searcher: { search(term: string, opts: SearchOptions): Promise<SearchResult[]> };
  distribution: { inspectDistribution(ref: string, auth?: AuthConfig, signal?: AbortSignal): Promise<DistributionInspect> };
}

function registryAuth(ctx: RequestContext): AuthConfig | undefined {
  return decodeRegistryAuth(ctx.req.headers['x-registry-auth'] as string | undefined);
}

/** Aborted when the client goes away. */
function clientSignal(res: ServerResponse): AbortSignal {
  const abort = new AbortController();
  res.on('close', () => { if (!res.writableFinished) abort.abort(new Error('client disconnected')); });
  return abort.signal;
}

/** `platform` as API 1.46 sends it (JSON of an OCI platform) or as `os/arch[/variant]`. */
function platformParam(raw: string | null): string | { os: string; architecture: string; variant?: string } | undefined {
  if (!raw) return undefined;
  if (!raw.trim().startsWith('{')) return raw;
  try {
    const p = JSON.parse(raw) as { os?: string; architecture?: string; variant?: string };
    if (!p.os && !p.architecture) return undefined;
    return { os: p.os ?? 'linux', architecture: p.architecture ?? '', ...(p.variant ? { variant: p.variant } : {}) };
  } catch {
    throw invalidArgument(`invalid platform: ${raw}`);
  }
}

/** The /auth body: the CLI and the SDKs differ in key case. */
function authBody(raw: Record<string, unknown>): AuthConfig {
  const byLower = new Map(Object.entries(raw ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  const out: AuthConfig = {};
  for (const key of ['username', 'password', 'auth', 'serveraddress', 'email', 'identitytoken', 'registrytoken'] as const) {
    const v = byLower.get(key);
    if (typeof v === 'string' && v) out[key] = v;
  }
  if (!out.username && out.auth) {
    const decoded = Buffer.from(out.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      out.username = decoded.slice(0, colon);
      out.password = decoded.slice(colon + 1);
    }
  }
  return out;
}

function loginBody(result: LoginResult): { IdentityToken: string; Status: string } {
  return { IdentityToken: result.IdentityToken ?? '', Status: result.Status };
}

export function registerDistributionRoutes(router: Router, deps: DistributionBackend): void {
  router.get('/images/search', async (ctx) => {
    const res = response(ctx);
    const filters = parseFilters(ctx.query, SEARCH_FILTER_KEYS);
    const results = await deps.searcher.search(ctx.query.get('term') ?? '', {
      limit: queryInt(ctx.query, 'limit', 0), filters, auth: registryAuth(ctx), signal: clientSignal(res),
    });
    sendJson(res, 200, results);
  });

  router.post('/images/{name*}/push', async (ctx) => {
    const res = response(ctx);
    const auth = registryAuth(ctx);
    const platform = platformParam(ctx.query.get('platform'));
    ctx.req.resume();
    const stream = new JsonStream(res);
    const signal = clientSignal(res);
    try {
      await deps.pusher.push(ctx.params.name, { tag: ctx.query.get('tag') ?? undefined, auth, platform, signal }, (m) => stream.write(m));
    } catch (err) {
      // before the first message (no such local image) the status code carries it, as with dockerd
      if (!stream.started) throw err;
      stream.error(err);
    }
    stream.end();
  });

  router.post('/auth', async (ctx) => {
    const res = response(ctx);
    const body = await readJson<Record<string, unknown>>(ctx.req, {});
    const result = await deps.authChecker.check(authBody(body), clientSignal(res));
    sendJson(res, 200, loginBody(result));
  });

  router.get('/distribution/{name*}/json', async (ctx) => {
    const res = response(ctx);
    sendJson(res, 200, await deps.distribution.inspectDistribution(ctx.params.name, registryAuth(ctx), clientSignal(res)));
  });
}
