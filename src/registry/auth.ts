/**
 * Registry authentication: credentials from the client's `X-Registry-Auth` header, `WWW-Authenticate`
 * challenges, and the token flow (https://distribution.github.io/distribution/spec/auth/token/).
 * Words: a *challenge* is what a 401 asks for (Basic, or Bearer with realm/service); a *scope* is
 * `repository:<path>:pull`; a *token* is what the realm hands out for a scope, cached until it expires.
 */
import { createHash } from 'node:crypto';
import { invalidArgument, unauthorized } from '../errors';

/** Credentials as the docker CLI sends them (base64url JSON in `X-Registry-Auth`). */
export interface AuthConfig {
  username?: string;
  password?: string;
  /** base64("user:pass"), the form config.json stores */
  auth?: string;
  serveraddress?: string;
  email?: string;
  /** refresh token from a previous login (OAuth2 refresh_token grant) */
  identitytoken?: string;
  /** a bearer token to send as is */
  registrytoken?: string;
}

const AUTH_KEYS: (keyof AuthConfig)[] = ['username', 'password', 'auth', 'serveraddress', 'email', 'identitytoken', 'registrytoken'];

/**
 * Decodes `X-Registry-Auth`: base64 (standard or URL-safe, padded or not) of a JSON object. Empty, `{}`
 * and all-empty objects mean "no credentials". Garbage is InvalidArgument, as dockerd answers.
 */
export function decodeRegistryAuth(header?: string): AuthConfig | undefined {
  const text = header?.trim();
  if (!text) return undefined;
  let parsed: unknown;
  try {
    const json = text.startsWith('{') ? text : Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8');
    parsed = JSON.parse(json);
  } catch {
    throw invalidArgument('invalid X-Registry-Auth header: failed to decode credentials');
  }
  if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw invalidArgument('invalid X-Registry-Auth header: not a JSON object');
  }
  // the docker CLI and the SDKs differ in key case (username vs Username, identitytoken vs IdentityToken)
  const byLowerKey = new Map(Object.entries(parsed as Record<string, unknown>).map(([k, v]) => [k.toLowerCase(), v]));
  const out: AuthConfig = {};
  for (const key of AUTH_KEYS) {
    const value = byLowerKey.get(key);
    if (typeof value === 'string' && value) out[key] = value;
  }
  if (!out.username && !out.password && out.auth) {
    const decoded = Buffer.from(out.auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon > 0) {
      out.username = decoded.slice(0, colon);
      out.password = decoded.slice(colon + 1);
    }
  }
  return out.username || out.password || out.identitytoken || out.registrytoken ? out : undefined;
}

/** `username:password` when the config has a basic pair. */
function basicPair(auth?: AuthConfig): [string, string] | undefined {
  if (auth?.username !== undefined && auth.password !== undefined) return [auth.username, auth.password];
  return undefined;
}

export function basicHeader(auth?: AuthConfig): string | undefined {
  const pair = basicPair(auth);
  return pair ? 'Basic ' + Buffer.from(`${pair[0]}:${pair[1]}`).toString('base64') : undefined;
}

export interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a `WWW-Authenticate` value into challenges: `Bearer realm="https://x/token",service="reg",
 * scope="repository:a:pull"`. Quoted values may hold commas and escaped quotes; scheme names are
 * lower-cased, parameter names too.
 */
export function parseWWWAuthenticate(header: string): Challenge[] {
  const out: Challenge[] = [];
  let i = 0;
  const s = header;
  const skipSpace = () => { while (i < s.length && (s[i] === ' ' || s[i] === '\t')) i++; };
  const token = () => {
    const start = i;
    while (i < s.length && !/[\s,=]/.test(s[i])) i++;
    return s.slice(start, i);
  };
  while (i < s.length) {
    skipSpace();
    while (s[i] === ',') { i++; skipSpace(); }
    if (i >= s.length) break;
    const scheme = token();
    if (!scheme) { i++; continue; }
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    out.push(challenge);
    // parameters until the next bare token that is not followed by '='
    for (;;) {
      skipSpace();
      const save = i;
      const name = token();
      skipSpace();
      if (!name || s[i] !== '=') { i = save; break; }
      i++;
      skipSpace();
      let value = '';
      if (s[i] === '"') {
        i++;
        while (i < s.length && s[i] !== '"') {
          if (s[i] === '\\' && i + 1 < s.length) i++;
          value += s[i++];
        }
        i++;
      } else {
        const start = i;
        while (i < s.length && s[i] !== ',' && s[i] !== ' ') i++;
        value = s.slice(start, i);
      }
      challenge.params[name.toLowerCase()] = value;
      skipSpace();
      if (s[i] === ',') i++;
    }
  }
  return out;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

const MIN_TOKEN_LIFETIME_S = 60;
const tokenCache = new Map<string, CachedToken>();

function cacheKey(realm: string, service: string, scope: string, auth?: AuthConfig): string {
  const who = createHash('sha256').update(JSON.stringify([auth?.username, auth?.password, auth?.identitytoken])).digest('hex');
  return `${realm}\n${service}\n${scope}\n${who}`;
}

/** Forgets cached tokens (tests). */
export function clearTokenCache(): void {
  tokenCache.clear();
}

/**
 * Gets a bearer token for `scope` from the challenge's realm: GET with Basic credentials (or anonymous),
 * or the OAuth2 refresh-token POST when the client holds an identity token. Cached until it expires.
 */
export async function fetchBearerToken(challenge: Challenge, scope: string, auth: AuthConfig | undefined, signal?: AbortSignal): Promise<string> {
  if (auth?.registrytoken) return auth.registrytoken;
  const realm = challenge.params.realm;
  if (!realm) throw unauthorized('bearer auth challenge without a realm');
  const service = challenge.params.service ?? '';
  const key = cacheKey(realm, service, scope, auth);
  const cached = tokenCache.get(key);
  if (cached && cached.expiresAt > Date.now()) return cached.token;

  let res: Response;
  if (auth?.identitytoken) {
    const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: auth.identitytoken, service, scope, client_id: 'berth', access_type: 'offline' });
    res = await fetch(realm, { method: 'POST', body: form, headers: { 'Content-Type': 'application/x-www-form-urlencoded' }, signal });
  } else {
    const url = new URL(realm);
    if (service) url.searchParams.set('service', service);
    // several scopes (a cross-repository mount) travel as one `scope` parameter each
    for (const s of scope.split(' ')) if (s) url.searchParams.append('scope', s);
    const headers: Record<string, string> = {};
    const basic = basicHeader(auth);
    if (basic) headers.Authorization = basic;
    res = await fetch(url, { headers, signal });
  }
  if (!res.ok) {
    const body = await res.text().catch(() => '');
    const detail = errorDetailFromBody(body) ?? `${res.status} ${res.statusText}`;
    throw unauthorized(`Get "${realm}": unauthorized: ${detail}`, 'BERTH_ERR_REGISTRY_UNAUTHORIZED');
  }
  const json = (await res.json()) as { token?: string; access_token?: string; expires_in?: number; issued_at?: string };
  const token = json.token ?? json.access_token;
  if (!token) throw unauthorized(`token server ${realm} returned no token`);
  const lifetime = Math.max(json.expires_in ?? MIN_TOKEN_LIFETIME_S, MIN_TOKEN_LIFETIME_S);
  const issued = json.issued_at ? Date.parse(json.issued_at) || Date.now() : Date.now();
  // renew a little early so a token never expires between choosing it and using it
  tokenCache.set(key, { token, expiresAt: Math.min(issued, Date.now()) + (lifetime - 10) * 1000 });
  return token;
}

function errorDetailFromBody(body: string): string | undefined {
  try {
    const j = JSON.parse(body) as { errors?: { message?: string }[]; details?: string; message?: string };
    return j.errors?.[0]?.message ?? j.details ?? j.message;
  } catch {
    return undefined;
  }
}
