/**
 * IPv4 address management: CIDR arithmetic, picking a free subnet for a new network, and leasing container
 * addresses from a network's subnet (or its --ip-range). Leases live in the `ip_leases` table, so two
 * containers never get the same address (netavark does not check that).
 */
import { conflict, invalidArgument } from '../errors';
import type { Db } from '../store/db';

export interface Cidr {
  /** network address as an unsigned 32-bit number */
  base: number;
  prefix: number;
}

export function parseIPv4(s: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s.trim());
  if (!m) throw invalidArgument(`invalid IPv4 address: ${s}`);
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) throw invalidArgument(`invalid IPv4 address: ${s}`);
  return ((parts[0] << 24) >>> 0) + (parts[1] << 16) + (parts[2] << 8) + parts[3];
}

export function formatIPv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function isIPv4(s: string): boolean {
  try {
    parseIPv4(s);
    return true;
  } catch {
    return false;
  }
}

function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.1.2.3/16" → the network 10.1.0.0/16 (host bits dropped, as Docker normalises --subnet). */
export function parseCidr(s: string): Cidr {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s.trim());
  if (!m || Number(m[2]) > 32) throw invalidArgument(`invalid CIDR address: ${s}`);
  const prefix = Number(m[2]);
  return { base: (parseIPv4(m[1]) & maskOf(prefix)) >>> 0, prefix };
}

export function formatCidr(c: Cidr): string {
  return `${formatIPv4(c.base)}/${c.prefix}`;
}

export function cidrSize(c: Cidr): number {
  return 2 ** (32 - c.prefix);
}

export function cidrContains(c: Cidr, ip: number): boolean {
  return ((ip & maskOf(c.prefix)) >>> 0) === c.base;
}

export function cidrOverlaps(a: Cidr, b: Cidr): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}

/** Destinations of `ip -4 route show table all` output that are prefixes (default route excluded). */
export function routedCidrs(ipRouteOutput: string): Cidr[] {
  const out: Cidr[] = [];
  for (const line of ipRouteOutput.split('\n')) {
    let dst = line.trim().split(/\s+/)[0];
    if (['broadcast', 'local', 'unicast', 'multicast'].includes(dst)) dst = line.trim().split(/\s+/)[1];
    if (!dst || dst === 'default') continue;
    try {
      out.push(parseCidr(dst.includes('/') ? dst : `${dst}/32`));
    } catch { /* not IPv4 */ }
  }
  return out;
}

/**
 * The first /<prefix> of `pool` that overlaps neither a taken subnet (other networks) nor a host route.
 * Undefined when the pool is exhausted.
 */
export function pickSubnet(pool: Cidr, prefix: number, taken: Cidr[]): Cidr | undefined {
  const step = 2 ** (32 - prefix);
  for (let base = pool.base; base < pool.base + cidrSize(pool); base += step) {
    const candidate = { base: base >>> 0, prefix };
    if (!taken.some((t) => cidrOverlaps(t, candidate))) return candidate;
  }
  return undefined;
}

export interface AddressPlan {
  subnet: Cidr;
  gateway: number;
  /** container addresses come from here (defaults to the subnet) */
  range?: Cidr;
}

/** The lowest usable address of the plan that is not the gateway, the network/broadcast address, nor used. */
export function lowestFree(plan: AddressPlan, used: Set<number>): number | undefined {
  const from = plan.range ?? plan.subnet;
  const first = plan.subnet.base;
  const last = plan.subnet.base + cidrSize(plan.subnet) - 1;
  for (let ip = from.base; ip < from.base + cidrSize(from); ip++) {
    if (plan.subnet.prefix < 31 && (ip === first || ip === last)) continue;
    if (ip === plan.gateway || used.has(ip)) continue;
    return ip;
  }
  return undefined;
}

/** The default gateway of a subnet: its first usable address. */
export function defaultGateway(subnet: Cidr): number {
  return subnet.prefix >= 31 ? subnet.base : subnet.base + 1;
}

/** Checks a user's --subnet/--gateway/--ip-range combination the way dockerd words its refusals. */
export function validatePlan(subnet: string, gateway?: string, ipRange?: string): AddressPlan {
  const net = parseCidr(subnet);
  if (net.prefix > 30) throw invalidArgument(`invalid subnet ${subnet}: it is too small for containers`);
  const plan: AddressPlan = { subnet: net, gateway: defaultGateway(net) };
  if (gateway) {
    const gw = parseIPv4(gateway.replace(/\/\d+$/, ''));
    if (!cidrContains(net, gw)) throw invalidArgument(`no matching subnet for gateway ${gateway}`);
    plan.gateway = gw;
  }
  if (ipRange) {
    const range = parseCidr(ipRange);
    if (!cidrContains(net, range.base) || range.prefix < net.prefix) throw invalidArgument(`no matching subnet for range ${ipRange}`);
    plan.range = range;
  }
  return plan;
}

/** Leases of container addresses, per network, in the database. */
export class IpLeases {
  constructor(private readonly db: Db) {}

  /**
   * Lease `requested` (must be free and inside the subnet) or the lowest free address. Runs in one
   * transaction, so concurrent requests never share an address.
   */
  lease(networkId: string, plan: AddressPlan, containerId: string, requested?: string): string {
    return this.db.transaction(() => {
      const used = new Set((this.db.prepare('SELECT ip FROM ip_leases WHERE network_id = ?').all(networkId) as { ip: string }[]).map((r) => parseIPv4(r.ip)));
      let ip: number | undefined;
      if (requested) {
        ip = parseIPv4(requested);
        if (!cidrContains(plan.subnet, ip)) throw invalidArgument(`Invalid address ${requested}: It does not belong to any of this network's subnets`);
        if (used.has(ip) || ip === plan.gateway) throw conflict(`Address already in use`);
      } else {
        ip = lowestFree(plan, used);
        if (ip === undefined) throw conflict(`no available IPv4 addresses on this network's address pools: ${formatCidr(plan.subnet)}`);
      }
      const text = formatIPv4(ip);
      this.db.prepare('INSERT INTO ip_leases (network_id, ip, container_id) VALUES (?, ?, ?)').run(networkId, text, containerId);
      return text;
    })();
  }

  release(networkId: string, containerId: string): void {
    this.db.prepare('DELETE FROM ip_leases WHERE network_id = ? AND container_id = ?').run(networkId, containerId);
  }

  releaseAll(containerId: string): void {
    this.db.prepare('DELETE FROM ip_leases WHERE container_id = ?').run(containerId);
  }

  leasesOf(networkId: string): { ip: string; container_id: string }[] {
    return this.db.prepare('SELECT ip, container_id FROM ip_leases WHERE network_id = ? ORDER BY ip').all(networkId) as { ip: string; container_id: string }[];
  }
}
