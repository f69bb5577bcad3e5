/**
 * Engine API image routes. Handlers only read parameters, call the ImageService and serialise. Fixed paths
 * are declared before the greedy `{name*}` ones so `/images/json` and `/images/get` are never taken for names.
 */
import type { ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import type { ImageService } from '../engine/images';
import { LIST_FILTER_KEYS, PRUNE_FILTER_KEYS } from '../engine/image-filters';
import type { ProgressMessage } from '../image/types';
import { decodeRegistryAuth } from '../registry/auth';
import { JsonStream, parseFilters, queryBool, response, sendJson, sendNoContent } from './http-util';
import type { RequestContext, Router } from './router';

/**
 * Progress for a streamed response that may still fail with a plain HTTP error: the leading
 * "Pulling from …" line is held back until something else comes, as dockerd reports errors that happen
 * before any download (unknown image, bad auth) with a status code.
 */
class HeldProgress {
  private held: ProgressMessage[] = [];
  constructor(private readonly stream: JsonStream) {}

  write = (m: ProgressMessage): void => {
    if (!this.stream.started && typeof m.status === 'string' && m.status.startsWith('Pulling from ')) {
      this.held.push(m);
      return;
    }
    this.flush();
    this.stream.write(m);
  };

  flush(): void {
    for (const h of this.held) this.stream.write(h);
    this.held = [];
  }
}

/** Runs a streamed operation: errors before the first message become an HTTP error, later ones go in-band. */
async function streamed(res: ServerResponse, run: (stream: JsonStream, signal: AbortSignal) => Promise<void>): Promise<void> {
  const stream = new JsonStream(res);
  const abort = new AbortController();
  res.on('close', () => { if (!res.writableFinished) abort.abort(new Error('client disconnected')); });
  try {
    await run(stream, abort.signal);
  } catch (err) {
    if (!stream.started) throw err;
    stream.error(err);
  }
  stream.end();
}

function nameParam(ctx: RequestContext): string {
  return ctx.params.name;
}

async function sendArchive(ctx: RequestContext, svc: ImageService, names: string[]): Promise<void> {
  const res = response(ctx);
  const tar = await svc.save(names);
  res.writeHead(200, { 'Content-Type': 'application/x-tar' });
  try {
    await pipeline(tar, res);
  } catch {
    res.destroy();
  }
}

export function registerImageRoutes(router: Router, svc: ImageService): void {
  router.get('/images/json', (ctx) => {
    const filters = parseFilters(ctx.query, LIST_FILTER_KEYS);
    const legacy = ctx.query.get('filter');
    if (legacy) filters.set('reference', [...(filters.get('reference') ?? []), legacy]);
    const list = svc.list({
      all: queryBool(ctx.query, 'all'), filters, digests: queryBool(ctx.query, 'digests'), apiVersion: ctx.apiVersion,
    });
    sendJson(response(ctx), 200, list);
  });

  router.get('/images/get', (ctx) => sendArchive(ctx, svc, ctx.query.getAll('names')));

  router.post('/images/create', async (ctx) => {
    const res = response(ctx);
    const q = ctx.query;
    const fromImage = q.get('fromImage') ?? '';
    const platform = q.get('platform') || undefined;
    if (fromImage) {
      const tag = q.get('tag') ?? '';
      const ref = tag ? `${fromImage}${tag.includes(':') ? '@' : ':'}${tag}` : fromImage;
      const auth = decodeRegistryAuth(ctx.req.headers['x-registry-auth'] as string | undefined);
      ctx.req.resume();
      await streamed(res, async (stream, signal) => {
        const held = new HeldProgress(stream);
        await svc.pull(ref, { platform, auth, signal }, held.write);
        held.flush();
      });
      return;
    }
    const fromSrc = q.get('fromSrc') ?? '';
    const opts = {
      repo: q.get('repo') ?? undefined, tag: q.get('tag') ?? undefined, message: q.get('message') ?? undefined,
      changes: q.getAll('changes'), platform,
    };
    await streamed(res, async (stream, signal) => {
      const image = fromSrc === '-'
        ? await svc.import(ctx.req, opts)
        : await svc.importFromUrl(fromSrc, opts, (m) => stream.write(m), signal);
      stream.write({ status: image.id });
    });
  });

  router.post('/images/load', async (ctx) => {
    const res = response(ctx);
    const quiet = queryBool(ctx.query, 'quiet');
    await streamed(res, (stream) => svc.load(ctx.req, { quiet }, (m) => stream.write(m)));
  });

  router.post('/images/prune', async (ctx) => {
    const filters = parseFilters(ctx.query, PRUNE_FILTER_KEYS);
    sendJson(response(ctx), 200, await svc.prune({ filters }));
  });

  router.get('/images/{name*}/json', (ctx) => sendJson(response(ctx), 200, svc.inspect(nameParam(ctx), ctx.apiVersion)));

  router.get('/images/{name*}/history', (ctx) => sendJson(response(ctx), 200, svc.history(nameParam(ctx))));

  router.get('/images/{name*}/get', (ctx) => sendArchive(ctx, svc, [nameParam(ctx)]));

  router.post('/images/{name*}/tag', (ctx) => {
    svc.tag(nameParam(ctx), ctx.query.get('repo') ?? '', ctx.query.get('tag') ?? undefined);
    sendNoContent(response(ctx), 201);
  });

  router.delete('/images/{name*}', async (ctx) => {
    const items = await svc.remove(nameParam(ctx), { force: queryBool(ctx.query, 'force'), noprune: queryBool(ctx.query, 'noprune') });
    sendJson(response(ctx), 200, items);
  });
}
