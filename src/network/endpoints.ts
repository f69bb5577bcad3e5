/**
 * The container side of networking: endpoints (a container's attachment to a network, with its leased
 * address) and their lifecycle around a network namespace.
 *
 *   prepare   lease addresses, record endpoints (container create / network connect)
 *   setup     run `netavark setup` per endpoint into the container's netns; store the exact options JSON
 *   teardown  run `netavark teardown` with the stored JSON (on a throwaway netns when the real one is gone)
 *   release   teardown if needed, then drop endpoints and leases (container removal / disconnect)
 *
 * Each endpoint is set up by its own netavark call: the first one (eth0) carries the published ports, so a
 * port is forwarded once, and a later connect/disconnect touches only its own network.
 */
import { forbidden, invalidArgument } from '../errors';
import { newId, shortId } from '../util/ids';
import type { Logger } from '../util/logger';
import { BridgeAnchors } from './bridge-anchor';
import { BerthFirewall, macFromIPv4 } from './firewall';
import { IpLeases, validatePlan, type AddressPlan } from './ipam';
import { networkFailure, type Netavark, type NetavarkNetwork, type NetavarkOptions, type NetavarkStatus } from './netavark';
import { mountPoints, type NetnsDir } from './netns';
import { PortLeases, type PortBinding, type PortRequest } from './ports';
import type { EndpointRecord, NetworkRecord, NetworkStore } from './store';

export interface EndpointRequest {
  network: NetworkRecord;
  aliases?: string[];
  /** --ip: a fixed address (user-defined networks only) */
  ip?: string;
  /** --mac-address: the interface's MAC instead of the one derived from the address */
  mac?: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

/** A MAC as given to --mac-address, lower-cased; dockerd's refusal wording for a malformed one. */
export function parseMac(mac: string): string {
  const m = mac.trim().toLowerCase().replace(/-/g, ':');
  if (!MAC_RE.test(m)) throw invalidArgument(`invalid MAC address: ${mac}`);
  if (parseInt(m.slice(0, 2), 16) & 1) throw invalidArgument(`invalid MAC address: ${mac}: a multicast address cannot be assigned to an interface`);
  return m;
}

export interface SetupResult {
  /** netavark's status blocks, merged by network name */
  status: NetavarkStatus;
  ports: PortBinding[];
  endpoints: EndpointRecord[];
}

export interface EndpointDeps {
  store: NetworkStore;
  leases: IpLeases;
  ports: PortLeases;
  netavark: Netavark;
  firewall: BerthFirewall;
  netns: NetnsDir;
  log: Logger;
}

/** The address plan of a bridge network record. */
export function planOf(n: NetworkRecord): AddressPlan {
  return validatePlan(n.subnet, n.gateway, n.ipRange || undefined);
}

/** The `network_info` entry sent for every container of `n` (always identical, isolate on every network). */
export function netavarkNetwork(n: NetworkRecord): NetavarkNetwork {
  const options: Record<string, string> = { isolate: 'true' };
  const mtu = n.options['com.docker.network.driver.mtu'];
  if (mtu) options.mtu = mtu;
  return {
    name: n.name, id: n.id, driver: 'bridge', network_interface: n.bridge,
    subnets: [{ subnet: n.subnet, gateway: n.gateway }],
    ipv6_enabled: false, internal: n.internal, dns_enabled: n.dnsEnabled, options,
  };
}

const isActive = (e: EndpointRecord) => e.netavark !== undefined;

export class EndpointManager {
  private readonly anchors: BridgeAnchors;

  constructor(private readonly d: EndpointDeps) {
    this.anchors = new BridgeAnchors({ netavark: d.netavark, netns: d.netns, log: d.log });
  }

  /** Lease addresses and record endpoints for `containerId`; existing endpoints are kept as they are. */
  prepare(containerId: string, containerName: string, requested: EndpointRequest[]): EndpointRecord[] {
    const { store, leases } = this.d;
    return store.db.transaction(() => {
      for (const req of requested) {
        const n = req.network;
        if (store.endpoint(containerId, n.id)) continue;
        const userDefined = !n.builtin;
        if (req.aliases?.length && !userDefined) throw invalidArgument('network-scoped alias is supported only for containers in user defined networks');
        if (req.ip && !userDefined) throw invalidArgument('user specified IP address is supported on user defined networks only');
        let ip = '';
        let mac = '';
        if (n.driver === 'bridge') {
          const fixedMac = req.mac ? parseMac(req.mac) : '';
          ip = leases.lease(n.id, planOf(n), containerId, req.ip);
          mac = fixedMac || macFromIPv4(ip);
        }
        const aliases = [...new Set((req.aliases ?? []).filter((a) => a && a !== containerName))];
        store.insertEndpoint({
          containerId, networkId: n.id, containerName, endpointId: newId(), ip, mac, aliases, ifname: '', netns: '', seq: 0,
        });
      }
      return store.endpointsOfContainer(containerId);
    })();
  }

  /**
   * Set up every endpoint of the container that is not set up yet, into `netnsPath`. `ports` are leased (all or
   * nothing) and forwarded through the first endpoint. On failure, what was done is undone.
   */
  async setup(containerId: string, netnsPath: string, ports: PortRequest[] = []): Promise<SetupResult> {
    const { store } = this.d;
    const all = store.endpointsOfContainer(containerId);
    const firstSetup = !all.some(isActive);
    const bindings = firstSetup && ports.length > 0 ? await this.d.ports.allocate(containerId, ports) : this.d.ports.of(containerId);
    const done: EndpointRecord[] = [];
    const status: NetavarkStatus = {};
    try {
      for (const e of all) {
        if (isActive(e)) continue;
        const n = store.byId(e.networkId);
        if (!n) throw forbidden(`network ${e.networkId} not found`);
        const withPorts = firstSetup && done.length === 0 && n.driver === 'bridge' ? bindings : [];
        const result = await this.setupOne(e, n, netnsPath, withPorts);
        Object.assign(status, result);
        done.push(e);
      }
    } catch (err) {
      for (const e of done.reverse()) await this.teardownOne(store.endpoint(e.containerId, e.networkId) ?? e);
      if (firstSetup) this.d.ports.release(containerId);
      throw networkFailure(err);
    }
    return { status, ports: bindings, endpoints: store.endpointsOfContainer(containerId) };
  }

  /** Set up one endpoint (network connect on a running container, or one step of `setup`). */
  async setupOne(e: EndpointRecord, n: NetworkRecord, netnsPath: string, ports: PortBinding[] = []): Promise<NetavarkStatus> {
    const { store, firewall } = this.d;
    if (n.driver !== 'bridge') {
      store.markSetUp(e.containerId, e.networkId, '', netnsPath, { container_id: e.containerId, container_name: e.containerName, networks: {}, network_info: {} });
      return {};
    }
    const used = new Set(store.endpointsOfContainer(e.containerId).filter(isActive).map((x) => x.ifname));
    let i = 0;
    while (used.has(`eth${i}`)) i++;
    const ifname = `eth${i}`;
    const options: NetavarkOptions = {
      container_id: e.containerId,
      container_name: e.containerName,
      networks: { [n.name]: { interface_name: ifname, static_ips: [e.ip], aliases: [...e.aliases, shortId(e.containerId)], static_mac: e.mac } },
      network_info: { [n.name]: netavarkNetwork(n) },
    };
    if (ports.length > 0) {
      options.port_mappings = ports.map((p) => ({ host_ip: p.hostIp, container_port: p.containerPort, host_port: p.hostPort, protocol: p.protocol, range: 1 }));
    }
    const status = await this.d.netavark.setup(netnsPath, options);
    store.markSetUp(e.containerId, e.networkId, ifname, netnsPath, options);
    await firewall.pinBridgeMac(n.bridge, macFromIPv4(n.gateway));
    await this.anchors.keep(n);
    await firewall.hairpinOn(netnsPath, ifname);
    if (ports.length > 0) await firewall.allowPublished(n.subnet);
    return status;
  }

  /** Tear down one endpoint with the options its setup used; tolerant of a vanished netns or interface. */
  async teardownOne(e: EndpointRecord): Promise<void> {
    const { store } = this.d;
    const options = e.netavark;
    if (!options) return;
    if (Object.keys(options.networks).length > 0) {
      const run = (file: string) => this.d.netavark.teardown(file, options).catch((err: Error) => {
        this.d.log.debug('netavark teardown reported', { container: e.containerId.slice(0, 12), error: err.message });
      });
      const present = e.netns !== '' && (await mountPoints()).has(e.netns);
      if (present) await run(e.netns);
      else await this.d.netns.withThrowaway(run, Object.values(options.networks).map((n) => n.interface_name));
    }
    store.markSetUp(e.containerId, e.networkId, '', '', undefined);
    const n = store.byId(e.networkId);
    if (n?.driver === 'bridge' && options.port_mappings?.length && !store.endpointsOfNetwork(n.id).some((x) => x.netavark?.port_mappings?.length)) {
      await this.d.firewall.forget(n.subnet);
    }
  }

  /** Tear down every endpoint of the container (stop / exit) and free its host ports. Addresses stay leased. */
  async teardown(containerId: string): Promise<void> {
    for (const e of this.d.store.endpointsOfContainer(containerId).reverse()) await this.teardownOne(e);
    this.d.ports.release(containerId);
  }

  /** Drop one endpoint (disconnect): teardown when set up, then its lease and record. */
  async releaseOne(containerId: string, networkId: string): Promise<void> {
    const e = this.d.store.endpoint(containerId, networkId);
    if (!e) return;
    await this.teardownOne(e);
    this.d.leases.release(networkId, containerId);
    this.d.store.deleteEndpoint(containerId, networkId);
  }

  /** Drop every endpoint of a container (container removal). */
  async release(containerId: string): Promise<void> {
    await this.teardown(containerId);
    for (const e of this.d.store.endpointsOfContainer(containerId)) this.d.store.deleteEndpoint(containerId, e.networkId);
    this.d.leases.releaseAll(containerId);
  }

  /**
   * After a daemon start: endpoints that are set up for containers that are not running are torn down
   * (throwaway netns when theirs is gone); endpoints of containers that no longer exist are released.
   */
  async gc(liveContainerIds: Iterable<string>, existingContainerIds?: Iterable<string>): Promise<void> {
    const live = new Set(liveContainerIds);
    const existing = existingContainerIds ? new Set(existingContainerIds) : undefined;
    const seen = new Set<string>();
    for (const e of this.d.store.allEndpoints()) {
      if (seen.has(e.containerId) || live.has(e.containerId)) continue;
      seen.add(e.containerId);
      if (existing && !existing.has(e.containerId)) await this.release(e.containerId);
      else await this.teardown(e.containerId);
    }
    await this.releaseIdleNetworks();
    const activeNetns = new Set(this.d.store.allEndpoints().filter(isActive).map((e) => e.netns));
    for (const name of await this.d.netns.list()) {
      const file = this.d.netns.pathFor(name);
      const owner = name.startsWith('gc-') ? undefined : name;
      if (!activeNetns.has(file) && (owner === undefined || !live.has(owner))) await this.d.netns.remove(file);
    }
  }

  /** Delete the bridge and chains of a network that is being removed (see bridge-anchor.ts). */
  releaseNetwork(n: NetworkRecord): Promise<void> {
    return n.driver === 'bridge' ? this.anchors.release(n, netavarkNetwork(n)) : Promise.resolve();
  }

  /** Daemon start and stop: bridges of networks without a set-up endpoint go (they come back on demand). */
  async releaseIdleNetworks(): Promise<void> {
    for (const n of this.d.store.list()) {
      if (n.driver !== 'bridge' || this.d.store.endpointsOfNetwork(n.id).some(isActive)) continue;
      if (await this.anchors.present(n)) await this.releaseNetwork(n);
    }
  }

}
