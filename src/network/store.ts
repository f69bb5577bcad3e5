/** Typed queries over the `networks` and `endpoints` tables (schema migration 3). */
import type Database from 'better-sqlite3';
import type { Db } from '../store/db';
import type { NetavarkOptions } from './netavark';

export type NetworkDriver = 'bridge' | 'host' | 'null';

export interface NetworkRecord {
  id: string;
  name: string;
  driver: NetworkDriver;
  /** bridge, host, none: created by the daemon, never removed */
  builtin: boolean;
  /** Linux bridge interface ('' for host/none) */
  bridge: string;
  subnet: string;
  gateway: string;
  ipRange: string;
  internal: boolean;
  attachable: boolean;
  dnsEnabled: boolean;
  /** Docker driver options (-o), as given */
  options: Record<string, string>;
  ipamOptions: Record<string, string>;
  labels: Record<string, string>;
  /** RFC 3339 with nanoseconds, as dockerd prints it */
  created: string;
}

/** One container's attachment to one network. `netavark` is set while the endpoint is set up. */
export interface EndpointRecord {
  containerId: string;
  networkId: string;
  containerName: string;
  endpointId: string;
  ip: string;
  mac: string;
  aliases: string[];
  ifname: string;
  netns: string;
  netavark?: NetavarkOptions;
  /** attachment order: the first endpoint of a container gets eth0 and its published ports */
  seq: number;
}

interface NetworkRow {
  id: string; name: string; driver: string; builtin: number; bridge: string; subnet: string; gateway: string; ip_range: string;
  internal: number; attachable: number; dns_enabled: number; options: string; ipam_options: string; labels: string; created: string;
}

interface EndpointRow {
  container_id: string; network_id: string; container_name: string; endpoint_id: string; ip: string; mac: string;
  aliases: string; ifname: string; netns: string; netavark: string; created_seq: number;
}

const toNetwork = (r: NetworkRow): NetworkRecord => ({
  id: r.id, name: r.name, driver: r.driver as NetworkDriver, builtin: r.builtin === 1, bridge: r.bridge, subnet: r.subnet,
  gateway: r.gateway, ipRange: r.ip_range, internal: r.internal === 1, attachable: r.attachable === 1, dnsEnabled: r.dns_enabled === 1,
  options: JSON.parse(r.options), ipamOptions: JSON.parse(r.ipam_options), labels: JSON.parse(r.labels), created: r.created,
});

const toEndpoint = (r: EndpointRow): EndpointRecord => ({
  containerId: r.container_id, networkId: r.network_id, containerName: r.container_name, endpointId: r.endpoint_id, ip: r.ip,
  mac: r.mac, aliases: JSON.parse(r.aliases), ifname: r.ifname, netns: r.netns,
  netavark: r.netavark ? JSON.parse(r.netavark) as NetavarkOptions : undefined, seq: r.created_seq,
});

export class NetworkStore {
  private readonly statements = new Map<string, Database.Statement<unknown[]>>();

  constructor(readonly db: Db) {}

  /** Prepared once per SQL text: `ps` asks for every container's endpoints, and preparing costs more than running. */
  private prepare(sql: string): Database.Statement<unknown[]> {
    let st = this.statements.get(sql);
    if (!st) this.statements.set(sql, (st = this.db.prepare(sql)));
    return st;
  }

  list(): NetworkRecord[] {
    return (this.prepare('SELECT * FROM networks ORDER BY created').all() as NetworkRow[]).map(toNetwork);
  }

  byId(id: string): NetworkRecord | undefined {
    const r = this.prepare('SELECT * FROM networks WHERE id = ?').get(id) as NetworkRow | undefined;
    return r && toNetwork(r);
  }

  byName(name: string): NetworkRecord | undefined {
    const r = this.prepare('SELECT * FROM networks WHERE name = ?').get(name) as NetworkRow | undefined;
    return r && toNetwork(r);
  }

  insert(n: NetworkRecord): void {
    this.prepare(`INSERT INTO networks (id, name, driver, builtin, bridge, subnet, gateway, ip_range, internal, attachable,
      dns_enabled, options, ipam_options, labels, created) VALUES (@id, @name, @driver, @builtin, @bridge, @subnet, @gateway, @ip_range,
      @internal, @attachable, @dns_enabled, @options, @ipam_options, @labels, @created)`).run({
      id: n.id, name: n.name, driver: n.driver, builtin: n.builtin ? 1 : 0, bridge: n.bridge, subnet: n.subnet, gateway: n.gateway,
      ip_range: n.ipRange, internal: n.internal ? 1 : 0, attachable: n.attachable ? 1 : 0, dns_enabled: n.dnsEnabled ? 1 : 0,
      options: JSON.stringify(n.options), ipam_options: JSON.stringify(n.ipamOptions), labels: JSON.stringify(n.labels), created: n.created,
    });
  }

  updateAddressing(id: string, bridge: string, subnet: string, gateway: string): void {
    this.prepare('UPDATE networks SET bridge = ?, subnet = ?, gateway = ? WHERE id = ?').run(bridge, subnet, gateway, id);
  }

  delete(id: string): void {
    this.prepare('DELETE FROM networks WHERE id = ?').run(id);
  }

  endpointsOfNetwork(networkId: string): EndpointRecord[] {
    return (this.prepare('SELECT * FROM endpoints WHERE network_id = ? ORDER BY created_seq').all(networkId) as EndpointRow[]).map(toEndpoint);
  }

  endpointsOfContainer(containerId: string): EndpointRecord[] {
    return (this.prepare('SELECT * FROM endpoints WHERE container_id = ? ORDER BY created_seq').all(containerId) as EndpointRow[]).map(toEndpoint);
  }

  endpoint(containerId: string, networkId: string): EndpointRecord | undefined {
    const r = this.prepare('SELECT * FROM endpoints WHERE container_id = ? AND network_id = ?').get(containerId, networkId) as EndpointRow | undefined;
    return r && toEndpoint(r);
  }

  allEndpoints(): EndpointRecord[] {
    return (this.prepare('SELECT * FROM endpoints ORDER BY created_seq').all() as EndpointRow[]).map(toEndpoint);
  }

  insertEndpoint(e: EndpointRecord): void {
    this.prepare(`INSERT INTO endpoints (container_id, network_id, container_name, endpoint_id, ip, mac, aliases, ifname, netns, netavark, created_seq)
      VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, (SELECT COALESCE(MAX(created_seq), 0) + 1 FROM endpoints))`).run(
      e.containerId, e.networkId, e.containerName, e.endpointId, e.ip, e.mac, JSON.stringify(e.aliases), e.ifname, e.netns,
      e.netavark ? JSON.stringify(e.netavark) : '');
  }

  /** Record (or clear, with undefined) the options a setup used, with the interface and netns it went to. */
  markSetUp(containerId: string, networkId: string, ifname: string, netns: string, options: NetavarkOptions | undefined): void {
    this.prepare('UPDATE endpoints SET ifname = ?, netns = ?, netavark = ? WHERE container_id = ? AND network_id = ?')
      .run(ifname, netns, options ? JSON.stringify(options) : '', containerId, networkId);
  }

  renameContainer(containerId: string, name: string): void {
    this.prepare('UPDATE endpoints SET container_name = ? WHERE container_id = ?').run(name, containerId);
  }

  deleteEndpoint(containerId: string, networkId: string): void {
    this.prepare('DELETE FROM endpoints WHERE container_id = ? AND network_id = ?').run(containerId, networkId);
  }
}
