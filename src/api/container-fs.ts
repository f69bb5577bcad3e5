/** Routes for a container's files: archive (docker cp), changes (diff), export, and POST /commit. */
import type { ServerResponse } from 'node:http';
import type { Committer } from '../engine/commit';
import type { ContainerFs } from '../engine/container-fs';
import type { ContainerPathStat } from '../engine/container-path';
import type { ContainerConfig } from '../image/types';
import { invalidArgument } from '../errors';
import { queryBool, readJson, response, sendJson } from './http-util';
import type { RequestContext, Router } from './router';

export interface ContainerFsRouteDeps {
  fs: ContainerFs;
  committer: Committer;
}

const STAT_HEADER = 'X-Docker-Container-Path-Stat';

function statHeader(stat: ContainerPathStat): string {
  return Buffer.from(JSON.stringify(stat)).toString('base64');
}

function pathParam(ctx: RequestContext): string {
  const p = ctx.query.get('path');
  if (p === null || p === '') throw invalidArgument('Path cannot be empty');
  return p;
}

function tarResponse(res: ServerResponse, headers: Record<string, string> = {}): ServerResponse {
  res.writeHead(200, { 'Content-Type': 'application/x-tar', ...headers });
  return res;
}

export function registerContainerFsRoutes(router: Router, d: ContainerFsRouteDeps): void {
  router.head('/containers/{id}/archive', async (ctx) => {
    const stat = await d.fs.stat(ctx.params.id, pathParam(ctx));
    const res = response(ctx);
    res.writeHead(200, { [STAT_HEADER]: statHeader(stat), 'Content-Type': 'application/x-tar' });
    res.end();
  });

  router.get('/containers/{id}/archive', async (ctx) => {
    const res = response(ctx);
    await d.fs.archive(ctx.params.id, pathParam(ctx), (stat) => tarResponse(res, { [STAT_HEADER]: statHeader(stat) }));
  });

  router.put('/containers/{id}/archive', async (ctx) => {
    await d.fs.extract(ctx.params.id, pathParam(ctx), ctx.req, {
      noOverwriteDirNonDir: queryBool(ctx.query, 'noOverwriteDirNonDir'),
      copyUIDGID: queryBool(ctx.query, 'copyUIDGID'),
    });
    const res = response(ctx);
    res.writeHead(200, { 'Content-Length': 0 });
    res.end();
  });

  router.get('/containers/{id}/changes', async (ctx) => {
    sendJson(response(ctx), 200, await d.fs.changes(ctx.params.id));
  });

  router.get('/containers/{id}/export', async (ctx) => {
    const res = response(ctx);
    await d.fs.export(ctx.params.id, () => tarResponse(res));
  });

  router.post('/commit', async (ctx) => {
    const container = ctx.query.get('container') ?? '';
    if (!container) throw invalidArgument('No container name or ID supplied');
    const body = await readJson<ContainerConfig | null>(ctx.req, null as unknown as ContainerConfig);
    const result = await d.committer.commit(container, {
      repo: ctx.query.get('repo') || undefined,
      tag: ctx.query.get('tag') || undefined,
      comment: ctx.query.get('comment') || undefined,
      author: ctx.query.get('author') || undefined,
      pause: queryBool(ctx.query, 'pause', true),
      changes: ctx.query.getAll('changes'),
      config: body && typeof body === 'object' && !Array.isArray(body) ? body : null,
    });
    sendJson(response(ctx), 201, result);
  });
}
