/**
 * `GET /images/search`: Docker Hub's search API for docker.io terms; for any other registry (which has no
 * search API — distribution never had one) the repository list from `/v2/_catalog`, filtered by the term.
 * A daemon that only uses mirrors for docker.io (--registry-mirror-only) searches the mirrors' catalogs.
 * Catalog results are named with their registry (`127.0.0.1:5000/team/app`) so they can be pulled as shown.
 */
import { invalidArgument, unavailable } from '../errors';
import type { AuthConfig } from '../registry/auth';
import { DOCKER_HUB_DOMAIN, registryEndpoints, type RegistryEndpoint, type RegistryOptions } from '../registry/hosts';
import { networkError } from '../registry/errors';
import { translatePushError } from '../registry/push';
import { RegistrySession } from '../registry/session';
import type { Logger } from '../util/logger';

export interface SearchResult {
  star_count: number;
  is_official: boolean;
  name: string;
  is_automated: boolean;
  description: string;
}

export interface SearchOptions {
  limit?: number;
  filters?: Map<string, string[]>;
  auth?: AuthConfig;
  signal?: AbortSignal;
}

export interface ImageSearcherDeps {
  registry: RegistryOptions;
  log: Logger;
}

export const SEARCH_FILTER_KEYS = ['is-automated', 'is-official', 'stars'] as const;
export const DEFAULT_SEARCH_LIMIT = 25;
const HUB_SEARCH_URL = 'https://index.docker.io/v1/search';
const CATALOG_PAGE = 1000;
const MAX_CATALOG_PAGES = 20;

/** `127.0.0.1:5000/team` → ['127.0.0.1:5000', 'team']; `busybox` → ['docker.io', 'busybox'] (registry.splitReposSearchTerm). */
export function splitSearchTerm(term: string): [string, string] {
  const slash = term.indexOf('/');
  if (slash > 0) {
    const first = term.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost') {
      const domain = first === 'index.docker.io' || first === 'registry-1.docker.io' ? DOCKER_HUB_DOMAIN : first;
      return [domain, term.slice(slash + 1)];
    }
  }
  return [DOCKER_HUB_DOMAIN, term];
}

interface Wanted {
  official?: boolean;
  automated?: boolean;
  stars: number;
}

function parseBoolFilter(key: string, values: string[] | undefined): boolean | undefined {
  if (!values?.length) return undefined;
  const v = values[values.length - 1];
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw invalidArgument(`invalid filter '${key}=${v}'`);
}

function parseWanted(filters: Map<string, string[]> | undefined): Wanted {
  const stars = filters?.get('stars') ?? [];
  let min = 0;
  for (const s of stars) {
    if (!/^\d+$/.test(s)) throw invalidArgument(`invalid filter 'stars=${s}'`);
    min = Math.max(min, Number(s));
  }
  return { official: parseBoolFilter('is-official', filters?.get('is-official')), automated: parseBoolFilter('is-automated', filters?.get('is-automated')), stars: min };
}

export class ImageSearcher {
  constructor(private readonly deps: ImageSearcherDeps) {}

  async search(term: string, opts: SearchOptions = {}): Promise<SearchResult[]> {
    const limit = opts.limit || DEFAULT_SEARCH_LIMIT;
    if (limit < 1 || limit > 100) throw invalidArgument(`limit ${limit} is outside the range of [1, 100]`);
    const wanted = parseWanted(opts.filters);
    if (!term.trim()) throw invalidArgument('search term is required');
    const [domain, remote] = splitSearchTerm(term.trim());
    let results: SearchResult[];
    const { registry } = this.deps;
    if (domain === DOCKER_HUB_DOMAIN && !(registry.mirrorsOnly && registry.mirrors.length)) {
      results = await this.hubSearch(remote.replace(/^library\//, ''), limit, opts.signal);
    } else {
      const endpoints = registryEndpoints(domain, registry).filter((e) => domain !== DOCKER_HUB_DOMAIN || e.mirror);
      results = await this.catalogSearch(endpoints, remote, opts);
    }
    return results
      .filter((r) => (wanted.official === undefined || r.is_official === wanted.official)
        && (wanted.automated === undefined || r.is_automated === wanted.automated)
        && r.star_count >= wanted.stars)
      .slice(0, limit);
  }

  private async hubSearch(term: string, limit: number, signal?: AbortSignal): Promise<SearchResult[]> {
    const url = `${HUB_SEARCH_URL}?q=${encodeURIComponent(term)}&n=${limit}`;
    let res: Response;
    try {
      res = await fetch(url, { headers: { 'User-Agent': 'berth' }, signal });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw networkError('GET', url, err);
    }
    if (!res.ok) throw unavailable(`Unexpected status code ${res.status}`, 'BERTH_ERR_SEARCH');
    const body = (await res.json()) as { results?: Partial<SearchResult>[] };
    return (body.results ?? []).map((r) => ({
      star_count: r.star_count ?? 0, is_official: !!r.is_official, name: r.name ?? '', is_automated: !!r.is_automated, description: r.description ?? '',
    }));
  }

  /** Repositories from each endpoint's catalog whose name contains the term; the first endpoint that answers wins. */
  private async catalogSearch(endpoints: RegistryEndpoint[], term: string, opts: SearchOptions): Promise<SearchResult[]> {
    let lastError: unknown;
    for (const endpoint of endpoints) {
      try {
        const repos = await this.catalog(endpoint, opts.auth, opts.signal);
        const needle = term.toLowerCase();
        return repos.filter((r) => r.toLowerCase().includes(needle)).map((r) => {
          const official = endpoint.domain === DOCKER_HUB_DOMAIN && /^library\/[^/]+$/.test(r);
          const name = endpoint.domain === DOCKER_HUB_DOMAIN ? (official ? r.slice('library/'.length) : r) : `${endpoint.domain}/${r}`;
          return { star_count: 0, is_official: official, name, is_automated: false, description: '' };
        });
      } catch (err) {
        if (opts.signal?.aborted) throw err;
        lastError = translatePushError(err);
        this.deps.log.debug('catalog search failed', { endpoint: endpoint.baseUrl, error: String((err as Error)?.message ?? err) });
      }
    }
    throw lastError ?? unavailable('no registry to search', 'BERTH_ERR_SEARCH');
  }

  private async catalog(endpoint: RegistryEndpoint, auth: AuthConfig | undefined, signal?: AbortSignal): Promise<string[]> {
    const session = new RegistrySession(endpoint, auth, signal);
    const out: string[] = [];
    let url: string | undefined = session.url(`_catalog?n=${CATALOG_PAGE}`);
    for (let page = 0; url && page < MAX_CATALOG_PAGES; page++) {
      const res: Response = await session.request('GET', url, { scopes: ['registry:catalog:*'] });
      if (res.status === 404) {
        await res.body?.cancel().catch(() => {});
        throw unavailable(`registry ${endpoint.domain} does not support search: it has no search API and no catalog (Unexpected status code 404)`, 'BERTH_ERR_SEARCH');
      }
      if (!res.ok) await session.fail('GET', url, res);
      const body = (await res.json()) as { repositories?: string[] };
      out.push(...(body.repositories ?? []));
      const link = /<([^>]+)>;\s*rel="?next"?/.exec(res.headers.get('link') ?? '');
      url = link ? new URL(link[1], url).toString() : undefined;
    }
    return out;
  }
}
