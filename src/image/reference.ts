import { invalidArgument } from '../errors';

/**
 * Image references as Docker's distribution/reference package normalises them:
 *   busybox                         → docker.io/library/busybox:latest
 *   127.0.0.1:5000/team/app:1       → domain 127.0.0.1:5000, path team/app, tag 1
 *   busybox@sha256:<hex>            → digest reference (no default tag)
 */
export interface Reference {
  domain: string;
  path: string;
  tag?: string;
  digest?: string;
}

export const DEFAULT_DOMAIN = 'docker.io';
const LEGACY_DOMAIN = 'index.docker.io';
const OFFICIAL_PREFIX = 'library/';

const COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const DOMAIN_COMPONENT = /^(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])$/;
const TAG = /^[\w][\w.-]{0,127}$/;
const DIGEST = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;
const HEX64 = /^[a-f0-9]{64}$/;
const NAME_MAX = 255;

function bad(s: string, why?: string): never {
  throw invalidArgument(why ? `invalid reference format: ${why}` : `invalid reference format`, 'BERTH_ERR_INVALID_REFERENCE');
}

function validDomain(d: string): boolean {
  const [host, port, ...rest] = d.split(':');
  if (rest.length) return false;
  if (port !== undefined && !/^\d+$/.test(port)) return false;
  if (host.startsWith('[')) return /^\[[0-9a-fA-F:.]+\]$/.test(host);
  return host.split('.').every((c) => DOMAIN_COMPONENT.test(c));
}

/** Parse and normalise a user reference. Throws InvalidArgument with dockerd's wording. */
export function parseReference(input: string): Reference {
  const s = input.trim();
  if (!s) bad(s);
  let rest = s;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) bad(s);
  }
  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG.test(tag)) bad(s);
  }
  if (!rest) bad(s);
  if (HEX64.test(rest)) throw invalidArgument(`invalid repository name (${rest}), cannot specify 64-byte hexadecimal strings`);

  let domain = DEFAULT_DOMAIN;
  let path = rest;
  const slash = rest.indexOf('/');
  if (slash >= 0) {
    const first = rest.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      path = rest.slice(slash + 1);
    }
  }
  if (!validDomain(domain)) bad(s);
  if (domain === LEGACY_DOMAIN) domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  if (path.toLowerCase() !== path) bad(s, `repository name (${path}) must be lowercase`);
  if (!path.split('/').every((c) => COMPONENT.test(c))) bad(s);
  if (domain.length + 1 + path.length > NAME_MAX) bad(s, 'repository name must not be more than 255 characters');
  return { domain, path, tag, digest };
}

/** Parse, then add the default `latest` tag when the reference has neither tag nor digest. */
export function parseWithDefaultTag(input: string): Reference {
  const r = parseReference(input);
  if (!r.tag && !r.digest) r.tag = 'latest';
  return r;
}

/** `docker.io/library/busybox` */
export function fullName(r: Reference): string {
  return `${r.domain}/${r.path}`;
}

/** `docker.io/library/busybox:latest` (tag defaulted when there is no digest), or `…@sha256:…`. */
export function fullString(r: Reference): string {
  return fullName(r) + suffix(r, true);
}

/** `busybox`, `team/app`, `127.0.0.1:5000/team/app` */
export function familiarName(r: Reference): string {
  if (r.domain !== DEFAULT_DOMAIN) return fullName(r);
  return r.path.startsWith(OFFICIAL_PREFIX) && r.path.indexOf('/', OFFICIAL_PREFIX.length) < 0 ? r.path.slice(OFFICIAL_PREFIX.length) : r.path;
}

/** `busybox:latest` */
export function familiarString(r: Reference): string {
  return familiarName(r) + suffix(r, true);
}

/** Repository path as the registry API sees it (`library/busybox`). */
export function repositoryPath(r: Reference): string {
  return r.path;
}

function suffix(r: Reference, defaultTag: boolean): string {
  let out = '';
  if (r.tag) out += `:${r.tag}`;
  else if (!r.digest && defaultTag) out += ':latest';
  if (r.digest) out += `@${r.digest}`;
  return out;
}

/** Familiar form of a stored full ref string (`docker.io/library/busybox:latest` → `busybox:latest`). */
export function familiarize(full: string): string {
  try {
    return familiarString(parseReference(full));
  } catch {
    return full;
  }
}
