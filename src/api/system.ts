import { invalidArgument } from '../errors';
import type { EventLog, EngineEvent } from '../engine/events';
import { EVENT_FILTER_KEYS, matchEvent, parseEventTime } from '../engine/event-filter';
import type { SystemService } from '../engine/system';
import { parseFilters, response, sendJson } from './http-util';
import type { Router } from './router';

export interface SystemRouteDeps {
  system: SystemService;
  events: EventLog;
  /** /system/df parts, each owned by its service */
  diskUsage: () => Promise<Record<string, unknown>>;
}

export function registerSystemRoutes(router: Router, deps: SystemRouteDeps): void {
  const ping = (ctx: Parameters<Parameters<Router['get']>[1]>[0]) => {
    const res = response(ctx);
    res.writeHead(200, {
      'Content-Type': 'text/plain; charset=utf-8',
      'Cache-Control': 'no-cache, no-store, must-revalidate',
      Pragma: 'no-cache',
      'Builder-Version': '1',
      Swarm: 'inactive',
      'Content-Length': 2,
    });
    res.end(ctx.req.method === 'HEAD' ? undefined : 'OK');
  };
  router.get('/_ping', ping);
  router.head('/_ping', ping);

  router.get('/version', async (ctx) => sendJson(response(ctx), 200, await deps.system.version()));
  router.get('/info', async (ctx) => sendJson(response(ctx), 200, await deps.system.info()));
  router.get('/system/df', async (ctx) => sendJson(response(ctx), 200, await deps.diskUsage()));

  router.get('/events', (ctx) => {
    const res = response(ctx);
    const filters = parseFilters(ctx.query, EVENT_FILTER_KEYS);
    const since = parseEventTime(ctx.query.get('since'));
    const until = parseEventTime(ctx.query.get('until'));
    if (ctx.query.get('since') && since === undefined) throw invalidArgument(`invalid value for since: ${ctx.query.get('since')}`);
    if (ctx.query.get('until') && until === undefined) throw invalidArgument(`invalid value for until: ${ctx.query.get('until')}`);
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    res.flushHeaders();
    const send = (e: EngineEvent) => {
      if (matchEvent(e, filters)) res.write(JSON.stringify(e) + '\n');
    };
    const nowNs = Date.now() * 1_000_000;
    if (since !== undefined) for (const e of deps.events.history(since, until ?? nowNs)) send(e);
    if (until !== undefined && until <= nowNs) {
      res.end();
      return;
    }
    const unsubscribe = deps.events.subscribe((e) => {
      if (until !== undefined && e.timeNano > until) return;
      send(e);
    });
    let timer: NodeJS.Timeout | undefined;
    const finish = () => {
      unsubscribe();
      if (timer) clearTimeout(timer);
      if (!res.writableEnded) res.end();
    };
    if (until !== undefined) timer = setTimeout(finish, Math.max(0, (until - nowNs) / 1e6));
    res.on('close', finish);
  });
}
