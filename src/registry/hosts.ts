/**
 * Which URLs serve a registry domain: Docker Hub's API host, configured mirrors (tried first for docker.io),
 * and plain HTTP for insecure registries (listed ones, and loopback by default as dockerd does).
 */
import { isIP } from 'node:net';

export interface RegistryOptions {
  /** Mirror URLs for docker.io images (`http://127.0.0.1:5000`, `https://mirror.example`). */
  mirrors: string[];
  /** Registries reached over plain HTTP: `HOST:PORT`, `HOST`, or a CIDR (`10.0.0.0/8`). */
  insecure: string[];
  /** Pull docker.io images only through the mirrors, never falling back to Docker Hub (berth's addition). */
  mirrorsOnly?: boolean;
}

/** One place to send /v2/ requests for a domain. */
export interface RegistryEndpoint {
  /** `http://127.0.0.1:5000` or `https://registry-1.docker.io` (may carry a path for mirrors) */
  baseUrl: string;
  /** The domain as it appears in references (`docker.io`, `127.0.0.1:5000`). */
  domain: string;
  mirror: boolean;
}

export const DOCKER_HUB_DOMAIN = 'docker.io';
export const DOCKER_HUB_API_HOST = 'registry-1.docker.io';
const HUB_ALIASES = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

/** Endpoints to try in order: mirrors first for Docker Hub, then the registry itself. */
export function registryEndpoints(domain: string, opts: RegistryOptions): RegistryEndpoint[] {
  if (HUB_ALIASES.has(domain)) {
    const mirrors = opts.mirrors.map((m) => ({ baseUrl: normalizeMirror(m), domain: DOCKER_HUB_DOMAIN, mirror: true }));
    if (opts.mirrorsOnly && mirrors.length) return mirrors;
    return [...mirrors, { baseUrl: `https://${DOCKER_HUB_API_HOST}`, domain: DOCKER_HUB_DOMAIN, mirror: false }];
  }
  const scheme = isInsecureRegistry(domain, opts.insecure) ? 'http' : 'https';
  return [{ baseUrl: `${scheme}://${domain}`, domain, mirror: false }];
}

function normalizeMirror(url: string): string {
  const withScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(url) ? url : `https://${url}`;
  return withScheme.replace(/\/+$/, '').replace(/\/v2$/, '');
}

/** `host` / `[v6]` / `host:port` → [hostname without brackets, port or undefined] */
function splitHostPort(domain: string): [string, string | undefined] {
  const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(domain);
  if (v6) return [v6[1], v6[2]];
  const colon = domain.lastIndexOf(':');
  if (colon > 0 && domain.indexOf(':') === colon) return [domain.slice(0, colon), domain.slice(colon + 1)];
  return [domain, undefined];
}

/** True when `domain` (`host[:port]`) is reached over plain HTTP. */
export function isInsecureRegistry(domain: string, insecure: string[]): boolean {
  const [host] = splitHostPort(domain);
  if (host === 'localhost' || isLoopback(host)) return true;
  for (const raw of insecure) {
    const entry = raw.replace(/^[a-z]+:\/\//i, '').replace(/\/+$/, '');
    if (entry.includes('/')) {
      if (isIP(host) && inCidr(host, entry)) return true;
    } else if (entry === domain || entry === host) {
      return true;
    }
  }
  return false;
}

function isLoopback(host: string): boolean {
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1';
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((acc, part) => (acc << 8) + Number(part), 0) >>> 0;
}

function ipv6ToBigInt(ip: string): bigint {
  const [head, tail = ''] = ip.split('::');
  const parse = (s: string) => (s ? s.split(':') : []);
  let groups = [...parse(head)];
  const tailGroups = parse(tail);
  if (ip.includes('::')) groups = [...groups, ...Array(8 - groups.length - tailGroups.length).fill('0'), ...tailGroups];
  return groups.reduce((acc, g) => (acc << 16n) + BigInt(parseInt(g || '0', 16)), 0n);
}

/** IP literal inside a CIDR of the same family. */
export function inCidr(ip: string, cidr: string): boolean {
  const [net, bitsText] = cidr.split('/');
  const bits = Number(bitsText);
  const family = isIP(ip);
  if (family === 0 || family !== isIP(net) || !Number.isInteger(bits)) return false;
  if (family === 4) {
    if (bits < 0 || bits > 32) return false;
    const mask = bits === 0 ? 0 : (~0 << (32 - bits)) >>> 0;
    return (ipv4ToInt(ip) & mask) === (ipv4ToInt(net) & mask);
  }
  if (bits < 0 || bits > 128) return false;
  const shift = BigInt(128 - bits);
  return ipv6ToBigInt(ip) >> shift === ipv6ToBigInt(net) >> shift;
}
