/**
 * Networks: the builtin `bridge`, `host` and `none`, user-defined bridge networks (netavark + aardvark-dns,
 * names resolve on them), and the container-facing side (endpoints, netns, setup/teardown, published ports)
 * that container create/start/stop call. Filters and request parsing live in networks-*.ts helpers below.
 */
import { readFile, readdir } from 'node:fs/promises';
import * as path from 'node:path';
import { forbidden, invalidArgument, notFound } from '../errors';
import { EndpointManager, type EndpointRequest, type SetupResult } from '../network/endpoints';
import { runTool } from '../network/exec';
import { BerthFirewall } from '../network/firewall';
import { IpLeases, formatCidr, formatIPv4, parseCidr } from '../network/ipam';
import { DEFAULT_LOCK_FILE, Netavark } from '../network/netavark';
import { NetnsDir } from '../network/netns';
import { createNetworkRecord, matchNetwork, type NetworkCreateRequest } from '../network/create';
import { PortLeases, type PortBinding, type PortRequest } from '../network/ports';
import { resolvConfForNetworks } from '../network/resolv';
import { NetworkStore, type EndpointRecord, type NetworkRecord } from '../network/store';
import { endpointSettings, networkView, type NetworkView } from '../network/views';
import type { Filters } from '../api/http-util';
import type { Db } from '../store/db';
import { newId } from '../util/ids';
import type { Logger } from '../util/logger';
import type { EventLog } from './events';

export type { NetworkCreateRequest } from '../network/create';

/** What network connect/disconnect need to know about containers (implemented by the container service). */
export interface ContainerNetworkHooks {
  /** a container by name or ID; throws NotFound ("No such container: x") */
  resolve(ref: string): Promise<{ id: string; name: string; running: boolean; netnsPath?: string; networkMode: string }>;
  /** the container's endpoints changed (refresh its NetworkSettings, hosts, resolv.conf) */
  changed?(containerId: string): Promise<void> | void;
}

export interface NetworkServiceDeps {
  execRoot: string;
  db: Db;
  events: EventLog;
  log: Logger;
  /** --bip: gateway/prefix of the default bridge (default 10.199.0.1/16) */
  bip?: string;
  /** interface name of the default bridge (default berth0) */
  bridgeName?: string;
  /** where user networks get their subnets from (default 10.200.0.0/16, /24 each) */
  pool?: string;
  poolPrefix?: number;
  lockFile?: string;
  netavarkBinary?: string;
  aardvarkBinary?: string;
  firewallChain?: string;
  containers?: ContainerNetworkHooks;
}

export const LIST_FILTERS = ['dangling', 'driver', 'id', 'label', 'name', 'scope', 'type'] as const;
export const PRUNE_FILTERS = ['until', 'label', 'label!'] as const;

/** A requested attachment, by network name or ID ("default" is the bridge). */
export interface AttachRequest {
  network: string;
  aliases?: string[];
  ip?: string;
  /** --mac-address */
  mac?: string;
}

export class NetworkService {
  readonly store: NetworkStore;
  readonly netavark: Netavark;
  readonly firewall: BerthFirewall;
  readonly netns: NetnsDir;
  readonly ports: PortLeases;
  private readonly endpoints: EndpointManager;
  private readonly leases: IpLeases;
  private hooks?: ContainerNetworkHooks;

  constructor(private readonly d: NetworkServiceDeps) {
    this.store = new NetworkStore(d.db);
    this.leases = new IpLeases(d.db);
    this.ports = new PortLeases(d.db);
    const lockFile = d.lockFile ?? DEFAULT_LOCK_FILE;
    const log = d.log;
    this.netavark = new Netavark({ configDir: path.join(d.execRoot, 'netavark'), binary: d.netavarkBinary, aardvarkBinary: d.aardvarkBinary, lockFile, log });
    this.firewall = new BerthFirewall({ lockFile, chain: d.firewallChain, log });
    this.netns = new NetnsDir(path.join(d.execRoot, 'netns'));
    this.endpoints = new EndpointManager({ store: this.store, leases: this.leases, ports: this.ports, netavark: this.netavark, firewall: this.firewall, netns: this.netns, log });
    this.hooks = d.containers;
    this.ensureBuiltins();
  }

  /** Late wiring: the container service is built after this one. */
  setContainerHooks(hooks: ContainerNetworkHooks): void {
    this.hooks = hooks;
  }

  private ensureBuiltins(): void {
    const bip = parseCidr(this.d.bip ?? '10.199.0.1/16');
    const gateway = formatIPv4(this.d.bip ? parseCidr(`${this.d.bip.split('/')[0]}/32`).base : bip.base + 1);
    const subnet = formatCidr(bip);
    const bridgeName = this.d.bridgeName ?? 'berth0';
    const created = new Date().toISOString();
    const base = { builtin: true, ipRange: '', internal: false, attachable: false, ipamOptions: {}, labels: {}, created };
    this.d.db.transaction(() => {
      const existing = this.store.byName('bridge');
      if (!existing) {
        this.store.insert({
          ...base, id: newId(), name: 'bridge', driver: 'bridge', bridge: bridgeName, subnet, gateway, dnsEnabled: false,
          options: {
            'com.docker.network.bridge.default_bridge': 'true', 'com.docker.network.bridge.enable_icc': 'true',
            'com.docker.network.bridge.enable_ip_masquerade': 'true', 'com.docker.network.bridge.host_binding_ipv4': '0.0.0.0',
            'com.docker.network.bridge.name': bridgeName, 'com.docker.network.driver.mtu': '1500',
          },
        });
      } else if ((existing.subnet !== subnet || existing.gateway !== gateway || existing.bridge !== bridgeName) && this.store.endpointsOfNetwork(existing.id).length === 0) {
        this.store.updateAddressing(existing.id, bridgeName, subnet, gateway);
      }
      if (!this.store.byName('host')) this.store.insert({ ...base, id: newId(), name: 'host', driver: 'host', bridge: '', subnet: '', gateway: '', dnsEnabled: false, options: {} });
      if (!this.store.byName('none')) this.store.insert({ ...base, id: newId(), name: 'none', driver: 'null', bridge: '', subnet: '', gateway: '', dnsEnabled: false, options: {} });
    })();
  }

  // --- API side -------------------------------------------------------------------------------------

  /** A network by exact name, exact ID, or unique ID prefix. */
  find(ref: string): NetworkRecord {
    const byName = this.store.byName(ref) ?? this.store.byId(ref);
    if (byName) return byName;
    const matches = ref.length > 0 && /^[0-9a-f]+$/.test(ref) ? this.store.list().filter((n) => n.id.startsWith(ref)) : [];
    if (matches.length === 1) return matches[0];
    if (matches.length > 1) throw invalidArgument(`network ${ref} is ambiguous (${matches.length} matches found based on ID prefix)`);
    throw notFound(`network ${ref} not found`);
  }

  private activeEndpoints(networkId: string): EndpointRecord[] {
    return this.store.endpointsOfNetwork(networkId).filter((e) => e.netavark !== undefined);
  }

  inspect(ref: string): NetworkView {
    const n = this.find(ref);
    return networkView(n, this.activeEndpoints(n.id));
  }

  list(filters: Filters = new Map()): NetworkView[] {
    return this.store.list()
      .filter((n) => matchNetwork(n, filters, this.activeEndpoints(n.id).length > 0))
      .map((n) => networkView(n, []));
  }

  async create(req: NetworkCreateRequest): Promise<{ Id: string; Warning: string }> {
    const routes = await routedSubnets();
    const record = createNetworkRecord(req, {
      existing: this.store.list(), routes, pool: parseCidr(this.d.pool ?? '10.200.0.0/16'), poolPrefix: this.d.poolPrefix ?? 24,
      hostLinks: await hostLinks(),
    });
    this.store.insert(record);
    this.d.events.emit('network', 'create', record.id, { name: record.name, type: record.driver });
    return { Id: record.id, Warning: '' };
  }

  async remove(ref: string): Promise<void> {
    const n = this.find(ref);
    if (n.builtin) throw forbidden(`${n.name} is a pre-defined network and cannot be removed`);
    const active = this.activeEndpoints(n.id);
    if (active.length > 0) {
      const list = active.map((e) => `name:${JSON.stringify(e.containerName)} id:${JSON.stringify(e.containerId.slice(0, 12))}`).join(', ');
      throw forbidden(`error while removing network: network ${n.name} has active endpoints (${list})`);
    }
    this.store.delete(n.id);
    await this.endpoints.releaseNetwork(n);
    await this.firewall.forget(n.subnet);
    this.d.events.emit('network', 'destroy', n.id, { name: n.name, type: n.driver });
  }

  async prune(filters: Filters = new Map()): Promise<{ NetworksDeleted: string[] }> {
    const deleted: string[] = [];
    for (const n of this.store.list()) {
      if (n.builtin || this.activeEndpoints(n.id).length > 0 || !matchNetwork(n, filters, false)) continue;
      await this.remove(n.id);
      deleted.push(n.name);
    }
    return { NetworksDeleted: deleted };
  }

  private requireHooks(): ContainerNetworkHooks {
    if (!this.hooks) throw forbidden('network connect is not available: no container service');
    return this.hooks;
  }

  /** POST /networks/{id}/connect */
  async connect(ref: string, containerRef: string, config: { aliases?: string[]; ip?: string } = {}): Promise<void> {
    const n = this.find(ref);
    const c = await this.requireHooks().resolve(containerRef);
    if (n.driver !== 'bridge' || c.networkMode === 'host' || c.networkMode === 'none') {
      throw forbidden('container cannot be disconnected from host network or connected to host network');
    }
    if (c.networkMode.startsWith('container:')) throw forbidden('container sharing network namespace with another container or host cannot be connected to any other network');
    if (this.store.endpoint(c.id, n.id)) throw forbidden(`endpoint with name ${c.name} already exists in network ${n.name}`);
    this.endpoints.prepare(c.id, c.name, [{ network: n, aliases: config.aliases, ip: config.ip }]);
    if (c.running && c.netnsPath) {
      const e = this.store.endpoint(c.id, n.id)!;
      try {
        await this.endpoints.setupOne(e, n, c.netnsPath);
      } catch (err) {
        await this.endpoints.releaseOne(c.id, n.id);
        throw err;
      }
    }
    await this.hooks?.changed?.(c.id);
    this.d.events.emit('network', 'connect', n.id, { container: c.id, name: n.name, type: n.driver });
  }

  /** POST /networks/{id}/disconnect */
  async disconnect(ref: string, containerRef: string, force = false): Promise<void> {
    const n = this.find(ref);
    const c = await this.requireHooks().resolve(containerRef);
    if (n.driver !== 'bridge') throw forbidden('container cannot be disconnected from host network or connected to host network');
    if (!this.store.endpoint(c.id, n.id)) {
      if (force) return;
      throw forbidden(`container ${c.id} is not connected to network ${n.name}`);
    }
    await this.endpoints.releaseOne(c.id, n.id);
    await this.hooks?.changed?.(c.id);
    this.d.events.emit('network', 'disconnect', n.id, { container: c.id, name: n.name, type: n.driver });
  }

  // --- container side -------------------------------------------------------------------------------

  /** Resolve requested networks ("default" = bridge) and lease addresses; returns all the container's endpoints. */
  prepareEndpoints(containerId: string, containerName: string, requested: AttachRequest[]): EndpointRecord[] {
    const reqs: EndpointRequest[] = requested.map((r) => ({
      network: this.find(r.network === 'default' ? 'bridge' : r.network), aliases: r.aliases, ip: r.ip, mac: r.mac,
    }));
    return this.endpoints.prepare(containerId, containerName.replace(/^\//, ''), reqs);
  }

  /** A fresh network namespace for the container at <exec-root>/netns/<id>. */
  createNetns(containerId: string): Promise<string> {
    return this.netns.create(containerId);
  }

  removeNetns(file: string): Promise<void> {
    return this.netns.remove(file);
  }

  /** netavark setup of every endpoint not yet set up; `ports` are leased and published on the first one. */
  setup(containerId: string, netnsPath: string, ports: PortRequest[] = []): Promise<SetupResult> {
    return this.endpoints.setup(containerId, netnsPath, ports);
  }

  /** Undo setup (container stop/exit): works even when the netns is already gone. Addresses stay leased. */
  teardown(containerId: string): Promise<void> {
    return this.endpoints.teardown(containerId);
  }

  /** Drop all endpoints and leases of a removed container (tears down first if needed). */
  releaseEndpoints(containerId: string): Promise<void> {
    return this.endpoints.release(containerId);
  }

  /** Endpoints of a container, in attachment order. */
  endpointsOf(containerId: string): EndpointRecord[] {
    return this.store.endpointsOfContainer(containerId);
  }

  /** `NetworkSettings.Networks` of the container, keyed by network name. */
  endpointSettings(containerId: string): Record<string, Record<string, unknown>> {
    const out: Record<string, Record<string, unknown>> = {};
    for (const e of this.store.endpointsOfContainer(containerId)) {
      const n = this.store.byId(e.networkId);
      if (n) out[n.name] = endpointSettings(n, e);
    }
    return out;
  }

  /** endpointSettings of every container at once (one read for a whole list). */
  endpointSettingsByContainer(): Map<string, Record<string, Record<string, unknown>>> {
    const nets = new Map(this.store.list().map((n) => [n.id, n]));
    const out = new Map<string, Record<string, Record<string, unknown>>>();
    for (const e of this.store.allEndpoints()) {
      const n = nets.get(e.networkId);
      if (!n) continue;
      let row = out.get(e.containerId);
      if (!row) out.set(e.containerId, (row = {}));
      row[n.name] = endpointSettings(n, e);
    }
    return out;
  }

  /** Host ports currently leased by the container. */
  portBindings(containerId: string): PortBinding[] {
    return this.ports.of(containerId);
  }

  allocatePorts(containerId: string, requests: PortRequest[]): Promise<PortBinding[]> {
    return this.ports.allocate(containerId, requests);
  }

  releasePorts(containerId: string): void {
    this.ports.release(containerId);
  }

  /**
   * resolv.conf text when the container is on a DNS-enabled network (aardvark on each gateway), else
   * undefined: the caller keeps its host-derived default (the default bridge has no name resolution).
   */
  async resolvConf(containerId: string, extra: { dns?: string[]; search?: string[]; options?: string[] } = {}): Promise<string | undefined> {
    const servers: string[] = [];
    for (const e of this.store.endpointsOfContainer(containerId)) {
      const n = this.store.byId(e.networkId);
      if (n?.dnsEnabled && n.gateway) servers.push(n.gateway);
    }
    if (servers.length === 0) return undefined;
    const host = await readFile('/etc/resolv.conf', 'utf8').catch(() => '');
    return resolvConfForNetworks(host, servers, extra);
  }

  renameContainer(containerId: string, name: string): void {
    this.store.renameContainer(containerId, name.replace(/^\//, ''));
  }

  /** Daemon start: tear down what belongs to containers that are not running; drop what belongs to removed ones. */
  gcOnStartup(liveContainerIds: Iterable<string>, existingContainerIds?: Iterable<string>): Promise<void> {
    return this.endpoints.gc(liveContainerIds, existingContainerIds);
  }

  /** Daemon stop: bridges of networks without running containers are deleted (kept while berthd runs). */
  shutdown(): Promise<void> {
    return this.endpoints.releaseIdleNetworks();
  }

  /** Networks a container is attached to, by name (for `docker ps --filter network=`). */
  networkNamesOf(containerId: string): string[] {
    return this.store.endpointsOfContainer(containerId).map((e) => this.store.byId(e.networkId)?.name ?? '').filter(Boolean);
  }
}

async function routedSubnets(): Promise<string> {
  return (await runTool('ip', ['-4', 'route', 'show', 'table', 'all'])).stdout;
}

async function hostLinks(): Promise<string[]> {
  return readdir('/sys/class/net').catch(() => []);
}
