import type { ContainerService } from '../engine/containers';
import type { ContainerOps, UpdateRequest } from '../engine/container-ops';
import { pruneContainers } from '../engine/container-prune';
import type { EventLog } from '../engine/events';
import type { Logger } from '../util/logger';
import { parseFilters, queryBool, queryInt, readJson, response, sendJson, sendNoContent } from './http-util';
import type { Router } from './router';

export interface ContainerOpsRouteDeps {
  containers: ContainerService;
  ops: ContainerOps;
  events: EventLog;
  log: Logger;
}

/**
 * pause, unpause, rename, restart, update, stats, top, prune. Register these BEFORE registerContainerRoutes:
 * the router takes the first match, so these replace its restart (adds the `restart` event and the restart
 * policy's reset) and prune (until/label! filters, reclaimed space) routes.
 */
export function registerContainerOpsRoutes(router: Router, d: ContainerOpsRouteDeps): void {
  const { containers: svc, ops } = d;

  router.post('/containers/prune', async (ctx) => {
    const filters = parseFilters(ctx.query, ['label', 'label!', 'until']);
    sendJson(response(ctx), 200, await pruneContainers(d, filters));
  });

  router.post('/containers/{id}/pause', async (ctx) => {
    await ops.pause(ctx.params.id);
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/unpause', async (ctx) => {
    await ops.unpause(ctx.params.id);
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/rename', (ctx) => {
    ops.rename(ctx.params.id, ctx.query.get('name') ?? '');
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/restart', async (ctx) => {
    const t = queryInt(ctx.query, 't') ?? queryInt(ctx.query, 'timeout');
    await ops.restart(ctx.params.id, t, ctx.query.get('signal') || undefined);
    sendNoContent(response(ctx));
  });

  router.post('/containers/{id}/update', async (ctx) => {
    const body = await readJson<UpdateRequest>(ctx.req, {});
    sendJson(response(ctx), 200, await ops.update(ctx.params.id, body ?? {}));
  });

  router.get('/containers/{id}/top', async (ctx) => {
    sendJson(response(ctx), 200, await ops.top(ctx.params.id, ctx.query.get('ps_args') ?? ''));
  });

  router.get('/containers/{id}/stats', async (ctx) => {
    const stream = queryBool(ctx.query, 'stream', true);
    const oneShot = queryBool(ctx.query, 'one-shot');
    svc.get(ctx.params.id); // a 404 before the stream starts
    const res = response(ctx);
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    res.writeHead(200, { 'Content-Type': 'application/json' });
    if (stream) res.flushHeaders();
    try {
      for await (const s of ops.statsStream(ctx.params.id, { stream, oneShot }, abort.signal)) {
        if (res.destroyed) break;
        res.write(JSON.stringify(s) + '\n');
      }
    } catch (err) {
      d.log.debug('stats stream ended', { error: String(err) });
    }
    if (!res.writableEnded) res.end();
  });
}
