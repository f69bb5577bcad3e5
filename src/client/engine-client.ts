/**
 * A typed Engine API client (the CLI's only way to the daemon; tests use it too). `connect()` pings the
 * daemon and negotiates the API version as the Go client does: the lower of ours and the daemon's.
 * Each method maps to one endpoint; streamed endpoints return async iterables of parsed JSON messages,
 * raw endpoints return the response stream.
 */
import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { Transport, type RequestOptions } from './transport';
import type { DeleteItem, DiskUsage, EventMessage, FilterArgs, HistoryItem, ImageSummary, JsonMessage, PruneReport, ServerVersion } from './types';

export const CLIENT_API_VERSION = '1.47';

function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

const enc = encodeURIComponent;

function filtersQuery(filters?: FilterArgs): string | undefined {
  return filters && Object.keys(filters).length > 0 ? JSON.stringify(filters) : undefined;
}

export interface PullOptions {
  fromImage: string;
  tag?: string;
  platform?: string;
  /** X-Registry-Auth value (base64url JSON) */
  registryAuth?: string;
}

export interface ImportOptions {
  /** "-" to stream `body`, or a URL the daemon fetches */
  fromSrc: string;
  body?: Readable;
  repo?: string;
  tag?: string;
  message?: string;
  changes?: string[];
  platform?: string;
}

export interface EventsOptions {
  since?: string;
  until?: string;
  filters?: FilterArgs;
  signal?: AbortSignal;
}

export class EngineClient {
  readonly transport: Transport;
  /** the version negotiated with the daemon (set by connect) */
  apiVersion = CLIENT_API_VERSION;

  constructor(readonly host: string, userAgent = 'berth-cli') {
    this.transport = new Transport(host, userAgent);
  }

  /** Ping and negotiate the API version. */
  async connect(): Promise<this> {
    const res = await this.transport.request({ method: 'HEAD', path: '/_ping', unversioned: true }).catch(async (err) => {
      if ((err as { statusCode?: number }).statusCode === 405 || (err as { statusCode?: number }).statusCode === 404) {
        return this.transport.request({ method: 'GET', path: '/_ping', unversioned: true });
      }
      throw err;
    });
    res.resume();
    const server = res.headers['api-version'];
    if (typeof server === 'string' && /^\d+\.\d+$/.test(server) && compareVersions(server, CLIENT_API_VERSION) < 0) this.apiVersion = server;
    this.transport.apiVersion = this.apiVersion;
    return this;
  }

  request(opts: RequestOptions): Promise<IncomingMessage> {
    return this.transport.request(opts);
  }
  json<T>(opts: RequestOptions): Promise<T> {
    return this.transport.json<T>(opts);
  }

  // --- system ---
  version(): Promise<ServerVersion> {
    return this.json({ path: '/version' });
  }
  info(): Promise<Record<string, unknown>> {
    return this.json({ path: '/info' });
  }
  diskUsage(): Promise<DiskUsage> {
    return this.json({ path: '/system/df' });
  }
  events(opts: EventsOptions = {}): AsyncGenerator<EventMessage> {
    return this.transport.jsonStream<EventMessage>({
      path: '/events',
      query: { since: opts.since, until: opts.until, filters: filtersQuery(opts.filters) },
      signal: opts.signal,
    });
  }

  // --- images ---
  listImages(opts: { all?: boolean; digests?: boolean; filters?: FilterArgs } = {}): Promise<ImageSummary[]> {
    return this.json({ path: '/images/json', query: { all: opts.all, digests: opts.digests, filters: filtersQuery(opts.filters) } });
  }
  inspectImage(name: string): Promise<Record<string, unknown>> {
    return this.json({ path: `/images/${enc(name)}/json` });
  }
  imageHistory(name: string, platform?: string): Promise<HistoryItem[]> {
    return this.json({ path: `/images/${enc(name)}/history`, query: { platform } });
  }
  tagImage(source: string, repo: string, tag?: string): Promise<void> {
    return this.transport.discard({ method: 'POST', path: `/images/${enc(source)}/tag`, query: { repo, tag } });
  }
  removeImage(name: string, opts: { force?: boolean; noPrune?: boolean } = {}): Promise<DeleteItem[]> {
    return this.json({ method: 'DELETE', path: `/images/${enc(name)}`, query: { force: opts.force, noprune: opts.noPrune } });
  }
  pruneImages(filters?: FilterArgs): Promise<PruneReport> {
    return this.json({ method: 'POST', path: '/images/prune', query: { filters: filtersQuery(filters) } });
  }
  pullImage(opts: PullOptions): AsyncGenerator<JsonMessage> {
    return this.transport.jsonStream<JsonMessage>({
      method: 'POST',
      path: '/images/create',
      query: { fromImage: opts.fromImage, tag: opts.tag, platform: opts.platform },
      headers: { 'X-Registry-Auth': opts.registryAuth ?? 'e30=' },
    });
  }
  importImage(opts: ImportOptions): AsyncGenerator<JsonMessage> {
    return this.transport.jsonStream<JsonMessage>({
      method: 'POST',
      path: '/images/create',
      query: { fromSrc: opts.fromSrc, repo: opts.repo, tag: opts.tag, message: opts.message, changes: opts.changes, platform: opts.platform },
      headers: opts.body ? { 'Content-Type': 'text/plain' } : {},
      body: opts.body,
    });
  }
  /** GET /images/get: the tar stream of one or more images */
  async saveImages(names: string[], platform?: string): Promise<IncomingMessage> {
    return this.request({ path: '/images/get', query: { names, platform } });
  }
  loadImages(body: Readable, quiet = false): AsyncGenerator<JsonMessage> {
    return this.transport.jsonStream<JsonMessage>({
      method: 'POST',
      path: '/images/load',
      query: { quiet },
      headers: { 'Content-Type': 'application/x-tar' },
      body,
    });
  }
}

/** Create a client for `host` and negotiate the API version. */
export async function connectEngine(host: string, userAgent?: string): Promise<EngineClient> {
  return new EngineClient(host, userAgent).connect();
}
