/**
 * A distribution (OCI /v2/) client for one repository on one endpoint: manifests by tag or digest,
 * blobs as streams. Authentication is learnt from the `/v2/` ping's challenge and applied to every
 * request; a 401 with a fresh challenge is retried once. Requests go through node:http(s) rather than
 * fetch: a blob's body is then a plain stream of the socket's own buffers (fetch's web-stream body cost a
 * pull about a tenth of its CPU), and a fresh daemon does not compile undici on its first pull.
 */
import { createHash } from 'node:crypto';
import * as http from 'node:http';
import * as https from 'node:https';
import type { Readable } from 'node:stream';
import { internal, invalidArgument } from '../errors';
import { basicHeader, fetchBearerToken, parseWWWAuthenticate, type AuthConfig, type Challenge } from './auth';
import { errorEntries, networkError, RegistryHttpError } from './errors';
import type { RegistryEndpoint } from './hosts';
import { MANIFEST_ACCEPT } from './manifest';

const MAX_MANIFEST_BYTES = 4 << 20;
const MAX_REDIRECTS = 10;
const DIGEST_RE = /^sha256:[a-f0-9]{64}$/;
/** A request whose connection is silent this long fails (fetch's body timeout is the same). */
const IDLE_TIMEOUT_MS = 300_000;

export interface ManifestHead {
  digest?: string;
  mediaType?: string;
  size?: number;
}

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType?: string;
}

export interface BlobStream {
  stream: Readable;
  /** Content-Length when the registry sent one. */
  size?: number;
}

export function sha256Digest(data: Buffer): string {
  return 'sha256:' + createHash('sha256').update(data).digest('hex');
}

export class RegistryClient {
  /** undefined: not pinged yet; null: the registry wants no auth. */
  private challenge: Challenge | null | undefined;
  private authorization?: string;

  constructor(
    readonly endpoint: RegistryEndpoint,
    readonly repository: string,
    private readonly auth?: AuthConfig,
    private readonly actions = 'pull',
  ) {}

  private url(suffix: string): string {
    return `${this.endpoint.baseUrl}/v2/${this.repository}/${suffix}`;
  }

  /** GET /v2/: proves the endpoint answers and learns which auth it wants. */
  async ping(signal?: AbortSignal): Promise<void> {
    const url = `${this.endpoint.baseUrl}/v2/`;
    const res = await this.rawFetch('GET', url, {}, signal);
    await res.discard();
    this.challenge = res.status === 401 ? pickChallenge(res.headers.get('www-authenticate')) : null;
    if (res.status === 401 && !this.challenge) throw new RegistryHttpError('GET', url, 401, errorEntries(401, ''));
  }

  /** HEAD a manifest: its digest without counting as a pull on rate-limited registries. */
  async headManifest(ref: string, signal?: AbortSignal): Promise<ManifestHead> {
    const res = await this.request('HEAD', this.url(`manifests/${ref}`), { Accept: MANIFEST_ACCEPT }, signal);
    await res.discard();
    const length = res.headers.get('content-length');
    const digest = res.headers.get('docker-content-digest') ?? undefined;
    return {
      digest: digest && DIGEST_RE.test(digest) ? digest : undefined,
      mediaType: res.headers.get('content-type')?.split(';')[0].trim() || undefined,
      size: length ? Number(length) : undefined,
    };
  }

  /** GET a manifest and check its bytes hash to the digest asked for (or the one the registry names). */
  async fetchManifest(ref: string, signal?: AbortSignal): Promise<FetchedManifest> {
    const url = this.url(`manifests/${ref}`);
    const res = await this.request('GET', url, { Accept: MANIFEST_ACCEPT }, signal);
    const bytes = await readLimited(res, MAX_MANIFEST_BYTES, url);
    const digest = sha256Digest(bytes);
    const expected = ref.includes(':') ? ref : res.headers.get('docker-content-digest');
    if (expected && expected.startsWith('sha256:') && expected !== digest) {
      throw invalidArgument(`manifest verification failed for digest ${expected}`, 'BERTH_ERR_MANIFEST_VERIFICATION');
    }
    return { bytes, digest, mediaType: res.headers.get('content-type')?.split(';')[0].trim() || undefined };
  }

  /** A blob as a stream (redirects followed; Authorization only to the registry's own origin). Not verified here. */
  async openBlob(digest: string, signal?: AbortSignal): Promise<BlobStream> {
    if (!DIGEST_RE.test(digest)) throw invalidArgument(`invalid digest ${digest}`);
    const res = await this.request('GET', this.url(`blobs/${digest}`), {}, signal);
    const length = res.headers.get('content-length');
    return { stream: res.body, size: length ? Number(length) : undefined };
  }

  /** A small blob (config) read whole and verified against its digest. */
  async fetchBlob(digest: string, maxBytes: number, signal?: AbortSignal): Promise<Buffer> {
    const url = this.url(`blobs/${digest}`);
    const res = await this.request('GET', url, {}, signal);
    const bytes = await readLimited(res, maxBytes, url);
    if (sha256Digest(bytes) !== digest) {
      throw invalidArgument(`filesystem layer verification failed for digest ${digest}`, 'BERTH_ERR_BLOB_VERIFICATION');
    }
    return bytes;
  }

  /**
   * One logical request: auth applied, redirects followed by hand (so Authorization never leaves the
   * registry's origin), a 401 that brings a new challenge retried once. Error statuses throw.
   */
  private async request(method: string, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpReply> {
    if (this.challenge === undefined) await this.ping(signal);
    for (let attempt = 0; ; attempt++) {
      const auth = await this.authHeader(method, url, signal);
      const res = await this.followRedirects(method, url, headers, auth, signal);
      if (res.status === 401 && attempt === 0) {
        const fresh = pickChallenge(res.headers.get('www-authenticate'));
        if (fresh && (this.authorization === undefined || fresh.scheme === 'bearer')) {
          await res.discard();
          this.challenge = fresh;
          this.authorization = undefined;
          if (fresh.scheme === 'bearer' || basicHeader(this.auth)) continue;
        }
      }
      if (!res.ok) {
        const body = method === 'HEAD' ? '' : await res.text().catch(() => '');
        throw new RegistryHttpError(method, url, res.status, errorEntries(res.status, body));
      }
      return res;
    }
  }

  private async authHeader(method: string, url: string, signal?: AbortSignal): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (this.authorization) return this.authorization;
    if (c.scheme === 'basic') {
      this.authorization = basicHeader(this.auth);
      // a plain error (500) as dockerd answers it: a 401 would make the docker CLI prompt for a login instead
      if (!this.authorization) throw internal(`${method[0]}${method.slice(1).toLowerCase()} "${url}": no basic auth credentials`, 'BERTH_ERR_NO_CREDENTIALS');
    } else if (c.scheme === 'bearer') {
      const scope = c.params.scope ?? `repository:${this.repository}:${this.actions}`;
      this.authorization = `Bearer ${await fetchBearerToken(c, scope, this.auth, signal)}`;
    }
    return this.authorization;
  }

  private async followRedirects(method: string, url: string, headers: Record<string, string>, auth: string | undefined,
    signal?: AbortSignal): Promise<HttpReply> {
    const origin = new URL(url).origin;
    let current = url;
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const h: Record<string, string> = { ...headers };
      if (auth && new URL(current).origin === origin) h.Authorization = auth;
      const res = await this.rawFetch(method, current, h, signal);
      const location = res.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(res.status) || !location) return res;
      await res.discard();
      current = new URL(location, current).toString();
    }
    throw internal(`too many redirects fetching ${url}`);
  }

  private async rawFetch(method: string, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpReply> {
    try {
      return await httpRequest(method, url, { 'User-Agent': 'berth', ...headers }, signal);
    } catch (err) {
      if (signal?.aborted) throw signal.reason ?? err;
      throw networkError(method, url, err);
    }
  }
}

/** Bearer wins over Basic when a registry offers both. */
function pickChallenge(header: string | null): Challenge | undefined {
  if (!header) return undefined;
  const all = parseWWWAuthenticate(header);
  return all.find((c) => c.scheme === 'bearer') ?? all.find((c) => c.scheme === 'basic');
}

/** An answer; `body` is the response stream itself (a blob's bytes as the socket delivered them). */
class HttpReply {
  readonly status: number;
  readonly ok: boolean;
  readonly headers = new Headers();

  constructor(readonly body: http.IncomingMessage) {
    this.status = body.statusCode ?? 0;
    this.ok = this.status >= 200 && this.status < 300;
    for (const [name, value] of Object.entries(body.headers)) {
      if (value === undefined) continue;
      for (const v of Array.isArray(value) ? value : [value]) this.headers.append(name, v);
    }
  }

  async bytes(): Promise<Buffer> {
    const chunks: Buffer[] = [];
    for await (const c of this.body) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async text(): Promise<string> {
    return (await this.bytes()).toString('utf8');
  }

  async discard(): Promise<void> {
    // an already complete (empty) body lets the connection be reused; anything else closes it
    if (this.body.complete) this.body.resume();
    else this.body.destroy();
  }
}

/** One request over node:http(s), no redirects followed; network failures reject with the cause attached, as fetch's do. */
function httpRequest(method: string, url: string, headers: Record<string, string>, signal?: AbortSignal): Promise<HttpReply> {
  return new Promise<HttpReply>((resolve, reject) => {
    const mod = url.startsWith('https:') ? https : http;
    const req = mod.request(url, { method, headers, signal }, (res) => resolve(new HttpReply(res)));
    req.setTimeout(IDLE_TIMEOUT_MS, () => req.destroy(Object.assign(new Error('i/o timeout'), { code: 'ETIMEDOUT' })));
    req.on('error', (err) => reject(Object.assign(new Error('fetch failed'), { cause: err })));
    req.end();
  });
}

async function readLimited(res: HttpReply, max: number, url: string): Promise<Buffer> {
  const length = Number(res.headers.get('content-length') ?? 0);
  if (length > max) {
    await res.discard();
    throw invalidArgument(`response from ${url} is too large (${length} bytes)`);
  }
  const bytes = await res.bytes();
  if (bytes.length > max) throw invalidArgument(`response from ${url} is too large (${bytes.length} bytes)`);
  return bytes;
}
