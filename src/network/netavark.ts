/**
 * Calls to netavark 1.4 (Podman's network backend). One JSON document on stdin describes the container, the
 * per-network options (our IPAM's address, aliases, MAC) and each network's full definition. Calls are
 * serialized by an in-process mutex and, across processes, by flock(1) on a host-wide lock file: parallel
 * netavark runs corrupt iptables state ("Chain already exists", orphan isolation rules).
 */
import { mkdir } from 'node:fs/promises';
import * as path from 'node:path';
import { internal } from '../errors';
import type { Logger } from '../util/logger';
import { Mutex, runTool } from './exec';

export interface NetavarkSubnet {
  subnet: string;
  gateway: string;
}

/** `network_info` entry: identical for every container of the network (netavark leaks rules otherwise). */
export interface NetavarkNetwork {
  name: string;
  id: string;
  driver: 'bridge';
  network_interface: string;
  subnets: NetavarkSubnet[];
  ipv6_enabled: boolean;
  internal: boolean;
  dns_enabled: boolean;
  options: Record<string, string>;
}

export interface NetavarkPerNetwork {
  interface_name: string;
  static_ips: string[];
  aliases: string[];
  static_mac: string;
}

export interface NetavarkPort {
  /** "" for all addresses: netavark 1.4 writes rules for "0.0.0.0" that never match */
  host_ip: string;
  container_port: number;
  host_port: number;
  protocol: 'tcp' | 'udp' | 'sctp';
  range: number;
}

export interface NetavarkOptions {
  container_id: string;
  container_name: string;
  networks: Record<string, NetavarkPerNetwork>;
  network_info: Record<string, NetavarkNetwork>;
  port_mappings?: NetavarkPort[];
  dns_servers?: string[];
}

/** What `setup` prints: per network, DNS servers and the container interfaces with their addresses. */
export type NetavarkStatus = Record<string, {
  dns_search_domains?: string[];
  dns_server_ips?: string[];
  interfaces?: Record<string, { mac_address: string; subnets?: { ipnet: string; gateway?: string }[] }>;
}>;

export class NetavarkError extends Error {
  constructor(readonly command: string, message: string) {
    super(message);
  }
}

export interface NetavarkDeps {
  /** `--config` directory; on tmpfs (exec-root), rebuilt from the database after a reboot */
  configDir: string;
  binary?: string;
  aardvarkBinary?: string;
  /** host-wide lock shared by every berthd (and the firewall code) */
  lockFile?: string;
  log: Logger;
}

export const DEFAULT_LOCK_FILE = '/run/lock/berth-netavark.lock';

export class Netavark {
  private readonly mutex = new Mutex();
  private readonly binary: string;
  private readonly aardvark: string;
  readonly lockFile: string;

  constructor(private readonly d: NetavarkDeps) {
    this.binary = d.binary ?? '/usr/lib/podman/netavark';
    this.aardvark = d.aardvarkBinary ?? '/usr/lib/podman/aardvark-dns';
    this.lockFile = d.lockFile ?? DEFAULT_LOCK_FILE;
  }

  get configDir(): string {
    return this.d.configDir;
  }

  setup(netnsPath: string, options: NetavarkOptions): Promise<NetavarkStatus> {
    return this.call('setup', netnsPath, options) as Promise<NetavarkStatus>;
  }

  async teardown(netnsPath: string, options: NetavarkOptions): Promise<void> {
    await this.call('teardown', netnsPath, options);
  }

  /** Run `fn` while holding the host-wide network lock (for iptables changes made outside netavark). */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    return this.mutex.run(fn);
  }

  private call(command: 'setup' | 'teardown', netnsPath: string, options: NetavarkOptions): Promise<unknown> {
    return this.mutex.run(async () => {
      await mkdir(this.d.configDir, { recursive: true, mode: 0o700 });
      await mkdir(path.dirname(this.lockFile), { recursive: true });
      // -o: the lock fd must not leak into the aardvark-dns daemon netavark starts, or the lock is held forever
      const args = ['-o', this.lockFile, this.binary, '--config', this.d.configDir, '--aardvark-binary', this.aardvark, command, netnsPath];
      const started = Date.now();
      const r = await runTool('/usr/bin/flock', args, {
        stdin: JSON.stringify(options),
        env: { NETAVARK_FW: 'iptables', RUST_LOG: 'warn' },
        timeoutMs: 60_000,
      });
      this.d.log.debug('netavark', { command, container: options.container_id.slice(0, 12), code: r.code, ms: Date.now() - started });
      if (r.code === 0) return r.stdout.trim() ? JSON.parse(r.stdout) : {};
      let message = r.stderr.trim() || `exit code ${r.code}`;
      try {
        const parsed = JSON.parse(r.stdout) as { error?: string };
        if (parsed.error) message = parsed.error;
      } catch { /* not JSON: keep stderr */ }
      throw new NetavarkError(command, `netavark ${command}: ${message}`);
    });
  }
}

/** Turn a NetavarkError into the engine's error taxonomy for API callers. */
export function networkFailure(err: unknown): Error {
  if (err instanceof NetavarkError) return internal(`failed to set up container networking: ${err.message}`);
  return err as Error;
}
