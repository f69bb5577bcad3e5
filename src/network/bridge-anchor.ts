/**
 * Bridges that live as long as their network while berthd runs (as docker0 and br-* do under dockerd), not
 * as long as their last container. netavark 1.4 deletes a bridge, with the network's chains, when the last
 * container interface leaves it, and builds everything again for the next container: about 200 ms of each
 * `run --rm` on an otherwise idle network. An inert interface enslaved to the bridge (the anchor) keeps it.
 * Releasing a network deletes the anchor and runs one teardown for a stand-in container on a throwaway
 * netns; finding the bridge empty, netavark then removes the bridge and the network's chains itself.
 */
import { createHash } from 'node:crypto';
import { access, readlink } from 'node:fs/promises';
import * as path from 'node:path';
import { newId } from '../util/ids';
import type { Logger } from '../util/logger';
import { runTool } from './exec';
import { cidrSize, formatIPv4, parseCidr } from './ipam';
import type { Netavark, NetavarkNetwork, NetavarkOptions } from './netavark';
import type { NetnsDir } from './netns';
import type { NetworkRecord } from './store';

/** `bk` + 12 hex of the network ID: unique, and within the 15-character limit of interface names. */
export function anchorName(n: NetworkRecord): string {
  return `bk${n.id.slice(0, 12)}`;
}

const exists = (p: string) => access(p).then(() => true, () => false);

export interface BridgeAnchorDeps {
  netavark: Netavark;
  netns: NetnsDir;
  log: Logger;
}

export class BridgeAnchors {
  constructor(private readonly d: BridgeAnchorDeps) {}

  /**
   * After a setup on `n`: make sure its bridge holds the anchor. Under the netavark mutex, so it never
   * interleaves with a teardown that could be deleting the bridge.
   */
  keep(n: NetworkRecord): Promise<void> {
    const name = anchorName(n);
    return this.d.netavark.exclusive(async () => {
      const master = await readlink(`/sys/class/net/${name}/master`).then((p) => path.basename(p), () => '');
      if (master === n.bridge) return;
      if (!(await exists(`/sys/class/net/${n.bridge}`))) return;
      if (!(await exists(`/sys/class/net/${name}`))) {
        // dummy is not built into every kernel (this one has no modules); ifb, as a down port, is as inert
        let add = await runTool('ip', ['link', 'add', name, 'type', 'dummy']);
        if (add.code !== 0) add = await runTool('ip', ['link', 'add', name, 'type', 'ifb']);
        if (add.code !== 0) {
          this.d.log.warn('bridge anchor not created', { bridge: n.bridge, error: add.stderr.trim() });
          return;
        }
      }
      // left down: a disabled bridge port that forwards nothing, only counted by netavark's "bridge empty?" check
      const set = await runTool('ip', ['link', 'set', 'dev', name, 'master', n.bridge]);
      if (set.code !== 0) this.d.log.warn('bridge anchor not attached', { bridge: n.bridge, error: set.stderr.trim() });
    });
  }

  /** Whether `n`'s bridge or anchor is present on the host. */
  async present(n: NetworkRecord): Promise<boolean> {
    return (await exists(`/sys/class/net/${anchorName(n)}`)) || (!!n.bridge && (await exists(`/sys/class/net/${n.bridge}`)));
  }

  /** Undo `keep` and have netavark delete the bridge and chains of `n`. No endpoint of `n` may be set up. */
  async release(n: NetworkRecord, info: NetavarkNetwork): Promise<void> {
    const name = anchorName(n);
    await this.d.netavark.exclusive(async () => {
      if (await exists(`/sys/class/net/${name}`)) await runTool('ip', ['link', 'del', 'dev', name]);
    });
    if (!n.subnet || !(await exists(`/sys/class/net/${n.bridge}`))) return;
    const subnet = parseCidr(n.subnet);
    const standIn = formatIPv4(subnet.base + cidrSize(subnet) - 2);
    const options: NetavarkOptions = {
      container_id: newId(),
      container_name: 'berth-network-release',
      networks: { [n.name]: { interface_name: 'eth0', static_ips: [standIn], aliases: [], static_mac: '02:42:00:00:00:00' } },
      network_info: { [n.name]: info },
    };
    // netavark reports the stand-in's missing veth/DNS entry as an error after doing the rest of the teardown
    await this.d.netns.withThrowaway((file) => this.d.netavark.teardown(file, options).catch((err: Error) => {
      this.d.log.debug('network release teardown reported', { network: n.name, error: err.message });
    }), ['eth0']);
    // The stand-in published no port, so netavark leaves the network's port-forward chain, empty, behind.
    // The kernel refuses to delete a chain that holds rules or is jumped to, so another daemon's network of
    // the same name (netavark names the chain after the name) keeps a chain it still uses.
    await this.d.netavark.exclusive(() => runTool('iptables', ['-t', 'nat', '-X', portForwardChain(n.name)]));
  }
}

/** netavark's port-forward (DNAT) chain of a network: `NETAVARK-DN-` + the first 13 hex of SHA-512(name). */
export function portForwardChain(networkName: string): string {
  return `NETAVARK-DN-${createHash('sha512').update(networkName).digest('hex').slice(0, 13).toUpperCase()}`;
}
