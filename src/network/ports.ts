/**
 * Host port leases for published ports (`-p`). netavark neither reserves ports nor notices duplicates (a
 * duplicate even breaks the first container's rules), so the engine owns this: a `port_leases` row per
 * (protocol, host address, port), a wildcard address overlapping every address, and a real bind() on the
 * host to detect ports held by other programs.
 */
import * as dgram from 'node:dgram';
import { readFile } from 'node:fs/promises';
import * as net from 'node:net';
import { conflict, invalidArgument } from '../errors';
import type { Db } from '../store/db';
import { isIPv4 } from './ipam';

export type PortProtocol = 'tcp' | 'udp' | 'sctp';

export interface PortRequest {
  /** "" or "0.0.0.0" = every address */
  hostIp: string;
  /** 0 = pick a free port from the ephemeral range */
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

export interface PortBinding {
  /** "" = every address */
  hostIp: string;
  hostPort: number;
  containerPort: number;
  protocol: PortProtocol;
}

/** Whether the host lets us bind `port` right now (then releases it at once). sctp is not probed. */
export function hostPortFree(hostIp: string, port: number, protocol: PortProtocol): Promise<boolean> {
  const host = hostIp || '0.0.0.0';
  if (protocol === 'udp') {
    return new Promise((resolve) => {
      const s = dgram.createSocket('udp4');
      s.once('error', () => { s.close(); resolve(false); });
      s.bind({ address: host, port, exclusive: true }, () => s.close(() => resolve(true)));
    });
  }
  if (protocol === 'sctp') return Promise.resolve(true);
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen({ host, port, exclusive: true }, () => srv.close(() => resolve(true)));
  });
}

async function ephemeralRange(): Promise<[number, number]> {
  try {
    const [lo, hi] = (await readFile('/proc/sys/net/ipv4/ip_local_port_range', 'utf8')).trim().split(/\s+/).map(Number);
    if (lo > 0 && hi >= lo) return [lo, hi];
  } catch { /* not Linux */ }
  return [32768, 60999];
}

interface LeaseRow { protocol: string; host_ip: string; host_port: number; container_id: string; container_port: number }

export class PortLeases {
  private cursor = 0;

  constructor(private readonly db: Db) {}

  private taken(protocol: string, hostIp: string, port: number, rows?: LeaseRow[]): boolean {
    const list = rows ?? (this.db.prepare('SELECT * FROM port_leases WHERE protocol = ? AND host_port = ?').all(protocol, port) as LeaseRow[]);
    return list.some((r) => r.protocol === protocol && r.host_port === port && (r.host_ip === '' || hostIp === '' || r.host_ip === hostIp));
  }

  /**
   * Lease every requested port for `containerId`, all or nothing. IPv6 host addresses are skipped (bridge
   * networks here are IPv4 only). Conflicts read like dockerd's "port is already allocated".
   */
  async allocate(containerId: string, requests: PortRequest[]): Promise<PortBinding[]> {
    const chosen: PortBinding[] = [];
    for (const req of requests) {
      if (req.hostIp.includes(':')) continue;
      const hostIp = req.hostIp === '0.0.0.0' ? '' : req.hostIp;
      if (hostIp && !isIPv4(hostIp)) throw invalidArgument(`invalid IP address: ${req.hostIp}`);
      if (req.containerPort < 1 || req.containerPort > 65535) throw invalidArgument(`invalid containerPort: ${req.containerPort}`);
      if (req.hostPort < 0 || req.hostPort > 65535) throw invalidArgument(`invalid hostPort: ${req.hostPort}`);
      const clash = (port: number) => this.taken(req.protocol, hostIp, port) ||
        chosen.some((c) => c.protocol === req.protocol && c.hostPort === port && (c.hostIp === '' || hostIp === '' || c.hostIp === hostIp));
      let port = req.hostPort;
      if (port !== 0) {
        if (clash(port) || !(await hostPortFree(hostIp, port, req.protocol))) {
          throw conflict(`Bind for ${hostIp || '0.0.0.0'}:${port} failed: port is already allocated`);
        }
      } else {
        const [lo, hi] = await ephemeralRange();
        const span = hi - lo + 1;
        for (let i = 0; i < span && port === 0; i++) {
          const candidate = lo + ((this.cursor + i) % span);
          if (!clash(candidate) && (await hostPortFree(hostIp, candidate, req.protocol))) {
            port = candidate;
            this.cursor = (candidate - lo + 1) % span;
          }
        }
        if (port === 0) throw conflict(`no free host port for ${req.containerPort}/${req.protocol}`);
      }
      chosen.push({ hostIp, hostPort: port, containerPort: req.containerPort, protocol: req.protocol });
    }
    this.db.transaction(() => {
      const insert = this.db.prepare('INSERT INTO port_leases (protocol, host_ip, host_port, container_id, container_port) VALUES (?, ?, ?, ?, ?)');
      for (const c of chosen) {
        if (this.taken(c.protocol, c.hostIp, c.hostPort)) throw conflict(`Bind for ${c.hostIp || '0.0.0.0'}:${c.hostPort} failed: port is already allocated`);
        insert.run(c.protocol, c.hostIp, c.hostPort, containerId, c.containerPort);
      }
    })();
    return chosen;
  }

  release(containerId: string): void {
    this.db.prepare('DELETE FROM port_leases WHERE container_id = ?').run(containerId);
  }

  of(containerId: string): PortBinding[] {
    return (this.db.prepare('SELECT * FROM port_leases WHERE container_id = ? ORDER BY host_port').all(containerId) as LeaseRow[])
      .map((r) => ({ hostIp: r.host_ip, hostPort: r.host_port, containerPort: r.container_port, protocol: r.protocol as PortProtocol }));
  }
}
