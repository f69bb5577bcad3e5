import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * Request context handed to route handlers. A normal request has `res`; an `Upgrade` request (attach,
 * exec start) has `upgrade` instead and the handler takes over the socket through `hijack` helpers.
 */
export interface RequestContext {
  req: IncomingMessage;
  res?: ServerResponse;
  upgrade?: { socket: Duplex; head: Buffer };
  params: Record<string, string>;
  query: URLSearchParams;
  /** negotiated API version of this request */
  apiVersion: string;
  path: string;
}

export type Handler = (ctx: RequestContext) => Promise<void> | void;

interface Route {
  method: string;
  regex: RegExp;
  names: string[];
  handler: Handler;
}

/**
 * Routes are declared with `{name}` (one path segment) or `{name*}` (greedy, may contain `/` — image
 * names do). The first route that matches method and path wins.
 */
export class Router {
  private readonly routes: Route[] = [];

  add(method: string, pattern: string, handler: Handler): this {
    const names: string[] = [];
    const source = pattern.replace(/[.+?^$()[\]\\|]/g, '\\$&').replace(/\{(\w+)(\*?)\}/g, (_m, name: string, greedy: string) => {
      names.push(name);
      return greedy ? '(.+)' : '([^/]+)';
    });
    this.routes.push({ method, regex: new RegExp(`^${source}$`), names, handler });
    return this;
  }

  get(p: string, h: Handler) { return this.add('GET', p, h); }
  post(p: string, h: Handler) { return this.add('POST', p, h); }
  put(p: string, h: Handler) { return this.add('PUT', p, h); }
  delete(p: string, h: Handler) { return this.add('DELETE', p, h); }
  head(p: string, h: Handler) { return this.add('HEAD', p, h); }

  /** `undefined` when no route has this path; `'method'` when the path exists with other methods. */
  match(method: string, path: string): { handler: Handler; params: Record<string, string> } | 'method' | undefined {
    let pathSeen = false;
    for (const r of this.routes) {
      const m = r.regex.exec(path);
      if (!m) continue;
      if (r.method !== method && !(method === 'HEAD' && r.method === 'GET')) { pathSeen = true; continue; }
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => { params[n] = decodeURIComponent(m[i + 1]); });
      return { handler: r.handler, params };
    }
    return pathSeen ? 'method' : undefined;
  }
}
