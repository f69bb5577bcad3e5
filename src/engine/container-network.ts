/**
 * A container's networking, on top of the NetworkService. Network modes as dockerd has them:
 *
 *   default/bridge, <user network>   endpoints leased at create; at start a netns <exec-root>/netns/<id>,
 *                                    netavark setup (published ports on the first endpoint), teardown at exit
 *   none                             a netns with only `lo` (up)
 *   host                             no network and no UTS namespace; the host's hosts/resolv.conf
 *   container:<id>                   the other container's netns and its /etc files
 *
 * It also writes the container's /etc/hosts and /etc/resolv.conf as Docker does and builds NetworkSettings.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import * as os from 'node:os';
import * as path from 'node:path';
import { conflict, errorMessage, invalidArgument, isNotFound } from '../errors';
import { hostPortFree, type PortBinding, type PortProtocol, type PortRequest } from '../network/ports';
import { containerResolvConf } from '../runtime/etc-files';
import type { Logger } from '../util/logger';
import { linkHostsLines, resolveLinks, type LinkedContainer } from './container-links';
import type { ContainerConfigRecord, ContainerRecord, HostConfigRecord } from './containers-store';
import type { AttachRequest, ContainerNetworkHooks, NetworkService } from './networks';

const HOSTS_HEAD = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\nff02::1\tip6-allnodes\nff02::2\tip6-allrouters\n';

interface EndpointConfig { Aliases?: string[] | null; IPAMConfig?: { IPv4Address?: string } | null; MacAddress?: string }
interface PortBindingRequest { HostIp?: string; HostPort?: string }

export interface ContainerLookup {
  get(ref: string): ContainerRecord;
  dir(id: string): string;
}

const isUp = (c: ContainerRecord) => ['running', 'paused', 'restarting'].includes(c.state.status);

/** `default` and `bridge` both mean the default bridge network. */
export function networkModeOf(hc: HostConfigRecord): string {
  const m = hc.NetworkMode || 'default';
  return m === 'default' ? 'bridge' : m;
}

function parsePortKey(key: string): { port: number; protocol: PortProtocol } {
  const [p, proto = 'tcp'] = key.split('/');
  const port = Number(p);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw invalidArgument(`invalid containerPort: ${p}`);
  if (!['tcp', 'udp', 'sctp'].includes(proto)) throw invalidArgument(`invalid proto: ${proto}`);
  return { port, protocol: proto as PortProtocol };
}

/** Published ports of a container: HostConfig.PortBindings, plus every exposed port with `-P`. */
export async function portRequests(config: ContainerConfigRecord, hc: HostConfigRecord): Promise<PortRequest[]> {
  const bindings = (hc.PortBindings as Record<string, PortBindingRequest[] | null> | null | undefined) ?? {};
  const out: PortRequest[] = [];
  for (const [key, list] of Object.entries(bindings)) {
    const { port, protocol } = parsePortKey(key);
    for (const b of list ?? [{}]) {
      const hostIp = b.HostIp === '0.0.0.0' ? '' : b.HostIp ?? '';
      const [lo, hi] = (b.HostPort ?? '').split('-').map((x) => (x ? Number(x) : 0));
      let hostPort = lo;
      if (hi && hi > lo) {
        // a host port range: the first free port of it
        hostPort = 0;
        for (let p = lo; p <= hi && hostPort === 0; p++) if (!out.some((o) => o.hostPort === p) && await hostPortFree(hostIp, p, protocol)) hostPort = p;
        if (hostPort === 0) throw conflict(`Bind for ${hostIp || '0.0.0.0'}:${b.HostPort} failed: port is already allocated`);
      }
      if (!Number.isInteger(hostPort) || hostPort < 0 || hostPort > 65535) throw invalidArgument(`invalid hostPort: ${b.HostPort}`);
      out.push({ hostIp, hostPort, containerPort: port, protocol });
    }
  }
  if (hc.PublishAllPorts) {
    for (const key of Object.keys(config.ExposedPorts ?? {})) {
      if (bindings[key]?.length) continue;
      const { port, protocol } = parsePortKey(key);
      out.push({ hostIp: '', hostPort: 0, containerPort: port, protocol });
    }
  }
  return out;
}

/** `NetworkSettings.Ports`: every exposed or published port, with its host bindings while running. */
export function portsView(config: ContainerConfigRecord, hc: HostConfigRecord, bound: PortBinding[]): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  const keys = new Set([...Object.keys(config.ExposedPorts ?? {}), ...Object.keys((hc.PortBindings as object | null | undefined) ?? {})]);
  for (const k of keys) out[k.includes('/') ? k : `${k}/tcp`] = null;
  for (const b of bound) {
    const key = `${b.containerPort}/${b.protocol}`;
    (out[key] ??= []);
    out[key]!.push({ HostIp: b.hostIp || '0.0.0.0', HostPort: String(b.hostPort) });
  }
  return out;
}

/** The `Ports` of a `GET /containers/json` entry. */
export function portsSummary(ports: Record<string, { HostIp: string; HostPort: string }[] | null>): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  for (const [key, list] of Object.entries(ports)) {
    const [p, type] = key.split('/');
    if (!list || list.length === 0) out.push({ PrivatePort: Number(p), Type: type });
    else for (const b of list) out.push({ IP: b.HostIp, PrivatePort: Number(p), PublicPort: Number(b.HostPort), Type: type });
  }
  return out;
}

function resolvWithOverrides(base: string, hc: HostConfigRecord): string {
  const dns = (hc.Dns as string[] | null | undefined) ?? [];
  const search = (hc.DnsSearch as string[] | null | undefined) ?? [];
  const options = (hc.DnsOptions as string[] | null | undefined) ?? [];
  let lines = base.split('\n').filter((l) => l.trim() !== '');
  if (dns.length) lines = [...dns.map((d) => `nameserver ${d}`), ...lines.filter((l) => !/^\s*nameserver\s/.test(l))];
  if (search.length) lines = [...lines.filter((l) => !/^\s*(search|domain)\s/.test(l)), `search ${search.join(' ')}`];
  if (options.length) lines = [...lines.filter((l) => !/^\s*options\s/.test(l)), `options ${options.join(' ')}`];
  return lines.join('\n') + '\n';
}

export class ContainerNetworking {
  constructor(private readonly networks: NetworkService, private readonly containers: ContainerLookup, private readonly log: Logger) {}

  /**
   * Create time: check the mode and lease endpoints. Adjusts the records in place: `container:<name>` becomes
   * `container:<full id>` and takes that container's hostname; host mode takes the host's hostname.
   */
  prepare(id: string, name: string, config: ContainerConfigRecord, hc: HostConfigRecord, networking: unknown, userHostname?: string): void {
    try {
      this.prepareMode(id, name, config, hc, networking, userHostname);
    } catch (err) {
      // a 404 from create makes the docker CLI pull the image and retry: a missing network/container is a bad request here
      if (isNotFound(err)) throw invalidArgument(errorMessage(err));
      throw err;
    }
  }

  private prepareMode(id: string, name: string, config: ContainerConfigRecord, hc: HostConfigRecord, networking: unknown, userHostname?: string): void {
    const mode = networkModeOf(hc);
    const endpoints = ((networking as { EndpointsConfig?: Record<string, EndpointConfig | null> } | null | undefined)?.EndpointsConfig) ?? {};
    if (mode.startsWith('container:')) {
      const target = this.containers.get(mode.slice('container:'.length));
      if (target.id === id) throw invalidArgument('cannot join own network');
      if (userHostname) throw invalidArgument('conflicting options: hostname and the network mode');
      if (endpoints[mode]?.MacAddress || (config as { MacAddress?: string }).MacAddress) throw invalidArgument('conflicting options: mac-address and the network mode');
      if (hc.PortBindings && Object.keys(hc.PortBindings).length) throw invalidArgument('conflicting options: port publishing and the container type network mode');
      hc.NetworkMode = `container:${target.id}`;
      config.Hostname = target.config.Hostname;
      return;
    }
    if (mode === 'host') {
      if (!userHostname) config.Hostname = os.hostname();
      if (hc.PortBindings && Object.keys(hc.PortBindings).length) hc.PortBindings = {};
    }
    const requested: AttachRequest[] = [];
    const first = endpoints[mode] ?? (mode === 'bridge' ? endpoints.default : undefined);
    // --mac-address: API ≥ 1.44 sends it in the first endpoint, older clients in Config.MacAddress
    const mac = first?.MacAddress || (config as { MacAddress?: string }).MacAddress || undefined;
    if (mac && mode === 'host') throw invalidArgument('conflicting options: mac-address and the network mode');
    requested.push({ network: mode, aliases: first?.Aliases ?? undefined, ip: first?.IPAMConfig?.IPv4Address || undefined, mac: mode === 'none' ? undefined : mac });
    for (const [net, ep] of Object.entries(endpoints)) {
      if (net === mode || (mode === 'bridge' && net === 'default')) continue;
      if (mode === 'host' || mode === 'none') throw invalidArgument(`container cannot be connected to multiple networks with one of the networks in ${mode} mode`);
      requested.push({ network: net, aliases: ep?.Aliases ?? undefined, ip: ep?.IPAMConfig?.IPv4Address || undefined, mac: ep?.MacAddress || undefined });
    }
    this.networks.prepareEndpoints(id, name, requested);
  }

  /** The netns file of a running container in bridge/none mode (what `container:<id>` joins). */
  netnsOf(c: ContainerRecord): string | undefined {
    const mode = networkModeOf(c.hostConfig);
    if (mode === 'host') return undefined;
    if (mode.startsWith('container:')) return this.netnsOf(this.containers.get(mode.slice('container:'.length)));
    if (mode === 'none') return c.state.pid > 0 ? `/proc/${c.state.pid}/ns/net` : undefined;
    return this.networks.netns.pathFor(c.id);
  }

  /** Start time, after the spec is built: set up the network and point the spec at it; write hosts/resolv.conf. */
  async join(c: ContainerRecord, spec: Record<string, unknown>): Promise<void> {
    const linux = spec.linux as { namespaces: { type: string; path?: string }[] };
    const setNetns = (p?: string) => {
      linux.namespaces = linux.namespaces.filter((n) => n.type !== 'network');
      if (p) linux.namespaces.push({ type: 'network', path: p });
    };
    const mode = networkModeOf(c.hostConfig);
    const dir = this.containers.dir(c.id);
    if (mode === 'host') {
      setNetns(undefined);
      linux.namespaces = linux.namespaces.filter((n) => n.type !== 'uts');
      delete spec.hostname;
      await this.networks.setup(c.id, '', []);
      const hosts = await readFile('/etc/hosts', 'utf8').catch(() => HOSTS_HEAD);
      await writeFile(path.join(dir, 'hosts'), hosts + this.extraHosts(c, ''), { mode: 0o644 });
      await writeFile(path.join(dir, 'resolv.conf'), resolvWithOverrides(await readFile('/etc/resolv.conf', 'utf8').catch(() => ''), c.hostConfig), { mode: 0o644 });
      return;
    }
    if (mode.startsWith('container:')) {
      const target = this.containers.get(mode.slice('container:'.length));
      if (!isUp(target)) throw conflict(`cannot join network namespace of a non running container: container ${target.id} is ${target.state.status}`);
      const netns = this.netnsOf(target);
      setNetns(netns);
      if (!netns) {
        linux.namespaces = linux.namespaces.filter((n) => n.type !== 'uts');
        delete spec.hostname;
      }
      const from = this.containers.dir(target.id);
      for (const f of ['hosts', 'resolv.conf', 'hostname']) await copyFile(path.join(from, f), path.join(dir, f)).catch(() => undefined);
      return;
    }
    if (mode === 'none') {
      // no file to pin: the runtime makes the namespace and brings `lo` up (runc and crun both do)
      setNetns(undefined);
      linux.namespaces.push({ type: 'network' });
      await this.networks.setup(c.id, '', []);
      await this.writeEtcFiles(c);
      return;
    }
    const netns = await this.networks.createNetns(c.id);
    try {
      await this.networks.setup(c.id, netns, await portRequests(c.config, c.hostConfig));
    } catch (err) {
      await this.networks.removeNetns(netns).catch(() => undefined);
      throw err;
    }
    setNetns(netns);
    await this.writeEtcFiles(c);
  }

  private extraHosts(c: ContainerRecord, gateway: string): string {
    const lines: string[] = [];
    for (const h of (c.hostConfig.ExtraHosts as string[] | null | undefined) ?? []) {
      // "name:ip" (the CLI also accepts "name=ip"); host-gateway is the gateway of the first network
      const sep = h.includes('=') ? h.indexOf('=') : h.indexOf(':');
      if (sep < 0) continue;
      const ip = h.slice(sep + 1);
      lines.push(`${ip === 'host-gateway' ? gateway : ip}\t${h.slice(0, sep)}`);
    }
    return lines.map((l) => `${l}\n`).join('');
  }

  /** hosts and resolv.conf for bridge/none containers (also after connect/disconnect). */
  async writeEtcFiles(c: ContainerRecord): Promise<void> {
    const dir = this.containers.dir(c.id);
    const eps = this.networks.endpointsOf(c.id).filter((e) => e.ip && e.netavark);
    const first = eps[0];
    const gateway = first ? this.networks.store.byId(first.networkId)?.gateway ?? '' : '';
    const { Hostname: hostname, Domainname: domain } = c.config;
    const names = domain ? `${hostname}.${domain} ${hostname}` : hostname;
    const own = first ? `${first.ip}\t${names}\n` : '';
    const links = linkHostsLines(this.linked(c));
    await writeFile(path.join(dir, 'hosts'), HOSTS_HEAD + this.extraHosts(c, gateway) + links + own, { mode: 0o644 });
    const hc = c.hostConfig;
    const viaAardvark = await this.networks.resolvConf(c.id, {
      search: (hc.DnsSearch as string[] | null | undefined) ?? undefined, options: (hc.DnsOptions as string[] | null | undefined) ?? undefined,
    });
    const text = viaAardvark ?? resolvWithOverrides(containerResolvConf(await readFile('/etc/resolv.conf', 'utf8').catch(() => '')), hc);
    await writeFile(path.join(dir, 'resolv.conf'), text, { mode: 0o644 });
  }

  /** The running containers `c` links to, each with its address on a network they share (else its first). */
  linked(c: ContainerRecord): LinkedContainer[] {
    const mine = new Set(this.networks.endpointsOf(c.id).map((e) => e.networkId));
    return resolveLinks(c, (ref) => this.containers.get(ref), (t) => {
      const eps = this.networks.endpointsOf(t.id).filter((e) => e.ip);
      return (eps.find((e) => mine.has(e.networkId)) ?? eps[0])?.ip ?? '';
    });
  }

  /** Exit/stop: tear the endpoints down, free host ports, remove the netns. Safe to call more than once. */
  async leave(id: string): Promise<void> {
    await this.networks.teardown(id);
    await this.networks.removeNetns(this.networks.netns.pathFor(id));
  }

  /** Removal: drop endpoints and address leases. */
  release(id: string): Promise<void> {
    return this.networks.releaseEndpoints(id);
  }

  /** `NetworkSettings` of inspect; the top-level address fields come from the default bridge, as in dockerd. */
  /** NetworkSettings; `index` (endpointSettingsIndex) saves a read per container in a list. */
  settings(c: ContainerRecord, index?: EndpointSettingsIndex): Record<string, unknown> {
    const running = isUp(c);
    const networks = index ? index.get(c.id) ?? {} : this.networks.endpointSettings(c.id);
    const bridge = networks.bridge as Record<string, unknown> | undefined;
    let netns: string | undefined;
    try {
      netns = running ? this.netnsOf(c) : undefined;
    } catch { /* container:<id> whose container is gone */ }
    const mode = networkModeOf(c.hostConfig);
    const publishes = running && mode !== 'host' && mode !== 'none' && !mode.startsWith('container:');
    return {
      Bridge: '', SandboxID: running ? c.id : '', SandboxKey: netns ?? '',
      Ports: publishes ? portsView(c.config, c.hostConfig, this.networks.portBindings(c.id)) : {},
      HairpinMode: false, LinkLocalIPv6Address: '', LinkLocalIPv6PrefixLen: 0, SecondaryIPAddresses: null, SecondaryIPv6Addresses: null,
      EndpointID: bridge?.EndpointID ?? '', Gateway: bridge?.Gateway ?? '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      IPAddress: bridge?.IPAddress ?? '', IPPrefixLen: bridge?.IPPrefixLen ?? 0, IPv6Gateway: '', MacAddress: bridge?.MacAddress ?? '',
      Networks: networks,
    };
  }

  endpointSettingsIndex(): EndpointSettingsIndex {
    return this.networks.endpointSettingsByContainer();
  }

  /** What network connect/disconnect need (NetworkService.setContainerHooks). */
  hooks(): ContainerNetworkHooks {
    return {
      resolve: async (ref) => {
        const c = this.containers.get(ref);
        const running = isUp(c);
        return { id: c.id, name: c.name, running, netnsPath: running ? this.netnsOf(c) : undefined, networkMode: networkModeOf(c.hostConfig) };
      },
      changed: async (id) => {
        const c = this.containers.get(id);
        if (isUp(c) && !networkModeOf(c.hostConfig).startsWith('container:') && networkModeOf(c.hostConfig) !== 'host') {
          await this.writeEtcFiles(c).catch((e) => this.log.warn('could not rewrite /etc files', { id, error: (e as Error).message }));
        }
      },
    };
  }
}

/** NetworkSettings.Networks of every container, by container id. */
export type EndpointSettingsIndex = Map<string, Record<string, Record<string, unknown>>>;
