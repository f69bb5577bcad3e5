/** Engine API volume routes: handlers read parameters, call the VolumeService and serialise. */
import type { VolumeCreateRequest, VolumeService } from '../engine/volumes';
import { VOLUME_LIST_FILTERS, VOLUME_PRUNE_FILTERS } from '../engine/volumes';
import { invalidArgument } from '../errors';
import { parseFilters, queryBool, readJson, response, sendJson, sendNoContent } from './http-util';
import type { Router } from './router';

export function registerVolumeRoutes(router: Router, svc: VolumeService): void {
  router.get('/volumes', (ctx) => {
    sendJson(response(ctx), 200, svc.list(parseFilters(ctx.query, VOLUME_LIST_FILTERS)));
  });

  router.post('/volumes/create', async (ctx) => {
    const body = await readJson<VolumeCreateRequest>(ctx.req, {});
    if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('invalid volume create request');
    sendJson(response(ctx), 201, await svc.create(body));
  });

  router.post('/volumes/prune', async (ctx) => {
    sendJson(response(ctx), 200, await svc.prune(parseFilters(ctx.query, VOLUME_PRUNE_FILTERS), ctx.apiVersion));
  });

  router.get('/volumes/{name}', (ctx) => {
    sendJson(response(ctx), 200, svc.get(ctx.params.name));
  });

  router.delete('/volumes/{name}', async (ctx) => {
    await svc.remove(ctx.params.name, queryBool(ctx.query, 'force'));
    sendNoContent(response(ctx));
  });
}
