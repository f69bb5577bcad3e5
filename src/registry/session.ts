/**
 * An authenticated conversation with one registry endpoint for requests that carry bodies or need more
 * than pull access (push, cross-repository mount, catalog). Unlike RegistryClient it does not throw on
 * error statuses: callers decide what a 404 or a 202 means, and call `fail` for the rest.
 * Words: *scopes* are token-spec scopes (`repository:team/app:pull,push`, `registry:catalog:*`); a Bearer
 * token is fetched per set of scopes and kept for the session.
 */
import { unauthorized } from '../errors';
import { basicHeader, fetchBearerToken, parseWWWAuthenticate, type AuthConfig, type Challenge } from './auth';
import { errorEntries, networkError, RegistryHttpError } from './errors';
import type { RegistryEndpoint } from './hosts';

export interface SessionRequest {
  headers?: Record<string, string>;
  /** a Buffer (so a 401 can be retried with a fresh token) */
  body?: Buffer;
  scopes: string[];
}

export class RegistrySession {
  /** undefined: not pinged; null: no auth wanted */
  private challenge: Challenge | null | undefined;
  private readonly authorizations = new Map<string, string>();

  constructor(
    readonly endpoint: RegistryEndpoint,
    private readonly auth: AuthConfig | undefined,
    private readonly signal?: AbortSignal,
  ) {}

  get origin(): string {
    return new URL(this.endpoint.baseUrl).origin;
  }

  /** `<base>/v2/<suffix>` */
  url(suffix: string): string {
    return `${this.endpoint.baseUrl}/v2/${suffix}`;
  }

  /** GET /v2/: learns the challenge. Resolves to the ping's status. */
  async ping(): Promise<number> {
    const res = await this.raw('GET', this.url(''), {});
    await discard(res);
    this.challenge = res.status === 401 ? pickChallenge(res.headers.get('www-authenticate')) ?? null : null;
    return res.status;
  }

  get wantsAuth(): boolean {
    return !!this.challenge;
  }

  /** One request with auth applied; a 401 that brings a fresh challenge is retried once. Never follows redirects. */
  async request(method: string, url: string, req: SessionRequest): Promise<Response> {
    if (this.challenge === undefined) await this.ping();
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...(req.headers ?? {}) };
      const auth = await this.authorization(method, url, req.scopes);
      if (auth && new URL(url).origin === this.origin) headers.Authorization = auth;
      const res = await this.raw(method, url, headers, req.body);
      if (res.status === 401 && attempt === 0) {
        const fresh = pickChallenge(res.headers.get('www-authenticate'));
        if (fresh && (fresh.scheme === 'bearer' || !this.challenge)) {
          await discard(res);
          this.challenge = fresh;
          this.authorizations.clear();
          continue;
        }
      }
      return res;
    }
  }

  /** Throws the registry's error for a response that was not what the caller wanted. */
  async fail(method: string, url: string, res: Response): Promise<never> {
    const body = method === 'HEAD' ? '' : await res.text().catch(() => '');
    throw new RegistryHttpError(method, url, res.status, errorEntries(res.status, body));
  }

  private async authorization(method: string, url: string, scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    const key = c.scheme === 'basic' ? 'basic' : scopes.join(' ');
    const known = this.authorizations.get(key);
    if (known) return known;
    let value: string | undefined;
    if (c.scheme === 'basic') {
      value = basicHeader(this.auth);
      if (!value) throw unauthorized(`${method[0]}${method.slice(1).toLowerCase()} "${url}": no basic auth credentials`, 'BERTH_ERR_NO_CREDENTIALS');
    } else if (c.scheme === 'bearer') {
      value = `Bearer ${await fetchBearerToken(c, scopes.join(' '), this.auth, this.signal)}`;
    }
    if (value) this.authorizations.set(key, value);
    return value;
  }

  private async raw(method: string, url: string, headers: Record<string, string>, body?: Buffer): Promise<Response> {
    try {
      return await fetch(url, { method, headers: { 'User-Agent': 'berth', ...headers }, body, redirect: 'manual', signal: this.signal });
    } catch (err) {
      if (this.signal?.aborted) throw this.signal.reason ?? err;
      throw networkError(method, url, err);
    }
  }
}

/** Bearer wins over Basic when a registry offers both. */
export function pickChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const all = parseWWWAuthenticate(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

export async function discard(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* already closed */
  }
}

export function repositoryScope(repo: string, actions: string): string {
  return `repository:${repo}:${actions}`;
}
