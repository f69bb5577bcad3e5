/**
 * Legacy links (`--link name:alias`). On the default bridge, as dockerd does: the linked container is
 * named in /etc/hosts (`<ip>\t<alias> <short id> <name>`) and described by environment variables
 * (`ALIAS_PORT_80_TCP_ADDR`, `ALIAS_NAME`, `ALIAS_ENV_<var>`). On a user-defined network a link is only an
 * extra name for the linked container, which the /etc/hosts line gives.
 */
import { conflict, invalidArgument, isNotFound } from '../errors';
import type { ContainerRecord } from './containers-store';

export interface Link {
  /** the linked container's name, without the leading slash */
  target: string;
  alias: string;
}

/** HostConfig.Links as dockerd stores them: `/<target>:/<this container>/<alias>`. */
export function normalizeLinks(links: unknown, ownName: string, get: (ref: string) => ContainerRecord): string[] | null {
  if (!Array.isArray(links) || links.length === 0) return null;
  return links.map((l) => {
    const text = String(l);
    const parsed = parseLink(text);
    let target: ContainerRecord;
    try {
      target = get(parsed.target);
    } catch (err) {
      // not a 404: the docker CLI would take that for a missing image and pull it (dockerd does the same)
      if (isNotFound(err)) throw invalidArgument(`could not get container for ${parsed.target}: No such container: ${parsed.target}`);
      throw err;
    }
    return `/${target.name}:/${ownName}/${parsed.alias}`;
  });
}

/** `name`, `name:alias`, or the stored `/name:/own/alias` form. */
export function parseLink(text: string): Link {
  const [from, to] = text.split(':', 2);
  const target = from.replace(/^\//, '');
  const alias = to === undefined ? target : to.slice(to.lastIndexOf('/') + 1);
  return { target, alias };
}

export function linksOf(c: ContainerRecord): Link[] {
  const links = c.hostConfig.Links as string[] | null | undefined;
  return (links ?? []).map(parseLink);
}

export interface LinkedContainer {
  link: Link;
  target: ContainerRecord;
  ip: string;
}

/** The running containers `c` links to, with the address `c` reaches each at; refused as dockerd does otherwise. */
export function resolveLinks(c: ContainerRecord, get: (ref: string) => ContainerRecord, ipOf: (target: ContainerRecord) => string): LinkedContainer[] {
  return linksOf(c).map((link) => {
    const target = get(link.target);
    if (target.state.status !== 'running') throw conflict(`Cannot link to a non running container: /${target.name} AS /${c.name}/${link.alias}`);
    return { link, target, ip: ipOf(target) };
  });
}

export function linkHostsLines(linked: LinkedContainer[]): string {
  return linked.filter((l) => l.ip).map((l) => `${l.ip}\t${l.link.alias} ${l.target.id.slice(0, 12)} ${l.target.name}\n`).join('');
}

const envPrefix = (alias: string) => alias.toUpperCase().replace(/[^A-Z0-9_]/g, '_');

/** The variables dockerd gives a container for each legacy link. */
export function linkEnv(ownName: string, linked: LinkedContainer[]): string[] {
  const env: string[] = [];
  for (const { link, target, ip } of linked) {
    const p = envPrefix(link.alias);
    const ports = Object.keys(target.config.ExposedPorts ?? {}).map((k) => {
      const [port, proto = 'tcp'] = k.split('/');
      return { port: Number(port), proto };
    }).sort((a, b) => a.port - b.port || a.proto.localeCompare(b.proto));
    if (ports.length) env.push(`${p}_PORT=${ports[0].proto}://${ip}:${ports[0].port}`);
    for (const { port, proto } of ports) {
      const base = `${p}_PORT_${port}_${proto.toUpperCase()}`;
      env.push(`${base}=${proto}://${ip}:${port}`, `${base}_ADDR=${ip}`, `${base}_PORT=${port}`, `${base}_PROTO=${proto}`);
    }
    env.push(`${p}_NAME=/${ownName}/${link.alias}`);
    for (const e of target.config.Env ?? []) {
      const eq = e.indexOf('=');
      if (eq < 0) continue;
      const key = e.slice(0, eq);
      if (key === 'HOME' || key === 'PATH') continue;
      env.push(`${p}_ENV_${key}=${e.slice(eq + 1)}`);
    }
  }
  return env;
}
