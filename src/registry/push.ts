/**
 * The registry side of a push, for one repository on one endpoint: does a blob exist, mount it from a
 * sibling repository, upload it (upload.ts), put a manifest. Errors read as dockerd's push errors.
 */
import { Readable } from 'node:stream';
import { BerthError, internal, notFound, unauthorized, unavailable } from '../errors';
import type { AuthConfig } from './auth';
import { sha256Digest } from './client';
import { formatEntry, RegistryHttpError } from './errors';
import { registryEndpoints, type RegistryEndpoint, type RegistryOptions } from './hosts';
import { discard, RegistrySession, repositoryScope } from './session';
import { uploadBlob, type UploadProgress } from './upload';

export type MountOutcome = { mounted: true } | { mounted: false; location?: string };

/** Pushes never go to mirrors: the registry named in the reference is the only endpoint. */
export function pushEndpoint(domain: string, opts: RegistryOptions): RegistryEndpoint {
  const endpoints = registryEndpoints(domain, { ...opts, mirrorsOnly: false }).filter((e) => !e.mirror);
  return endpoints[endpoints.length - 1];
}

export class PushTarget {
  readonly session: RegistrySession;
  private readonly scopes: string[];

  constructor(endpoint: RegistryEndpoint, readonly repository: string, auth: AuthConfig | undefined, readonly signal?: AbortSignal) {
    this.session = new RegistrySession(endpoint, auth, signal);
    this.scopes = [repositoryScope(repository, 'pull,push')];
  }

  private url(suffix: string): string {
    return this.session.url(`${this.repository}/${suffix}`);
  }

  /** GET /v2/ (network errors surface here, before any layer work). */
  async ping(): Promise<void> {
    await this.session.ping();
  }

  /** HEAD the blob in this repository: 200 (or a redirect to storage) means it is there. */
  async blobExists(digest: string): Promise<boolean> {
    const url = this.url(`blobs/${digest}`);
    const res = await this.session.request('HEAD', url, { scopes: this.scopes });
    await discard(res);
    if (res.status === 404) return false;
    if (res.ok || (res.status >= 300 && res.status < 400)) return true;
    return this.session.fail('HEAD', url, res);
  }

  /**
   * Cross-repository mount. 201: mounted. 202: the registry would not mount and opened an upload instead
   * (its Location is returned so the caller uploads there). Anything else: not mounted, no upload open.
   */
  async mountBlob(digest: string, from: string): Promise<MountOutcome> {
    const url = this.url(`blobs/uploads/?mount=${encodeURIComponent(digest)}&from=${encodeURIComponent(from)}`);
    const scopes = [...this.scopes, repositoryScope(from, 'pull')];
    const res = await this.session.request('POST', url, { scopes, headers: { 'Content-Length': '0' } });
    await discard(res);
    if (res.status === 201) return { mounted: true };
    const location = res.headers.get('location');
    if (res.status === 202 && location) return { mounted: false, location: new URL(location, url).toString() };
    return { mounted: false };
  }

  /** POST /blobs/uploads/: the upload URL (Location, made absolute). */
  async startUpload(): Promise<string> {
    const url = this.url('blobs/uploads/');
    const res = await this.session.request('POST', url, { scopes: this.scopes, headers: { 'Content-Length': '0' } });
    const location = res.headers.get('location');
    if (res.status !== 202 || !location) return this.session.fail('POST', url, res);
    await discard(res);
    return new URL(location, url).toString();
  }

  /** Uploads a blob of known digest and size, starting a session unless `location` already names one. */
  async upload(source: Readable, digest: string, size: number, progress: UploadProgress, location?: string): Promise<void> {
    const start = location ?? await this.startUpload();
    await uploadBlob(this.session, this.scopes, start, source, digest, size, progress);
  }

  /** Small blobs (the config) from memory. */
  async uploadBytes(bytes: Buffer, digest: string): Promise<void> {
    if (await this.blobExists(digest)) return;
    await this.upload(Readable.from([bytes]), digest, bytes.length, () => {});
  }

  /** PUT the manifest under `ref` (a tag or its digest); returns the digest the registry confirms. */
  async putManifest(ref: string, bytes: Buffer, mediaType: string): Promise<string> {
    const url = this.url(`manifests/${ref}`);
    const res = await this.session.request('PUT', url, { scopes: this.scopes, headers: { 'Content-Type': mediaType }, body: bytes });
    if (res.status !== 201 && res.status !== 200 && res.status !== 202) return this.session.fail('PUT', url, res);
    await discard(res);
    const digest = sha256Digest(bytes);
    const said = res.headers.get('docker-content-digest');
    if (said && said !== digest) throw internal(`registry reported manifest digest ${said}, expected ${digest}`);
    return digest;
  }
}

/** dockerd's push error texts: `denied: requested access to the resource is denied`, … */
export function translatePushError(err: unknown): unknown {
  if (!(err instanceof RegistryHttpError)) return err;
  const entry = err.errors[0];
  if (entry) {
    const text = err.errors.map(formatEntry).join('\n');
    switch (entry.code) {
      case 'DENIED':
      case 'UNAUTHORIZED':
        return unauthorized(text, 'BERTH_ERR_PUSH_DENIED');
      case 'NAME_UNKNOWN':
      case 'BLOB_UNKNOWN':
        return notFound(text, 'BERTH_ERR_PUSH_UNKNOWN');
      case 'TOOMANYREQUESTS':
        return unavailable(text, 'BERTH_ERR_REGISTRY_RATE_LIMIT');
      default:
        return new BerthError(err.status < 500 ? 'InvalidArgument' : 'Unavailable', text, 'BERTH_ERR_PUSH');
    }
  }
  const statusText = err.status === 500 ? 'Internal Server Error' : err.status === 502 ? 'Bad Gateway' : err.status === 503 ? 'Service Unavailable' : '';
  return unavailable(`received unexpected HTTP status: ${err.status}${statusText ? ` ${statusText}` : ''}`, 'BERTH_ERR_PUSH');
}
