/**
 * berth's own host-side fixes around netavark 1.4 (see shared/notes/network.md, pitfalls 1, 3, 4):
 *  - a filter chain BERTH-FORWARD, jumped to from FORWARD, accepting DNATed connections to berth subnets, so a
 *    FORWARD policy DROP (dockerd's) does not block published ports reached from other hosts;
 *  - hairpin mode on the container's host veth, so a container reaches its own published port;
 *  - a pinned bridge MAC, so the gateway MAC does not flip as ports come and go (stale ARP for ~30 s).
 * Only berth's chain is ever changed here; netavark's and docker's chains are left alone.
 */
import { mkdir, readFile, readdir, writeFile } from 'node:fs/promises';
import * as path from 'node:path';
import type { Logger } from '../util/logger';
import { runTool } from './exec';

export const BERTH_CHAIN = 'BERTH-FORWARD';

const RULE = '-d "$S" -m conntrack --ctstate DNAT -m comment --comment berth -j ACCEPT';

const ALLOW_SCRIPT = `
C="$1"; S="$2"
iptables -w -t filter -N "$C" 2>/dev/null
iptables -w -t filter -C FORWARD -j "$C" 2>/dev/null || iptables -w -t filter -I FORWARD 1 -j "$C" || exit 1
iptables -w -t filter -C "$C" ${RULE} 2>/dev/null || iptables -w -t filter -A "$C" ${RULE}
`;

// The loops are bounded: a rule added twice by a crashed run is removed, nothing can spin forever.
const FORGET_SCRIPT = `
C="$1"; S="$2"
for i in 1 2 3 4 5 6 7 8; do iptables -w -t filter -D "$C" ${RULE} 2>/dev/null || break; done
if [ "$(iptables -w -t filter -S "$C" 2>/dev/null | wc -l)" = 1 ]; then
  for i in 1 2 3 4 5 6 7 8; do iptables -w -t filter -D FORWARD -j "$C" 2>/dev/null || break; done
  iptables -w -t filter -X "$C"
fi
exit 0
`;

export interface FirewallDeps {
  lockFile: string;
  chain?: string;
  log: Logger;
}

export class BerthFirewall {
  readonly chain: string;

  constructor(private readonly d: FirewallDeps) {
    this.chain = d.chain ?? BERTH_CHAIN;
  }

  private async script(text: string, subnet: string): Promise<void> {
    await mkdir(path.dirname(this.d.lockFile), { recursive: true });
    const r = await runTool('/usr/bin/flock', ['-o', this.d.lockFile, '/bin/sh', '-c', text, 'berth-fw', this.chain, subnet]);
    if (r.code !== 0) this.d.log.warn('berth firewall rule failed', { subnet, error: r.stderr.trim() });
  }

  /** Accept new connections DNATed to `subnet` (published ports). Idempotent. */
  allowPublished(subnet: string): Promise<void> {
    return this.script(ALLOW_SCRIPT, subnet);
  }

  /** Remove the subnet's rule; the chain and its jump go when the chain is empty. */
  forget(subnet: string): Promise<void> {
    return this.script(FORGET_SCRIPT, subnet);
  }

  /** Rules of berth's chain, as `iptables -S` prints them (tests and diagnostics). */
  async rules(): Promise<string[]> {
    const r = await runTool('iptables', ['-w', '-t', 'filter', '-S', this.chain]);
    return r.code === 0 ? r.stdout.split('\n').filter(Boolean) : [];
  }

  /** Turn hairpin mode on for the host end of the veth whose container end is `ifname` in `netnsPath`. */
  async hairpinOn(netnsPath: string, ifname: string): Promise<void> {
    const host = await hostPeerOf(netnsPath, ifname);
    if (!host) {
      this.d.log.warn('no host veth found for hairpin', { netns: netnsPath, ifname });
      return;
    }
    try {
      await writeFile(`/sys/class/net/${host}/brport/hairpin_mode`, '1');
    } catch (err) {
      this.d.log.warn('hairpin mode not set', { veth: host, error: (err as Error).message });
    }
  }

  /** Give `bridge` a fixed MAC once (addr_assign_type 3 = set by user), so the kernel stops recomputing it. */
  async pinBridgeMac(bridge: string, mac: string): Promise<void> {
    let type = '';
    try {
      type = (await readFile(`/sys/class/net/${bridge}/addr_assign_type`, 'utf8')).trim();
    } catch {
      return;
    }
    if (type === '3') return;
    const r = await runTool('ip', ['link', 'set', 'dev', bridge, 'address', mac]);
    if (r.code !== 0) this.d.log.warn('bridge MAC not pinned', { bridge, error: r.stderr.trim() });
  }
}

/** The host-side name of the veth peer of `ifname` inside `netnsPath` (its `@ifN` index), if any. */
export async function hostPeerOf(netnsPath: string, ifname: string): Promise<string | undefined> {
  const r = await runTool('nsenter', [`--net=${netnsPath}`, 'ip', '-o', 'link', 'show', 'dev', ifname]);
  const m = /@if(\d+):/.exec(r.stdout);
  if (!m) return undefined;
  for (const name of await readdir('/sys/class/net')) {
    try {
      if ((await readFile(`/sys/class/net/${name}/ifindex`, 'utf8')).trim() === m[1]) return name;
    } catch { /* interface vanished while listing */ }
  }
  return undefined;
}

/** 02:42 + the four IPv4 bytes: Docker's classic scheme, stable across re-setup so peers' ARP stays valid. */
export function macFromIPv4(ip: string): string {
  return ['02', '42', ...ip.split('.').map((b) => Number(b).toString(16).padStart(2, '0'))].join(':');
}
