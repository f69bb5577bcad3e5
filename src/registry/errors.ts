/**
 * Registry failures, and their translation into berth's error kinds with dockerd's wording
 * (`manifest for busybox:latest not found: manifest unknown: manifest unknown`).
 */
import { BerthError, notFound, unauthorized, unavailable } from '../errors';

/** One entry of a registry's `{"errors":[…]}` body. */
export interface RegistryErrorEntry {
  code: string;
  message: string;
}

/** A registry answered with an error status. */
export class RegistryHttpError extends Error {
  constructor(
    readonly method: string,
    readonly url: string,
    readonly status: number,
    readonly errors: RegistryErrorEntry[],
  ) {
    super(`${method} "${url}": ${errors.length ? errors.map(formatEntry).join('; ') : `unexpected status ${status}`}`);
    this.name = 'RegistryHttpError';
  }

  get code(): string | undefined {
    return this.errors[0]?.code;
  }
}

/** `MANIFEST_UNKNOWN` + `manifest unknown` → `manifest unknown: manifest unknown`, as distribution's errcode prints. */
export function formatEntry(e: RegistryErrorEntry): string {
  const code = e.code.toLowerCase().replace(/_/g, ' ');
  return e.message ? `${code}: ${e.message}` : code;
}

/** Error entries from a response body; a synthetic one from the status when the body has none (HEAD). */
export function errorEntries(status: number, body: string): RegistryErrorEntry[] {
  try {
    const j = JSON.parse(body) as { errors?: { code?: string; message?: string }[] };
    if (Array.isArray(j.errors) && j.errors.length) {
      return j.errors.map((e) => ({ code: String(e.code ?? 'UNKNOWN'), message: String(e.message ?? '') }));
    }
  } catch {
    /* not JSON */
  }
  if (status === 401) return [{ code: 'UNAUTHORIZED', message: 'authentication required' }];
  if (status === 403) return [{ code: 'DENIED', message: 'requested access to the resource is denied' }];
  if (status === 429) return [{ code: 'TOOMANYREQUESTS', message: 'too many requests' }];
  return [];
}

/** A request never got an answer (refused, DNS, TLS, reset). */
export function networkError(method: string, url: string, err: unknown): BerthError {
  const cause = (err as { cause?: { code?: string; message?: string } })?.cause;
  const u = new URL(url);
  const hostPort = u.port ? u.host : `${u.hostname}:${u.protocol === 'https:' ? 443 : 80}`;
  const verb = method[0] + method.slice(1).toLowerCase();
  let why: string;
  switch (cause?.code) {
    case 'ECONNREFUSED': why = `dial tcp ${hostPort}: connect: connection refused`; break;
    case 'ENOTFOUND': case 'EAI_AGAIN': why = `dial tcp: lookup ${u.hostname}: no such host`; break;
    case 'ETIMEDOUT': case 'UND_ERR_CONNECT_TIMEOUT': why = `dial tcp ${hostPort}: i/o timeout`; break;
    case 'ECONNRESET': why = `read tcp ${hostPort}: connection reset by peer`; break;
    default: why = cause?.message ?? (err instanceof Error ? err.message : String(err));
  }
  if (/wrong version number|EPROTO|packet length too long/i.test(why)) why = 'http: server gave HTTP response to HTTPS client';
  return unavailable(`${verb} "${url}": ${why}`, 'BERTH_ERR_REGISTRY_UNAVAILABLE');
}

/**
 * dockerd's pull error texts. `familiar` is `busybox:latest` (or `…@sha256:…`), `familiarName` is `busybox`.
 */
export function translatePullError(err: unknown, familiar: string, familiarName: string): unknown {
  if (!(err instanceof RegistryHttpError)) return err;
  const entry = err.errors[0];
  const cause = entry ? formatEntry(entry) : `unexpected status ${err.status}`;
  switch (entry?.code) {
    case 'MANIFEST_UNKNOWN':
      return notFound(`manifest for ${familiar} not found: ${cause}`, 'BERTH_ERR_MANIFEST_UNKNOWN');
    case 'NAME_UNKNOWN':
      return notFound(`repository ${familiarName} not found: ${cause}`, 'BERTH_ERR_NAME_UNKNOWN');
    case 'DENIED':
    case 'UNAUTHORIZED':
      return unauthorized(`pull access denied for ${familiarName}, repository does not exist or may require 'docker login': ${cause}`, 'BERTH_ERR_PULL_ACCESS_DENIED');
    case 'TOOMANYREQUESTS':
      return unavailable(`toomanyrequests: ${entry.message}`, 'BERTH_ERR_REGISTRY_RATE_LIMIT');
  }
  if (err.status === 404) return notFound(`manifest for ${familiar} not found: manifest unknown: manifest unknown`, 'BERTH_ERR_MANIFEST_UNKNOWN');
  if (err.status >= 500) return unavailable(`received unexpected HTTP status: ${err.status} from ${err.method} "${err.url}"`, 'BERTH_ERR_REGISTRY_UNAVAILABLE');
  return new BerthError('Internal', err.message, 'BERTH_ERR_REGISTRY');
}
