/** Engine API network routes: handlers read parameters, call the NetworkService and serialise. */
import { LIST_FILTERS, PRUNE_FILTERS, type NetworkCreateRequest, type NetworkService } from '../engine/networks';
import { invalidArgument } from '../errors';
import { parseFilters, readJson, response, sendJson, sendNoContent } from './http-util';
import type { Router } from './router';

interface ConnectRequest {
  Container?: string;
  EndpointConfig?: { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null } | null;
}

interface DisconnectRequest {
  Container?: string;
  Force?: boolean;
}

function objectBody<T>(body: T): T {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw invalidArgument('request body must be a JSON object');
  return body;
}

export function registerNetworkRoutes(router: Router, svc: NetworkService): void {
  router.get('/networks', (ctx) => {
    sendJson(response(ctx), 200, svc.list(parseFilters(ctx.query, LIST_FILTERS)));
  });

  router.post('/networks/create', async (ctx) => {
    const body = objectBody(await readJson<NetworkCreateRequest>(ctx.req));
    sendJson(response(ctx), 201, await svc.create(body));
  });

  router.post('/networks/prune', async (ctx) => {
    sendJson(response(ctx), 200, await svc.prune(parseFilters(ctx.query, PRUNE_FILTERS)));
  });

  router.get('/networks/{id}', (ctx) => {
    sendJson(response(ctx), 200, svc.inspect(ctx.params.id));
  });

  router.delete('/networks/{id}', async (ctx) => {
    await svc.remove(ctx.params.id);
    sendNoContent(response(ctx));
  });

  router.post('/networks/{id}/connect', async (ctx) => {
    const body = objectBody(await readJson<ConnectRequest>(ctx.req));
    if (!body.Container) throw invalidArgument('no container specified');
    const ep = body.EndpointConfig ?? {};
    await svc.connect(ctx.params.id, body.Container, { aliases: ep.Aliases ?? undefined, ip: ep.IPAMConfig?.IPv4Address || undefined });
    sendNoContent(response(ctx), 200);
  });

  router.post('/networks/{id}/disconnect', async (ctx) => {
    const body = objectBody(await readJson<DisconnectRequest>(ctx.req));
    if (!body.Container) throw invalidArgument('no container specified');
    await svc.disconnect(ctx.params.id, body.Container, body.Force === true);
    sendNoContent(response(ctx), 200);
  });
}
