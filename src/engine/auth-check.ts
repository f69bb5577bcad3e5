/**
 * `POST /auth` (docker login): proves credentials against a registry's /v2/ with the challenge it answers:
 * none (anyone may log in), Basic (the credentials on /v2/), or Bearer (a token from the realm, asked for
 * offline so the token server may hand back a refresh token — the IdentityToken the CLI then stores).
 * The daemon keeps nothing: the CLI stores credentials, and sends them with every pull and push.
 */
import { unauthorized } from '../errors';
import { basicHeader, type AuthConfig } from '../registry/auth';
import { networkError } from '../registry/errors';
import { DOCKER_HUB_API_HOST, DOCKER_HUB_DOMAIN, registryEndpoints, type RegistryOptions } from '../registry/hosts';
import { pickChallenge } from '../registry/session';
import type { Logger } from '../util/logger';

export interface LoginResult {
  Status: 'Login Succeeded';
  IdentityToken?: string;
}

export interface AuthCheckerDeps {
  registry: RegistryOptions;
  log: Logger;
}

const HUB_ADDRESSES = new Set(['', 'docker.io', 'index.docker.io', 'registry-1.docker.io', DOCKER_HUB_API_HOST]);

/** `https://index.docker.io/v1/` → docker.io; `http://127.0.0.1:5000/` → 127.0.0.1:5000. */
export function loginDomain(serverAddress: string | undefined): string {
  let s = (serverAddress ?? '').trim();
  const scheme = s.indexOf('://');
  if (scheme >= 0) s = s.slice(scheme + 3);
  s = s.split('/')[0];
  return HUB_ADDRESSES.has(s) ? DOCKER_HUB_DOMAIN : s;
}

async function discardBody(res: Response): Promise<void> {
  try {
    await res.body?.cancel();
  } catch {
    /* closed */
  }
}

function statusLine(res: Response): string {
  return `${res.status} ${res.statusText || (res.status === 401 ? 'Unauthorized' : '')}`.trim();
}

function bodyDetail(text: string): string | undefined {
  try {
    const j = JSON.parse(text) as { errors?: { message?: string }[]; details?: string; message?: string; detail?: string };
    return j.errors?.[0]?.message ?? j.details ?? j.detail ?? j.message;
  } catch {
    return text.trim() || undefined;
  }
}

export class AuthChecker {
  constructor(private readonly deps: AuthCheckerDeps) {}

  async check(auth: AuthConfig, signal?: AbortSignal): Promise<LoginResult> {
    const domain = loginDomain(auth.serveraddress);
    // login talks to the registry itself, never to a mirror
    const endpoint = registryEndpoints(domain, { ...this.deps.registry, mirrorsOnly: false }).filter((e) => !e.mirror).pop()!;
    const url = `${endpoint.baseUrl}/v2/`;
    const get = async (headers: Record<string, string>) => {
      try {
        return await fetch(url, { headers: { 'User-Agent': 'berth', ...headers }, redirect: 'follow', signal });
      } catch (err) {
        if (signal?.aborted) throw err;
        throw networkError('GET', url, err);
      }
    };

    const first = await get({});
    await discardBody(first);
    if (first.ok) return { Status: 'Login Succeeded' };
    const challenge = first.status === 401 ? pickChallenge(first.headers.get('www-authenticate')) : undefined;
    if (!challenge) throw unauthorized(`login attempt to ${url} failed with status: ${statusLine(first)}`, 'BERTH_ERR_LOGIN');

    let authorization: string | undefined;
    let identityToken: string | undefined;
    if (challenge.scheme === 'basic') {
      authorization = basicHeader(auth);
      if (!authorization) throw unauthorized(`Get "${url}": no basic auth credentials`, 'BERTH_ERR_NO_CREDENTIALS');
    } else {
      const token = await this.offlineToken(challenge.params, auth, signal);
      authorization = `Bearer ${token.token}`;
      identityToken = token.refreshToken;
    }
    const second = await get({ Authorization: authorization });
    await discardBody(second);
    if (!second.ok) throw unauthorized(`login attempt to ${url} failed with status: ${statusLine(second)}`, 'BERTH_ERR_LOGIN');
    this.deps.log.debug('login succeeded', { registry: domain });
    return identityToken ? { Status: 'Login Succeeded', IdentityToken: identityToken } : { Status: 'Login Succeeded' };
  }

  /** The token flow without a scope, asking for offline access: GET with Basic, or the refresh-token POST. */
  private async offlineToken(params: Record<string, string>, auth: AuthConfig, signal?: AbortSignal): Promise<{ token: string; refreshToken?: string }> {
    const realm = params.realm;
    if (!realm) throw unauthorized('bearer auth challenge without a realm');
    const service = params.service ?? '';
    let res: Response;
    try {
      if (auth.identitytoken) {
        const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identitytoken, service, client_id: 'berth', access_type: 'offline' });
        res = await fetch(realm, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, signal });
      } else {
        const u = new URL(realm);
        if (service) u.searchParams.set('service', service);
        u.searchParams.set('offline_token', 'true');
        u.searchParams.set('client_id', 'berth');
        const basic = basicHeader(auth);
        res = await fetch(u, { headers: basic ? { Authorization: basic } : {}, signal });
      }
    } catch (err) {
      if (signal?.aborted) throw err;
      throw networkError('GET', realm, err);
    }
    const text = await res.text().catch(() => '');
    if (!res.ok) {
      const detail = res.status === 401 ? bodyDetail(text) ?? 'incorrect username or password' : bodyDetail(text) ?? statusLine(res);
      throw unauthorized(`Get "${realm}": unauthorized: ${detail}`, 'BERTH_ERR_LOGIN');
    }
    let json: { token?: string; access_token?: string; refresh_token?: string };
    try {
      json = JSON.parse(text) as typeof json;
    } catch {
      throw unauthorized(`token server ${realm} sent no JSON`, 'BERTH_ERR_LOGIN');
    }
    const token = json.token ?? json.access_token;
    if (!token) throw unauthorized(`token server ${realm} returned no token`, 'BERTH_ERR_LOGIN');
    return { token, refreshToken: json.refresh_token };
  }
}
