/** Validation of `POST /networks/create` requests and the list/prune filters, as dockerd words its refusals. */
import { conflict, forbidden, invalidArgument, notFound } from '../errors';
import type { Filters } from '../api/http-util';
import { newId } from '../util/ids';
import { cidrOverlaps, formatCidr, formatIPv4, parseCidr, pickSubnet, routedCidrs, validatePlan, type Cidr } from './ipam';
import type { NetworkRecord } from './store';

export interface NetworkCreateRequest {
  Name?: string;
  Driver?: string;
  Scope?: string;
  Internal?: boolean;
  Attachable?: boolean;
  Ingress?: boolean;
  ConfigOnly?: boolean;
  ConfigFrom?: { Network?: string } | null;
  EnableIPv4?: boolean;
  EnableIPv6?: boolean | null;
  IPAM?: {
    Driver?: string;
    Config?: { Subnet?: string; IPRange?: string; Gateway?: string; AuxiliaryAddresses?: Record<string, string> }[] | null;
    Options?: Record<string, string> | null;
  } | null;
  Options?: Record<string, string> | null;
  Labels?: Record<string, string> | null;
  CheckDuplicate?: boolean;
}

const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const BRIDGE_NAME_RE = /^[a-zA-Z0-9_.-]{1,15}$/;

export interface CreateContext {
  existing: NetworkRecord[];
  /** `ip -4 route show table all` output: auto-allocated subnets avoid every routed prefix */
  routes: string;
  pool: Cidr;
  poolPrefix: number;
  /** interface names present on the host */
  hostLinks: string[];
}

/** Check a create request and turn it into the record to store (bridge driver, one IPv4 subnet). */
export function createNetworkRecord(req: NetworkCreateRequest, ctx: CreateContext): NetworkRecord {
  const name = req.Name ?? '';
  if (!name) throw invalidArgument('network name must not be empty');
  if (!NAME_RE.test(name) || name.length > 128) throw invalidArgument(`invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  if (ctx.existing.some((n) => n.name === name)) {
    throw conflict(`network with name ${name} already exists`);
  }
  const driver = req.Driver || 'bridge';
  if (driver === 'host' || driver === 'null') throw forbidden(`only one instance of "${driver}" network is allowed`);
  if (driver !== 'bridge') throw notFound(`could not find plugin ${driver} in v1 plugin registry: plugin not found`);
  if (req.Scope && req.Scope !== 'local') throw invalidArgument(`invalid scope "${req.Scope}": only "local" is supported`);
  if (req.Ingress) throw forbidden('ingress networks are a swarm feature, which berth does not support');
  if (req.ConfigOnly || req.ConfigFrom?.Network) throw invalidArgument('config-only networks are not supported');
  if (req.EnableIPv6) throw invalidArgument('IPv6 networks are not supported by berth');
  if (req.EnableIPv4 === false) throw invalidArgument('IPv4 cannot be disabled on a bridge network');
  if (req.IPAM?.Driver && req.IPAM.Driver !== 'default') throw notFound(`could not find plugin ${req.IPAM.Driver} in v1 plugin registry: plugin not found`);

  const configs = req.IPAM?.Config ?? [];
  if (configs.length > 1) throw invalidArgument('berth supports one IPv4 subnet per network');
  const cfg = configs[0] ?? {};
  if (cfg.Subnet?.includes(':') || cfg.Gateway?.includes(':')) throw invalidArgument('IPv6 networks are not supported by berth');
  if (!cfg.Subnet && (cfg.Gateway || cfg.IPRange)) throw invalidArgument(`no matching subnet for ${cfg.Gateway ? `gateway ${cfg.Gateway}` : `range ${cfg.IPRange}`}`);

  let subnet: Cidr;
  const taken = ctx.existing.filter((n) => n.subnet).map((n) => parseCidr(n.subnet));
  if (cfg.Subnet) {
    subnet = parseCidr(cfg.Subnet);
    if (taken.some((t) => cidrOverlaps(t, subnet))) throw forbidden('Pool overlaps with other one on this address space');
  } else {
    const picked = pickSubnet(ctx.pool, ctx.poolPrefix, [...taken, ...routedCidrs(ctx.routes)]);
    if (!picked) throw forbidden('could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network');
    subnet = picked;
  }
  const plan = validatePlan(formatCidr(subnet), cfg.Gateway, cfg.IPRange);

  const options = { ...(req.Options ?? {}) };
  const id = newId();
  let bridge = options['com.docker.network.bridge.name'] ?? '';
  if (bridge) {
    if (!BRIDGE_NAME_RE.test(bridge)) throw invalidArgument(`invalid bridge name "${bridge}": at most 15 characters of [a-zA-Z0-9_.-]`);
    if (ctx.existing.some((n) => n.bridge === bridge) || ctx.hostLinks.includes(bridge)) throw conflict(`bridge name ${bridge} is already in use`);
  } else {
    bridge = `berth-${id.slice(0, 9)}`;
  }
  const mtu = options['com.docker.network.driver.mtu'];
  if (mtu !== undefined && !/^\d+$/.test(mtu)) throw invalidArgument(`invalid MTU ${mtu}`);

  return {
    id, name, driver: 'bridge', builtin: false, bridge,
    subnet: formatCidr(plan.subnet), gateway: formatIPv4(plan.gateway), ipRange: plan.range ? formatCidr(plan.range) : '',
    internal: req.Internal === true, attachable: req.Attachable === true, dnsEnabled: true,
    options, ipamOptions: { ...(req.IPAM?.Options ?? {}) }, labels: { ...(req.Labels ?? {}) },
    created: new Date().toISOString(),
  };
}

/** dockerd's filters.Match: the value equals, or is a regular expression found in, the field. */
export function loosely(field: string, pattern: string): boolean {
  if (field === pattern) return true;
  try {
    return new RegExp(pattern).test(field);
  } catch {
    return field.includes(pattern);
  }
}

/** `label=k` or `label=k=v` against a label map. */
export function labelMatches(labels: Record<string, string>, expr: string): boolean {
  const i = expr.indexOf('=');
  if (i < 0) return expr in labels;
  return labels[expr.slice(0, i)] === expr.slice(i + 1);
}

/** `until` as dockerd reads it: a Go duration before now, an RFC 3339 time, or Unix seconds. Returns ms. */
export function parseUntil(v: string, now = Date.now()): number {
  const dur = /^((\d+(\.\d+)?)(ns|us|µs|ms|s|m|h))+$/.test(v);
  if (dur) {
    const unit: Record<string, number> = { ns: 1e-6, us: 1e-3, µs: 1e-3, ms: 1, s: 1000, m: 60000, h: 3600000 };
    let ms = 0;
    for (const m of v.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) ms += Number(m[1]) * unit[m[2]];
    return now - ms;
  }
  if (/^\d+(\.\d+)?$/.test(v)) return Number(v) * 1000;
  const t = Date.parse(v);
  if (Number.isNaN(t)) throw invalidArgument(`failed to parse value as time or duration: "${v}"`);
  return t;
}

function boolFilter(key: string, v: string): boolean {
  if (['true', '1'].includes(v.toLowerCase())) return true;
  if (['false', '0'].includes(v.toLowerCase())) return false;
  throw invalidArgument(`invalid filter '${key}=${v}'`);
}

/** Whether network `n` passes list/prune filters; `inUse` = it has active endpoints. */
export function matchNetwork(n: NetworkRecord, filters: Filters, inUse: boolean): boolean {
  const any = (key: string, test: (v: string) => boolean) => {
    const vals = filters.get(key);
    return !vals || vals.length === 0 || vals.some(test);
  };
  for (const v of filters.get('type') ?? []) if (v !== 'custom' && v !== 'builtin') throw invalidArgument(`invalid filter: 'type'='${v}'`);
  if (!any('driver', (v) => n.driver === v)) return false;
  if (!any('id', (v) => n.id.startsWith(v) || loosely(n.id, v))) return false;
  if (!any('name', (v) => loosely(n.name, v))) return false;
  if (!any('scope', (v) => v === 'local')) return false;
  if (!any('type', (v) => (v === 'builtin') === n.builtin)) return false;
  const labels = filters.get('label') ?? [];
  if (!labels.every((l) => labelMatches(n.labels, l))) return false;
  const notLabels = filters.get('label!') ?? [];
  if (notLabels.some((l) => labelMatches(n.labels, l))) return false;
  if (!any('dangling', (v) => (boolFilter('dangling', v) ? !n.builtin && !inUse : n.builtin || inUse))) return false;
  for (const v of filters.get('until') ?? []) if (Date.parse(n.created) > parseUntil(v)) return false;
  return true;
}
